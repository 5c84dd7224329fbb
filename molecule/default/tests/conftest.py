import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "testbed"))

from fixtures import console, vm_state  # noqa: E402,F401  (shared pytest fixtures)


def pytest_xdist_make_scheduler(config, log):
    """With pytest-xdist (molecule.yml runs verify with -n 2): one work unit per device, so the
    checks of a device run in file order on one worker and the two devices side by side. This
    conftest serves every collected check, the runtime suite's too. (--dist loadgroup would do
    it with marks, but xdist 3.8 cannot rename test IDs on pytest 9.)"""
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerPerDevice(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            # ".../test_fleet.py::test_x[ansible://sensor-17]" -> "ansible://sensor-17"
            return nodeid.rpartition("[")[2].rstrip("]")

    return OneWorkerPerDevice(config, log)
