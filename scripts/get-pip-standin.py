"""Stand-in for get-pip.py, the pip bootstrap script ansible-test downloads from
ci-files.testing.ansible.com (not reachable from these machines).

ansible-test runs it inside a new virtualenv as
    python get_pip_X_Y.py --disable-pip-version-check pip==X.Y --no-setuptools --no-wheel
It installs pip from the interpreter's own ensurepip, then the pip version asked for, from PyPI.
scripts/collection-gates puts it where ansible-test looks: ~/.ansible/test/cache/get_pip_X_Y.py.
"""

import subprocess
import sys

if __name__ == "__main__":
    wanted = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "--upgrade", *wanted])
