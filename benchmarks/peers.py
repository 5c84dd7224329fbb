#!/usr/bin/env python3
"""Benchmark: the tools people use against an OOM, side by side with ours, on one VM in one run.

The same workload for each: the sample data logger (its own copy, oomgs-bench-logger.service, in
the applications' memory-limited slice with MemoryMax=64M and no swap) takes a reading every
0.2 s into a buffer that it flushes to disk only every 5 minutes, then leaks at a rate until
something stops it. Columns, in this order:

  kernel        nothing but the kernel's OOM killer (runner stopped, no registration)
  earlyoom      Debian's earlyoom, -N hook = the benchmark's handler (1.8.2 has no pre-kill hook)
  nohang        Debian's nohang, PSI of the logger's cgroup, soft action = the handler
  systemd-oomd  ManagedOOMMemoryPressure=kill on the applications' slice (limit 20 %, 1 s)
  early         ours on the stock kernel: registered with early=90 then=kill
  grace         ours on the patched kernel (installed from the cache and booted last): a grace

Each column runs RUNS leaks at each rate (slow 8 MiB/s, medium 32 MiB/s, burst: as fast as the
logger can). Per run (benchmarks/peers_vm/leak_once.py, inside the VM): did a handler run while the
logger was alive, the unflushed bytes a handler saved to disk, the time from the cgroup's first
memory.events high/max to the handler's start, who killed the logger, the longest gap between its
readings while it leaked and the longest overshoot of a 10 ms sleep outside its cgroup.

    molecule converge -s stock          # the VM: Debian 13 on its stock kernel, module, runner
    benchmarks/peers.py [--vm stock-device] [--runs 10] [--columns kernel,early,...] [--json]

The grace column installs the patched kernel of the VM's series (built by the test bed, from the
cache folder) with its module package and reboots the VM into it; the VM stays on it afterwards.
A benchmark, not a test: it prints a table (or --json) and asserts nothing.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "testbed"))

import vm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "peers_vm"
BENCH = "/usr/local/lib/oomgs-bench"
CACHE = Path(os.environ.get("OOMGS_CACHE_DIR", "/var/cache/oom-graceful-shutdown"))
RATES = {"slow": 8, "medium": 32, "burst": 0}
COLUMNS = ("kernel", "earlyoom", "nohang", "systemd-oomd", "early", "grace")
TOOL_UNITS = "oomgs-bench-earlyoom oomgs-bench-nohang systemd-oomd oomgs-runner"
LOGGER_UNIT = f"""[Unit]
Description=peers benchmark: the sample data logger
[Service]
ExecStart={BENCH}/data-logger
EnvironmentFile=/run/oomgs-bench/logger.env
Environment=PYTHONUNBUFFERED=1 DATA_LOGGER_FLUSH_INTERVAL=300
User=data-logger
StateDirectory=data-logger
Slice=oomgs_apps.slice
MemoryMax=64M
MemorySwapMax=0
Restart=no
"""
OOMD_SLICE = """[Slice]
ManagedOOMMemoryPressure=kill
ManagedOOMMemoryPressureLimit=20%
"""
OOMD_CONF = """[OOM]
DefaultMemoryPressureDurationSec=1s
"""
# nohang's own defaults, changed where a careful user would for a memory-limited service:
# PSI of the logger's cgroup (10 s average, acted on at once), the handler as its soft action.
NOHANG_SETTINGS = {
    "psi_checking_enabled": "True",
    "psi_path": "/sys/fs/cgroup/oomgs_apps.slice/oomgs-bench-logger.service/memory.pressure",
    "psi_metrics": "some_avg10",
    "psi_excess_duration": "0",
    "soft_threshold_max_psi": "5",
    "hard_threshold_max_psi": "60",
    "min_sleep": "0.1",
}
NOHANG_ACTION = f"@SOFT_ACTION_RE_NAME ^data-logger$ /// {BENCH}/hook-nohang $PID"


def sh(name: str, command: str, check: bool = True, **kwargs) -> str:
    result = vm.ssh(name, [command], capture_output=True, text=True, check=False, **kwargs)
    if check and result.returncode != 0:
        raise SystemExit(f"{name}: {command!r} failed: {result.stderr.strip()}")
    return result.stdout


def put(name: str, path: str, text: str, mode: str = "0644") -> None:
    sh(name, f"cat > {path} && chmod {mode} {path}", input=text)


def boot_stock_kernel(name: str) -> None:
    """After a run with the grace column, the VM boots its patched kernel: boot Debian's once."""
    if "-oomgs-" not in sh(name, "uname -r"):
        return
    release = sh(name, "ls /boot/vmlinuz-* | grep -v -- -oomgs- | sort -V | tail -n 1").strip().removeprefix("/boot/vmlinuz-")
    progress(f"{name}: booting Debian's kernel {release} again")
    sh(name, f"grub-reboot 'Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux {release}'")
    vm.restart(name)
    if sh(name, "uname -r").strip() != release:
        raise SystemExit(f"{name} did not boot {release}")


