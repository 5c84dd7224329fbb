import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "testbed"))

from fixtures import console, vm_state  # noqa: E402,F401  (shared pytest fixtures)
