import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "testbed"))

from fixtures import console, vm_state  # noqa: E402,F401  (shared pytest fixtures)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(items):
    """One xdist group per device: with `-n 2 --dist loadgroup` (molecule.yml) each sensor's
    checks run in their own worker, in their usual order, both sensors at the same time.
    It also groups the runtime checks (molecule/runtime/tests), which this scenario runs too."""
    for item in items:
        host = getattr(item, "callspec", None) and item.callspec.params.get("_testinfra_host")
        if host is not None:
            item.add_marker(pytest.mark.xdist_group(host.backend.get_hostname()))
