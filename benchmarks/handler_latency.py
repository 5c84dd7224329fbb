#!/usr/bin/env python3
"""Benchmark: how much later does a handler finish when it runs in the OOM path?

The original prototype's table, measured on this system: for each handler
(tiny, write to file, read and write, shared memory read), TRIALS memcg OOMs of
a registered memory hog inside a test VM that runs the patched kernel, the
module and the runner (e.g. the `runtime` scenario's VM after `molecule
converge -s runtime`). For every OOM the runner logs the time from "victim
chosen" (kernel timestamp in the event) to "handler exited"; the same handler
is then run standalone (fork, exec, wait) in the VM. The ratio of the means is
the prototype's ratio. Also measures the victim's CPU use during a grace (how
much CPU it takes from the handler: utime+stime from /proc/PID/stat over
GRACE_SAMPLE_S seconds of a grace whose handler sleeps), how soon the kill
follows "done" and the end of an expired grace (kernel log times), and prints
the runner's resident memory.

    benchmarks/handler_latency.py [--vm runtime-vm] [--trials 10] [--cpus N] [--spawn MODE] [--json]

--cpus N restarts the VM (same disk) with N vCPUs first; --json prints one
object per handler (means, ratio) plus the victim's CPU share, for comparing
runs. --spawn both (the default) measures, side by side in this run, the two
ways the runner can start a handler: clone3() straight into its leaf cgroup
(what it does) and fork() with the child moving itself there (its fallback,
forced with OOMGS_RUNNER_SPAWN=fork in a runtime drop-in); clone3 or fork
measures one.

A benchmark, not a test: it prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
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


KERNEL_LINE = re.compile(r"^\[\s*(?P<ts>\d+\.\d+)\] .*(?:grace period of (?P<ms>\d+) ms for process"
                         r"|Killed process) (?P<pid>\d+) ", re.MULTILINE)


def kernel_times(name: str, pid: str) -> tuple[float, int, float]:
    """Kernel log times (s) of the grace of PID and of its kill, and the grace's length (ms)."""
    grace_at, grace_ms, killed_at = None, 0, None
    for _ in range(50):
        for match in KERNEL_LINE.finditer(sh(name, f"dmesg | grep -E ' {pid} '", check=False)):
            if match["pid"] != pid:
                continue
            if match["ms"]:
                grace_at, grace_ms = float(match["ts"]), int(match["ms"])
            else:
                killed_at = float(match["ts"])
        if grace_at is not None and killed_at is not None:
            return grace_at, grace_ms, killed_at
        time.sleep(0.2)
    raise SystemExit(f"no grace and kill lines for pid {pid} in the kernel log")


def one_oom(name: str, handler: str, trial: int) -> tuple[float, float, float]:
    """One OOM of a registered hog: (victim chosen -> handler exit, handler run, "done" -> kill) in ms.

    The runner sends "done" as soon as the handler exits, and its "victim chosen" is the
    grace's start: "done" -> kill is the kernel's grace-to-kill time less the runner's
    chosen-to-exit time (both clocks count from boot).
    """
    unit = f"oomgs-bench-{trial}"
    since = int(time.time()) - 1
    pid = start_hog(name, unit)
    sh(name, f"echo '{pid} {handler} timeout_ms=3000' > /proc/graceful_shutdown && touch /run/{unit}.go"
             f" && while [ -e /proc/{pid} ]; do sleep 0.05; done")
    for _ in range(100):
        journal = sh(name, f"journalctl -u oomgs-runner -o cat --no-pager --since=@{since}")
        for match in RUNNER_LINE.finditer(journal):
            if match[2] == handler:
                grace_at, _, killed_at = kernel_times(name, pid)
                chosen_to_end = float(match[4])
                return chosen_to_end, float(match[3]), (killed_at - grace_at) * 1000 - chosen_to_end
        time.sleep(0.2)
    raise SystemExit(f"no runner line for {handler} (trial {trial})")


# A handler that outlives its grace: the kill comes when the grace expires.
EXPIRING_HANDLER = "#!/bin/sh\nsleep 10\n"
EXPIRING_GRACE_MS = 1000


