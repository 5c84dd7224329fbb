#!/usr/bin/python3
"""One run of the peers benchmark, inside the VM (benchmarks/peers.py copies and calls it).

    leak_once.py --rate MIB_PER_S [--register none|grace|early]

Starts the benchmark's data logger (oomgs-bench-logger.service: the sample data logger in the
applications' memory-limited slice, MemoryMax=64M, no restart), registers it with the module when
asked (handler: bench-handler), lets it take readings for a while, makes it leak RATE MiB/s (0: as
fast as it can) and watches until it is gone (or TIMEOUT_S). Prints one JSON object: who killed it,
whether a handler ran while it was alive, how many unflushed bytes a handler saved to disk, the
time from the cgroup's first memory.events `high` or `max` to the first handler start, the
longest gap between the logger's readings while it leaked (its own latency) and the longest
overshoot of a 10 ms sleep outside its cgroup (the machine's latency) meanwhile.
"""
import argparse
import glob
import json
import os
import select
import subprocess
import threading
import time

UNIT = "oomgs-bench-logger.service"
BENCH = "/usr/local/lib/oomgs-bench"
RECORDS = "/var/lib/oomgs-bench"
BUFFER = "/dev/shm/data-logger/buffer"
RESCUED = "/var/lib/data-logger/rescued-*-pid{pid}.log"
SETTLE_S = 2.0
TIMEOUT_S = 60.0
HANDLERS_WAIT_S = 8.0
HOOK_START_S = 1.5


def systemctl(*args: str) -> str:
    return subprocess.run(["systemctl", *args], check=True, capture_output=True, text=True).stdout.strip()


def parse_events(text: str) -> dict[str, int]:
    """memory.events as {"high": N, "max": N, "oom_kill": N, ...}."""
    return {key: int(value) for key, value in (line.split() for line in text.splitlines())}


def memory_events(path: str) -> dict[str, int]:
    with open(path) as f:
        return parse_events(f.read())


class EventWatch(threading.Thread):
    """Notes the time of the first rise of memory.events high or max (POLLPRI, no polling loop)."""

    def __init__(self, path: str):
        super().__init__(daemon=True)
        self.path, self.first, self.stop = path, None, False
        self.base = memory_events(path)

    def run(self):
        with open(self.path) as f:
            poller = select.poll()
            poller.register(f, select.POLLPRI)
            while not self.stop and self.first is None:
                if poller.poll(100):
                    f.seek(0)
                    now = time.time()
                    events = parse_events(f.read())
                    if events["high"] > self.base["high"] or events["max"] > self.base["max"]:
                        self.first = now


class SleepLatency(threading.Thread):
    """The longest overshoot of a 10 ms sleep (ms), in this process's cgroup (not the logger's)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.worst, self.stop = 0.0, False

    def run(self):
        while not self.stop:
            start = time.monotonic()
            time.sleep(0.01)
            self.worst = max(self.worst, (time.monotonic() - start - 0.01) * 1000)


def readings_after(since_wall: float, pid: int) -> list[float]:
    """Wall-clock times of the logger's readings from since_wall on (buffer and rescued copies)."""
    times = []
    for path in [BUFFER, *glob.glob(RESCUED.format(pid=pid))]:
        try:
            with open(path) as f:
                times += [float(line.split()[0]) for line in f if line[:1].isdigit()]
        except FileNotFoundError:
            pass
    return sorted(t for t in times if t >= since_wall - 1)


