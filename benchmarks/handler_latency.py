#!/usr/bin/env python3
"""Benchmark: how much later does a handler finish when it runs in the OOM path?

The original prototype's table, measured on this system: for each handler
(tiny, write to file, read and write, shared memory read), TRIALS memcg OOMs of
a registered memory hog inside a test VM that runs the patched kernel, the
module and the runner (e.g. the `runtime` scenario's VM after `molecule
converge -s runtime`). For every OOM the runner logs the time from "victim
chosen" (kernel timestamp in the event) to "handler exited"; the same handler
is then run standalone (fork, exec, wait) in the VM. The ratio of the means is
the prototype's ratio. Also prints the runner's resident memory.

    benchmarks/handler_latency.py [--vm runtime-vm] [--trials 10]

A benchmark, not a test: it prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "testbed"))

import vm  # noqa: E402

BENCH_DIR = "/usr/local/lib/oomgs-bench"
HANDLERS = {
    "tiny (returns 100)": "#!/bin/sh\nexit 100\n",
    "write to file": '#!/bin/sh\necho "victim $OOMGS_VICTIM_PID $OOMGS_VICTIM_COMM" > /var/lib/oomgs-bench/out\n',
    "read and write": ('#!/bin/sh\ncat "/proc/${OOMGS_VICTIM_PID:-self}/status" > /var/lib/oomgs-bench/out'
                       ' 2>/dev/null || true\n'),
    "shared memory read": "#!/bin/sh\ncat /dev/shm/oomgs-bench-state > /var/lib/oomgs-bench/out\n",
}
PROTOTYPE = {  # mean in the OOM path, standalone, ratio (5.4.1, 6 cores, in-kernel ktime)
    "tiny (returns 100)": ("2.92 ms", "0.6 ms", "4.9x"),
    "write to file": ("3.29 ms", "1.3 ms", "2.5x"),
    "read and write": ("2.78 ms", "1.1 ms", "2.5x"),
    "shared memory read": ("2.87 ms", "2.8 ms", "1.0x"),
}
RUNNER_LINE = re.compile(r"event (\d+): handler (\S+) .*; ran ([\d.]+) ms; victim chosen to handler end (-?\d+) ms")
STANDALONE = """
import subprocess, sys, time
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    subprocess.run([sys.argv[1]], env={"OOMGS_VICTIM_PID": "1", "OOMGS_VICTIM_COMM": "bench"})
    times.append((time.perf_counter() - start) * 1000)
print(" ".join(f"{t:.3f}" for t in times))
"""


def sh(name: str, command: str, check: bool = True) -> str:
    result = vm.ssh(name, [command], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"{command!r} failed: {result.stderr}")
    return result.stdout


def install_handlers(name: str) -> dict[str, str]:
    paths = {}
    sh(name, f"mkdir -p {BENCH_DIR} /var/lib/oomgs-bench && head -c 65536 /dev/urandom > /dev/shm/oomgs-bench-state")
    for index, (title, body) in enumerate(HANDLERS.items()):
        path = f"{BENCH_DIR}/handler-{index}"
        vm.ssh(name, [f"cat > {path} && chmod 0755 {path}"], input=body, text=True, check=True)
        paths[title] = path
    return paths


def one_oom(name: str, handler: str, trial: int) -> tuple[float, float]:
    unit = f"oomgs-bench-{trial}"
    since = int(time.time()) - 1
    pid = sh(name, f"""
        rm -f /run/{unit}.pid /run/{unit}.go; systemctl reset-failed {unit} 2>/dev/null
        systemd-run --quiet --collect --unit={unit} -p MemoryMax=64M -p MemorySwapMax=0 \
            /usr/local/bin/oomgs-memhog 256 --pidfile /run/{unit}.pid --go-file /run/{unit}.go
        while [ ! -s /run/{unit}.pid ]; do sleep 0.05; done; cat /run/{unit}.pid""").strip()
    sh(name, f"echo '{pid} {handler} timeout_ms=3000' > /proc/graceful_shutdown && touch /run/{unit}.go"
             f" && while [ -e /proc/{pid} ]; do sleep 0.05; done")
    for _ in range(100):
        journal = sh(name, f"journalctl -u oomgs-runner -o cat --no-pager --since=@{since}")
        for match in RUNNER_LINE.finditer(journal):
            if match[2] == handler:
                return float(match[4]), float(match[3])
        time.sleep(0.2)
    raise SystemExit(f"no runner line for {handler} (trial {trial})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vm", default="runtime-vm", help="running test VM (testbed/vm.py name)")
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()

    print(f"kernel: {sh(args.vm, 'uname -r').strip()}, vCPUs: {sh(args.vm, 'nproc').strip()},"
          f" memcg limit 64 MiB, {args.trials} trials per handler, TCG emulation")
    paths = install_handlers(args.vm)
    rows = []
    for title, path in paths.items():
        chosen_to_end, runner_ran = zip(*(one_oom(args.vm, path, trial) for trial in range(args.trials)))
        standalone = [float(t) for t in sh(args.vm, f"python3 -c '{STANDALONE}' {path} {args.trials}").split()]
        rows.append((title, statistics.mean(chosen_to_end), statistics.mean(runner_ran), statistics.mean(standalone)))

    header = ("handler", "victim chosen -> handler exit", "handler run (runner)", "standalone", "ratio",
              "prototype (OOM path / standalone / ratio)")
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for title, oom_ms, ran_ms, alone_ms in rows:
        proto = " / ".join(PROTOTYPE[title])
        print(f"| {title} | {oom_ms:.1f} ms | {ran_ms:.1f} ms | {alone_ms:.1f} ms | {oom_ms / alone_ms:.1f}x | {proto} |")
    rss = sh(args.vm, "grep -E 'VmRSS|VmLck' /proc/$(systemctl show -p MainPID --value oomgs-runner)/status")
    print("\noomgs-runner: " + ", ".join(line.replace("\t", " ").strip() for line in rss.splitlines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