def grace_end_to_kill_ms(name: str, trials: int = 3) -> float:
    """Mean time from the end of an expired grace to the kill (kernel log times)."""
    handler = f"{BENCH_DIR}/handler-expiring"
    vm.ssh(name, [f"cat > {handler} && chmod 0755 {handler}"], input=EXPIRING_HANDLER, text=True, check=True)
    delays = []
    for trial in range(trials):
        unit = f"oomgs-bench-expiry-{trial}"
        pid = start_hog(name, unit)
        sh(name, f"echo '{pid} {handler} timeout_ms={EXPIRING_GRACE_MS}' > /proc/graceful_shutdown"
                 f" && touch /run/{unit}.go && while [ -e /proc/{pid} ]; do sleep 0.05; done")
        grace_at, grace_ms, killed_at = kernel_times(name, pid)
        delays.append((killed_at - grace_at) * 1000 - grace_ms)
    return statistics.mean(delays)


GRACE_SAMPLE_S = 2
# A handler that lets the grace run to its end (5 s): the victim's CPU use is sampled meanwhile.
SLOW_HANDLER = "#!/bin/sh\nsleep 10\n"
CPU_SAMPLE = r"""
pid=$1
for _ in $(seq 400); do dmesg | grep -q "grace period of [0-9]* ms for process $pid " && break; sleep 0.05; done
ticks() { awk '{print $14 + $15}' /proc/$pid/stat; }
t0=$(ticks); s0=$(date +%s.%N); sleep SAMPLE; t1=$(ticks); s1=$(date +%s.%N)
echo "${t0:-x} ${t1:-x} $s0 $s1 $(getconf CLK_TCK)"  # x: the victim died before the sample ended
"""


def start_hog(name: str, unit: str) -> str:
    return sh(name, f"""
        rm -f /run/{unit}.pid /run/{unit}.go; systemctl reset-failed {unit} 2>/dev/null
        systemd-run --quiet --collect --unit={unit} -p MemoryMax=64M -p MemorySwapMax=0 \
            /usr/local/bin/oomgs-memhog 256 --pidfile /run/{unit}.pid --go-file /run/{unit}.go
        while [ ! -s /run/{unit}.pid ]; do sleep 0.05; done; cat /run/{unit}.pid""").strip()


def victim_cpu_share(name: str, trials: int = 3) -> float:
    """The victim's CPU time during its grace, as a share of one CPU (mean of trials)."""
    handler = f"{BENCH_DIR}/handler-slow"
    vm.ssh(name, [f"cat > {handler} && chmod 0755 {handler}"], input=SLOW_HANDLER, text=True, check=True)
    sampler = CPU_SAMPLE.replace("SAMPLE", str(GRACE_SAMPLE_S))
    vm.ssh(name, [f"cat > {BENCH_DIR}/cpu-sample && chmod 0755 {BENCH_DIR}/cpu-sample"],
           input=sampler, text=True, check=True)
    shares = []
    for trial in range(trials):
        unit = f"oomgs-bench-cpu-{trial}"
        pid = start_hog(name, unit)
        out = sh(name, f"echo '{pid} {handler} timeout_ms=5000' > /proc/graceful_shutdown && touch /run/{unit}.go"
                       f" && {BENCH_DIR}/cpu-sample {pid}; while [ -e /proc/{pid} ]; do sleep 0.05; done")
        fields = out.split()
        if "x" in fields:
            continue
        t0, t1, s0, s1, hz = (float(x) for x in fields)
        shares.append((t1 - t0) / hz / (s1 - s0))
    if not shares:
        raise SystemExit("the victim died before every CPU sample ended (grace shorter than the sample?)")
    return statistics.mean(shares)


SPAWN_DROPIN = "/run/systemd/system/oomgs-runner.service.d/50-bench-spawn.conf"