def handler_records() -> list[dict[str, str]]:
    records = []
    for path in glob.glob(f"{RECORDS}/handler-*.rec"):
        with open(path) as f:
            records.append(dict(line.strip().split("=", 1) for line in f if "=" in line))
    return records


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--register", choices=("none", "grace", "early"), default="none")
    args = parser.parse_args()

    subprocess.run(["systemctl", "stop", UNIT], check=False)
    subprocess.run(["systemctl", "reset-failed", UNIT], check=False, capture_output=True)
    for path in [BUFFER, *glob.glob(f"{RECORDS}/handler-*"), *glob.glob(RESCUED.format(pid="*"))]:
        if os.path.exists(path):
            os.unlink(path)
    os.makedirs("/run/oomgs-bench", exist_ok=True)
    with open("/run/oomgs-bench/logger.env", "w") as f:
        f.write(f"DATA_LOGGER_LEAK_MIB_PER_S={args.rate:g}\n")
    systemctl("start", UNIT)
    pid = int(systemctl("show", "-p", "MainPID", "--value", UNIT))
    with open(f"/proc/{pid}/cgroup") as f:
        cgroup = "/sys/fs/cgroup" + f.read().strip().split("::", 1)[1]
    if args.register != "none":
        options = "timeout_ms=3000" + (" early=90 then=kill" if args.register == "early" else "")
        with open("/proc/graceful_shutdown", "w") as f:
            f.write(f"{pid} {BENCH}/bench-handler {options}\n")
    if args.register == "early":
        deadline = time.monotonic() + 10
        while open(f"{cgroup}/memory.high").read().strip() == "max":
            if time.monotonic() > deadline:
                raise SystemExit(f"the runner did not arm memory.high of {cgroup}")
            time.sleep(0.05)
    time.sleep(SETTLE_S)

    pidfd = os.pidfd_open(pid)
    watch, latency = EventWatch(f"{cgroup}/memory.events"), SleepLatency()
    watch.start()
    latency.start()
    # The logger's cgroup goes with it: count OOM kills in its parent (the counts are hierarchical).
    parent_events = os.path.dirname(cgroup) + "/memory.events"
    oom_kills_before = memory_events(parent_events)["oom_kill"]
    leak_wall = time.time()
    os.kill(pid, 10)  # SIGUSR1: start leaking
    died = bool(select.select([pidfd], [], [], TIMEOUT_S)[0])
    death_wall = time.time()
    latency.stop = watch.stop = True
    oom_killed = memory_events(parent_events)["oom_kill"] > oom_kills_before if died else False

    # A hook run after the kill (earlyoom's -N) starts within a moment; a started handler may
    # still be saving.
    waited = time.monotonic()
    records = handler_records()
    while time.monotonic() - waited < HANDLERS_WAIT_S:
        if records and all(r.get("done") == "yes" for r in records):
            break
        if not records and time.monotonic() - waited > HOOK_START_S:
            break
        time.sleep(0.2)
        records = handler_records()
    if not died:
        subprocess.run(["systemctl", "kill", "-s", "KILL", UNIT], check=False)
    status = systemctl("show", "-p", "ExecMainStatus", "--value", UNIT)
    readings = readings_after(leak_wall, pid)
    gaps = [b - a for a, b in zip([leak_wall, *readings], [*readings, death_wall])]
    rescued = sum(os.path.getsize(p) for p in glob.glob(RESCUED.format(pid=pid)))
    left = os.path.getsize(BUFFER) if os.path.exists(BUFFER) else 0
    starts = sorted(float(r["started"]) for r in records)
    print(json.dumps({
        "died": died,
        "killed_by": ("kernel" if oom_killed else f"signal {status}") if died else "survived",
        "handler_before_kill": any(r.get("alive") == "yes" for r in records),
        "handlers": sorted(r.get("by", "?") for r in records),
        "saved_bytes": rescued,
        "unflushed_bytes": rescued + left,
        "event_to_handler_ms": round((starts[0] - watch.first) * 1000, 1) if starts and watch.first else None,
        "leak_to_death_ms": round((death_wall - leak_wall) * 1000, 1),
        "victim_max_gap_ms": round(max(gaps) * 1000, 1),
        "machine_max_latency_ms": round(latency.worst, 1),
    }))


if __name__ == "__main__":
    main()