def set_up(name: str) -> None:
    """The benchmark's logger, handler and tools on the VM; everything else that could act stopped."""
    boot_stock_kernel(name)
    progress(f"{name}: installing earlyoom, nohang, systemd-oomd and the benchmark's files")
    sh(name, "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq earlyoom nohang systemd-oomd >/dev/null"
             " || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq earlyoom nohang"
             " systemd-oomd >/dev/null)")
    sh(name, "systemctl disable --now earlyoom nohang nohang-desktop systemd-oomd.socket systemd-oomd 2>/dev/null;"
             " systemctl stop data-logger oomgs-registrations.timer oomgs-leak-notify oomgs-leak-continue"
             f" 2>/dev/null; mkdir -p {BENCH} /var/lib/oomgs-bench /run/oomgs-bench", check=False)
    put(name, f"{BENCH}/leak_once.py", (HERE / "leak_once.py").read_text(), "0755")
    put(name, f"{BENCH}/bench-handler", (HERE / "bench-handler").read_text(), "0755")
    put(name, f"{BENCH}/data-logger", (ROOT / "roles/sample_data_logger/files/data-logger").read_text(), "0755")
    sh(name, f"ln -sf bench-handler {BENCH}/hook-earlyoom && ln -sf bench-handler {BENCH}/hook-nohang")
    put(name, "/etc/systemd/system/oomgs-bench-logger.service", LOGGER_UNIT)
    sh(name, "systemctl daemon-reload")


def use_column(name: str, column: str) -> None:
    """Stop every tool, then start the column's."""
    sh(name, f"systemctl stop {TOOL_UNITS} 2>/dev/null; systemctl reset-failed 2>/dev/null;"
             " rm -rf /run/systemd/system/oomgs_apps.slice.d /run/systemd/oomd.conf.d; systemctl daemon-reload",
       check=False)
    if column == "earlyoom":
        sh(name, f"systemd-run -q --unit oomgs-bench-earlyoom earlyoom -r 0 -N {BENCH}/hook-earlyoom")
    elif column == "nohang":
        conf = sh(name, "cat /etc/nohang/nohang.conf").splitlines()
        conf = [f"{line.split('=')[0].strip()} = {NOHANG_SETTINGS[line.split('=')[0].strip()]}"
                if "=" in line and line.split("=")[0].strip() in NOHANG_SETTINGS else line for line in conf]
        put(name, "/run/oomgs-bench/nohang.conf", "\n".join([*conf, NOHANG_ACTION, ""]))
        sh(name, "nohang --check --config /run/oomgs-bench/nohang.conf >/dev/null"
                 " && systemd-run -q --unit oomgs-bench-nohang nohang --monitor --config /run/oomgs-bench/nohang.conf")
    elif column == "systemd-oomd":
        sh(name, "mkdir -p /run/systemd/system/oomgs_apps.slice.d /run/systemd/oomd.conf.d")
        put(name, "/run/systemd/system/oomgs_apps.slice.d/oomgs-bench.conf", OOMD_SLICE)
        put(name, "/run/systemd/oomd.conf.d/oomgs-bench.conf", OOMD_CONF)
        sh(name, "systemctl daemon-reload && systemctl start systemd-oomd")
    elif column in ("early", "grace"):
        sh(name, "systemctl start oomgs-runner && until grep -q runner=1 /proc/graceful_shutdown_status;"
                 " do sleep 0.2; done")
    time.sleep(2)  # let the tool settle (earlyoom's and nohang's first reads)
    unit = {"earlyoom": "oomgs-bench-earlyoom", "nohang": "oomgs-bench-nohang", "systemd-oomd": "systemd-oomd",
            "early": "oomgs-runner", "grace": "oomgs-runner"}.get(column)
    if unit and sh(name, f"systemctl is-active {unit}", check=False).strip() != "active":
        raise SystemExit(f"{name}: {unit} is not running:\n" + sh(name, f"journalctl -u {unit} -n 20 --no-pager -o cat"))