def use_spawn(name: str, mode: str) -> None:
    """Restart the runner so that it starts handlers by MODE (clone3 or fork)."""
    if mode == "fork":
        sh(name, f"mkdir -p {Path(SPAWN_DROPIN).parent} && printf '[Service]\\nEnvironment=OOMGS_RUNNER_SPAWN=fork\\n'"
                 f" > {SPAWN_DROPIN}")
    else:
        sh(name, f"rm -f {SPAWN_DROPIN}")
    sh(name, "systemctl daemon-reload && systemctl restart oomgs-runner"
             " && until grep -q runner=1 /proc/graceful_shutdown_status; do sleep 0.2; done")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vm", default="runtime-vm", help="running test VM (testbed/vm.py name)")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--cpus", type=int, help="restart the VM (same disk) with this many vCPUs first")
    parser.add_argument("--spawn", choices=("both", "clone3", "fork"), default="both",
                        help="how the runner starts handlers: both side by side (default), or one")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args()
    spawns = ("fork", "clone3") if args.spawn == "both" else (args.spawn,)

    if args.cpus:
        vm.restart(args.vm, cpus=args.cpus)
    kernel, cpus = sh(args.vm, "uname -r").strip(), int(sh(args.vm, "nproc"))
    if not args.json:
        print(f"kernel: {kernel}, vCPUs: {cpus}, memcg limit 64 MiB, {args.trials} trials per handler, TCG emulation")
    paths = install_handlers(args.vm)
    rows, done_to_kill = [], []
    try:
        for spawn in spawns:
            use_spawn(args.vm, spawn)
            for title, path in paths.items():
                chosen_to_end, runner_ran, to_kill = zip(*(one_oom(args.vm, path, trial)
                                                          for trial in range(args.trials)))
                done_to_kill += to_kill
                standalone = [float(t) for t in sh(args.vm, f"python3 -c '{STANDALONE}' {path} {args.trials}").split()]
                rows.append((title, spawn, statistics.mean(chosen_to_end), statistics.mean(runner_ran),
                             statistics.mean(standalone)))
    finally:
        use_spawn(args.vm, "clone3")

    share = victim_cpu_share(args.vm)
    expiry_to_kill = grace_end_to_kill_ms(args.vm)
    rss = sh(args.vm, "grep -E 'VmRSS|VmLck' /proc/$(systemctl show -p MainPID --value oomgs-runner)/status")
    runner = ", ".join(line.replace("\t", " ").strip() for line in rss.splitlines())

    if args.json:
        print(json.dumps({
            "kernel": kernel, "vcpus": cpus, "trials": args.trials,
            "victim_cpu_share_during_grace": round(share, 4),
            "done_to_kill_ms": round(statistics.mean(done_to_kill), 1),
            "grace_end_to_kill_ms": round(expiry_to_kill, 1),
            "handlers": [{"handler": title, "spawn": spawn, "victim_chosen_to_handler_exit_ms": round(oom_ms, 1),
                          "handler_run_ms": round(ran_ms, 1), "standalone_ms": round(alone_ms, 1),
                          "ratio": round(oom_ms / alone_ms, 2)} for title, spawn, oom_ms, ran_ms, alone_ms in rows],
            "runner": runner}, indent=2))
        return 0
    header = ("handler", "runner starts it by", "victim chosen -> handler exit", "handler run (runner)", "standalone",
              "ratio", "prototype (OOM path / standalone / ratio)")
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for title, spawn, oom_ms, ran_ms, alone_ms in sorted(rows, key=lambda row: list(paths).index(row[0])):
        proto = " / ".join(PROTOTYPE[title])
        print(f"| {title} | {spawn} | {oom_ms:.1f} ms | {ran_ms:.1f} ms | {alone_ms:.1f} ms | {oom_ms / alone_ms:.1f}x"
              f" | {proto} |")
    print(f"\nvictim's CPU during its grace: {share * 100:.1f}% of one CPU (mean of 3 graces,"
          f" {GRACE_SAMPLE_S} s sampled each)")
    print(f"\"done\" -> kill: {statistics.mean(done_to_kill):.1f} ms (mean of {len(done_to_kill)} OOMs);"
          f" expired grace -> kill: {expiry_to_kill:.1f} ms (mean of 3 graces of {EXPIRING_GRACE_MS} ms)")
    print("oomgs-runner: " + runner)
    return 0


if __name__ == "__main__":
    sys.exit(main())
