"""Read what a test VM's kernel printed on its serial console."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

# "Memory cgroup out of memory: Killed process 1234 (hog) total-vm:..."  (memcg OOM)
# "Out of memory: Killed process 1234 (hog) total-vm:..."                (global OOM)
OOM_KILL = re.compile(
    r"(?P<kind>Memory cgroup out of memory|Out of memory): Killed process (?P<pid>\d+) \((?P<comm>[^)]*)\)"
)
# "Memory cgroup out of memory: grace period of 3000 ms for process 1234 (hog)"  (patched kernels)
GRACE = re.compile(r"grace period of (?P<ms>\d+) ms for process (?P<pid>\d+) \((?P<comm>[^)]*)\)")
TIMESTAMP = re.compile(r"^\[\s*(?P<seconds>\d+\.\d+)\]")
PROBLEM = re.compile(r"(Oops:|BUG:|WARNING:|Kernel panic|soft lockup|hung_task|blocked for more than|"
                     r"possible circular locking|INFO: task .* blocked)")


@dataclass(frozen=True)
class OomKill:
    kind: str  # "memcg" or "global"
    pid: int
    comm: str
    line: str
    time: float | None = None  # seconds since boot, from the kernel's line prefix


@dataclass(frozen=True)
class Grace:
    pid: int
    comm: str
    ms: int
    line: str
    time: float | None = None


def timestamp(line: str) -> float | None:
    match = TIMESTAMP.search(line.strip())
    return float(match["seconds"]) if match else None


def oom_kills(text: str) -> list[OomKill]:
    kills = []
    for line in text.splitlines():
        match = OOM_KILL.search(line)
        if match:
            kind = "memcg" if match["kind"].startswith("Memory cgroup") else "global"
            kills.append(OomKill(kind, int(match["pid"]), match["comm"], line.strip(), timestamp(line)))
    return kills


def graces(text: str) -> list[Grace]:
    """Grace periods the patched kernel granted to OOM victims."""
    found = []
    for line in text.splitlines():
        match = GRACE.search(line)
        if match:
            found.append(Grace(int(match["pid"]), match["comm"], int(match["ms"]), line.strip(), timestamp(line)))
    return found


def kernel_problems(text: str) -> list[str]:
    """Lines that show the kernel in trouble: oopses, BUG/WARNING, lockups, hung tasks."""
    return [line.strip() for line in text.splitlines() if PROBLEM.search(line)]


def read(path: Path | str, since: int = 0) -> str:
    with open(path, "rb") as log:
        log.seek(since)
        return log.read().decode("utf-8", errors="replace")


def wait_for_oom_kill(path: Path | str, pid: int, since: int = 0, timeout: float = 30) -> OomKill | None:
    """Wait until the console log, from byte offset since on, reports the OOM kill of pid."""
    deadline = time.monotonic() + timeout
    while True:
        for kill in oom_kills(read(path, since)):
            if kill.pid == pid:
                return kill
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.5)
