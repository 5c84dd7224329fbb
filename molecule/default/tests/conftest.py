import re
import sys
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "testbed"))

from fixtures import console, vm_state  # noqa: E402,F401  (shared pytest fixtures)


class OneWorkerPerDevice(LoadScopeScheduling):
    """Each device's checks go to one worker, in their order; the devices run side by side
    (`-n 2` in molecule.yml). xdist's own `loadgroup` cannot do it here: it marks a group by
    renaming the test, which pytest 9 no longer lets a plugin do."""

    def _split_scope(self, nodeid: str) -> str:
        # test_fleet.py::test_x[ansible://sensor-17] -> ansible://sensor-17 (testinfra's host id)
        host = re.search(r"\[([^\]]*)\]$", nodeid)
        return host.group(1) if host else nodeid


def pytest_xdist_make_scheduler(config, log):
    return OneWorkerPerDevice(config, log)