def boot_patched_kernel(name: str) -> str:
    """Install the patched kernel of the VM's series and its module package from the cache, boot it."""
    running = sh(name, "uname -r").strip()
    series = ".".join(running.split(".")[:2])
    images = sorted(glob.glob(str(CACHE / f"kernel/*/linux-image-{series}.*-oomgs-*.deb")), key=os.path.getmtime)
    if not images:
        raise SystemExit(f"no patched {series} kernel in {CACHE}/kernel: run `make test` or the default scenario first")
    release = Path(images[-1]).name.split("_")[0].removeprefix("linux-image-")
    modules = glob.glob(str(CACHE / f"kernel/modules/*/graceful-shutdown-module-{release}_*.deb"))
    if not modules:
        raise SystemExit(f"no module package for {release} in {CACHE}/kernel/modules")
    progress(f"{name}: installing {release} and its module package, rebooting into it")
    for deb in (images[-1], modules[0]):
        vm.ssh(name, [f"cat > /tmp/{Path(deb).name}"], input=Path(deb).read_bytes(), check=True)
    sh(name, f"dpkg -i /tmp/{Path(images[-1]).name} /tmp/{Path(modules[0]).name} >/dev/null"
             f" && grub-reboot 'Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux {release}'")
    vm.restart(name)
    booted = sh(name, "uname -r").strip()
    if booted != release:
        raise SystemExit(f"{name} booted {booted}, not {release}")
    sh(name, "systemctl stop data-logger oomgs-registrations.timer oomgs-leak-notify oomgs-leak-continue"
             " 2>/dev/null; mkdir -p /run/oomgs-bench", check=False)
    return booted


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def summary(column: str, rate: str, runs: list[dict]) -> dict:
    def mean(key: str) -> float | None:
        values = [r[key] for r in runs if r[key] is not None]
        return round(statistics.mean(values), 1) if values else None

    killers: dict[str, int] = {}
    for r in runs:
        killers[r["killed_by"]] = killers.get(r["killed_by"], 0) + 1
    return {"column": column, "rate": rate, "runs": len(runs),
            "handler_before_kill": sum(r["handler_before_kill"] for r in runs) / len(runs),
            "handler_ran": sum(bool(r["handlers"]) for r in runs) / len(runs),
            "saved_bytes": mean("saved_bytes"), "unflushed_bytes": mean("unflushed_bytes"),
            "event_to_handler_ms": mean("event_to_handler_ms"), "leak_to_death_ms": mean("leak_to_death_ms"),
            "killed_by": killers, "victim_max_gap_ms": mean("victim_max_gap_ms"),
            "machine_max_latency_ms": mean("machine_max_latency_ms")}


def table(rows: list[dict]) -> str:
    header = ("tool", "leak", "runs", "handler before the kill", "handler at all", "bytes saved / unflushed",
              "first high/max -> handler", "leak -> death", "killed by", "victim's longest reading gap",
              "machine's longest 10 ms sleep overshoot")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        ms = (lambda v: "-" if v is None else f"{v:.0f} ms")
        killed = ", ".join(f"{k} {n}" for k, n in sorted(r["killed_by"].items()))
        lines.append(f"| {r['column']} | {r['rate']} | {r['runs']} | {r['handler_before_kill']:.0%} |"
                     f" {r['handler_ran']:.0%} | {r['saved_bytes']:.0f} / {r['unflushed_bytes']:.0f} |"
                     f" {ms(r['event_to_handler_ms'])} | {ms(r['leak_to_death_ms'])} | {killed} |"
                     f" {ms(r['victim_max_gap_ms'])} | {ms(r['machine_max_latency_ms'])} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vm", default="stock-device", help="running test VM (testbed/vm.py name)")
    parser.add_argument("--runs", type=int, default=10, help="leaks per tool and rate")
    parser.add_argument("--columns", default=",".join(COLUMNS), help=f"comma-separated, of {', '.join(COLUMNS)}")
    parser.add_argument("--rates", default=",".join(RATES), help=f"comma-separated, of {', '.join(RATES)}")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--table-from", metavar="JSON", help="print the table of an earlier run's --json output")
    args = parser.parse_args()
    if args.table_from:
        print_table(json.loads(Path(args.table_from).read_text()))
        return 0
    columns = [c for c in COLUMNS if c in args.columns.split(",")]
    rates = [r for r in RATES if r in args.rates.split(",")]

    set_up(args.vm)
    kernels, rows, raw = {}, [], []
    for column in columns:
        if column == "grace":
            kernels["grace"] = boot_patched_kernel(args.vm)
        elif "stock" not in kernels:
            kernels["stock"] = sh(args.vm, "uname -r").strip()
        use_column(args.vm, column)
        register = column if column in ("early", "grace") else "none"
        for rate in rates:
            runs = []
            for n in range(args.runs):
                out = sh(args.vm, f"{BENCH}/leak_once.py --rate {RATES[rate]} --register {register}")
                runs.append(json.loads(out.strip().splitlines()[-1]))
                progress(f"{column} {rate} {n + 1}/{args.runs}: {runs[-1]}")
            rows.append(summary(column, rate, runs))
            raw.append({"column": column, "rate": rate, "runs": runs})
    use_column(args.vm, "none")
    versions = sh(args.vm, "dpkg-query -W earlyoom nohang systemd-oomd | tr '\\t' ' '").strip().splitlines()
    result = {"vm": args.vm, "vcpus": int(sh(args.vm, "nproc")), "kernels": kernels, "tools": versions,
              "rates_mib_per_s": {r: RATES[r] for r in rates}, "rows": rows, "raw": raw}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print_table(result)
    return 0


def print_table(result: dict) -> None:
    print(f"VM {result['vm']}: {result['vcpus']} vCPUs under TCG; kernels {result['kernels']};"
          f" {', '.join(result['tools'])}; leak rates (MiB/s, 0 = as fast as it can) {result['rates_mib_per_s']}")
    print(table(result["rows"]))


if __name__ == "__main__":
    sys.exit(main())
