"""pytest fixtures shared by the testinfra suites of all Molecule scenarios.

A scenario's tests/conftest.py loads them with:

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "testbed"))
    from fixtures import console, vm_state  # noqa: F401
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import console_log
import vm


class Console:
    """The serial console log of one test VM, read from the host."""

    def __init__(self, path: Path):
        self.path = path

    def offset(self) -> int:
        """Current end of the log: pass it as since= to look only at what comes after."""
        return self.path.stat().st_size

    def text(self, since: int = 0) -> str:
        return console_log.read(self.path, since)

    def wait_for_oom_kill(self, pid: int, since: int = 0, timeout: float = 30) -> console_log.OomKill | None:
        return console_log.wait_for_oom_kill(self.path, pid, since, timeout)

    def oom_kills(self, since: int = 0) -> list[console_log.OomKill]:
        return console_log.oom_kills(self.text(since))

    def graces(self, since: int = 0) -> list[console_log.Grace]:
        return console_log.graces(self.text(since))

    def kernel_problems(self, since: int = 0) -> list[str]:
        return console_log.kernel_problems(self.text(since))


@pytest.fixture(scope="module")
def vm_state(host) -> dict:
    name = host.backend.get_hostname()
    state = vm.load_state(name)
    if not state:
        pytest.fail(f"no launcher state for instance {name} in {vm.run_dir()}")
    return state


@pytest.fixture(scope="module")
def console(vm_state) -> Console:
    return Console(Path(vm_state["console_log"]))


def env_int(name: str, default: int) -> int:
    """An integer knob a developer may set to make a check fail on purpose."""
    return int(os.environ.get(name, default))
