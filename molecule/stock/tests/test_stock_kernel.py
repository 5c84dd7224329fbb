"""A device on Debian's own kernel after site.yml: the module from DKMS with its notify backend,
and a real OOM of each registered service (host_vars/stock-device.yml says what is registered).

- the default mode, the whole service registered (its cgroup): the handler runs right after the
  kernel's OOM kill (phase killed);
- early mode, then kill: the data logger's handler saves its unflushed readings while the
  logger still runs, then the runner kills it; the kernel's OOM killer never has to;
- early mode, then continue: the handler asks the service to give its memory back, and it lives.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

HOST_VARS = yaml.safe_load((Path(__file__).resolve().parents[1] / "host_vars" / "stock-device.yml").read_text())
REGISTRATIONS = {r["name"]: r for r in HOST_VARS["graceful_shutdown_registrations"]}
RESULTS = "/var/lib/oomgs-tests"


def main_pid(host, service: str) -> int:
    return int(host.check_output(f"systemctl show -p MainPID --value {service}"))


def control_group(host, service: str) -> str:
    return host.check_output(f"systemctl show -p ControlGroup --value {service}")


def whole_service(registration: dict) -> bool:
    """Registered as its cgroup: scope service, the default but with mode early (docs/registrations.md)."""
    return registration.get("scope", "main" if registration.get("mode") == "early" else "service") == "service"


def registered(host, target: int | str) -> dict[str, str] | None:
    """The module's listing line of a pid, or of a cgroup (a whole service's cgroup=CGROUP line), as
    {"handler": ..., option: value}, or None."""
    first = f"cgroup={target}" if isinstance(target, str) else str(target)
    for line in host.check_output("cat /proc/graceful_shutdown").splitlines():
        fields = line.split()
        if fields and fields[0] == first:
            return {"handler": fields[1], **dict(f.split("=", 1) for f in fields[2:])}
    return None


def wait_registered(host, name: str, timeout: float = 60) -> int:
    """The main pid of the registration's service, once the module lists it (or, for a whole
    service, its cgroup, which covers the main pid) as declared."""
    registration = REGISTRATIONS[name]
    deadline = time.monotonic() + timeout
    while True:
        pid = main_pid(host, registration["service"])
        if whole_service(registration):
            cgroup = control_group(host, registration["service"]) if pid else ""
            entry = registered(host, cgroup) if cgroup else None
        else:
            entry = registered(host, pid) if pid else None
        if entry and entry["handler"] == registration["handler"]:
            if registration.get("mode") == "early":
                assert entry.get("early") == str(registration["early_threshold"]), entry
                assert entry.get("then") == registration["then"], entry
            return pid
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}: pid {pid} (whole service: {whole_service(registration)}) not registered: "
                                 f"{entry}")
        time.sleep(1)


def runner_journal(host, since: str) -> str:
    return host.check_output(f"journalctl -u oomgs-runner.service --no-pager -o cat --since '{since}'")


def wait_for(what: str, probe, timeout: float = 60, every: float = 1):
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(every)


def handler_record(host, pid: int) -> dict[str, str] | None:
    """What record-victim wrote for an event of victim pid (complete files only)."""
    out = host.run(f"grep -l -x 'OOMGS_VICTIM_PID={pid}' {RESULTS}/event-*.out").stdout.split()
    if not out:
        return None
    record = dict(line.split("=", 1) for line in host.file(out[0]).content_string.splitlines() if "=" in line)
    return record if record.get("complete") == "yes" else None


def device_time(host) -> str:
    return host.check_output("date '+%Y-%m-%d %H:%M:%S'")


def test_distribution_kernel_kept(host):
    assert "oomgs" not in host.check_output("uname -r")
    assert host.run("dpkg-query -W 'linux-image-*oomgs*'").rc != 0, "a patched kernel was installed"


def test_module_built_by_dkms_with_the_notify_backend(host):
    release = host.check_output("uname -r")
    assert f", {release}, " in host.check_output("dkms status -m graceful-shutdown")
    status = dict(line.split("=", 1) for line in host.file("/proc/graceful_shutdown_status").content_string.split())
    assert status["backend"] == "notify", status
    assert host.package("graceful-shutdown-dkms").is_installed


def test_module_built_for_the_kernel_update(host):
    """The side effect updated the distribution kernel with apt after converge: the headers came
    with it (the headers metapackage the lkm role installed), and DKMS built and installed the
    module for it, for the same source version the package holds."""
    running = host.check_output("uname -r")
    kernels = sorted(host.check_output("ls /lib/modules").split())
    others = [k for k in kernels if k != running and host.file(f"/lib/modules/{k}/kernel").is_directory]
    assert others, f"no kernel besides {running} in /lib/modules ({kernels}): did the side effect run?"
    status = host.check_output("dkms status -m graceful-shutdown")
    for kernel in others:
        lines = [line for line in status.splitlines() if f", {kernel}, " in line]
        assert lines and lines[0].endswith(": installed"), f"DKMS did not install the module for {kernel}:\n{status}"
        module = host.check_output(f"modinfo -k {kernel} -n graceful_shutdown")
        assert module.startswith(f"/lib/modules/{kernel}/updates/dkms/"), module
        assert host.check_output(f"modinfo -k {kernel} -F vermagic graceful_shutdown").split()[0] == kernel


@pytest.mark.parametrize("name", [n for n, r in REGISTRATIONS.items() if r.get("mode") == "early"])
def test_early_mode_armed_below_the_limit(host, name):
    registration = REGISTRATIONS[name]
    pid = wait_registered(host, name)
    cgroup = host.check_output(f"cat /proc/{pid}/cgroup").split("::", 1)[1]
    limit = int(host.check_output(f"cat /sys/fs/cgroup{cgroup}/memory.max"))
    # the runner arms within its recheck interval after the registration
    high = wait_for(f"memory.high of {cgroup} below max",
                    lambda: (v := host.check_output(f"cat /sys/fs/cgroup{cgroup}/memory.high")) != "max" and int(v), 15)
    wanted = limit * registration["early_threshold"] / 100
    assert wanted - 4096 < high <= wanted, f"memory.high {high} is not {registration['early_threshold']}% of {limit}"


def test_default_mode_handler_runs_after_the_kill(host, console):
    service = REGISTRATIONS["leak-notify"]["service"]
    pid = wait_registered(host, "leak-notify")
    since, started = console.offset(), device_time(host)
    host.check_output(f"systemctl kill -s USR1 {service}")

    kill = console.wait_for_oom_kill(pid, since, timeout=120)
    assert kill is not None, f"no OOM kill of {service} (pid {pid}) on the console"
    assert kill.kind == "memcg", kill.line
    record = wait_for(f"the handler's record of pid {pid}", lambda: handler_record(host, pid))
    assert record["OOMGS_PHASE"] == "killed", record
    assert record["OOMGS_REASON"] == "memcg", record
    assert record["victim_state"] == "gone", record
    journal = runner_journal(host, started)
    assert f"killed: victim pid={pid} " in journal, journal
    assert host.check_output(f"systemctl show -p ActiveState --value {service}") == "failed"


def test_early_mode_saves_the_data_before_the_kill(host, console):
    service = REGISTRATIONS["data-logger"]["service"]
    pid = wait_registered(host, "data-logger")
    since, started = console.offset(), device_time(host)
    host.check_output(f"systemctl kill -s USR1 {service}")

    def runner_killed_it():
        kernel_kills = [k.line for k in console.oom_kills(since) if k.pid == pid]
        assert not kernel_kills, f"the kernel's OOM killer killed pid {pid} before the runner: {kernel_kills}"
        journal = runner_journal(host, started)
        return f"early pid {pid}: then=kill: SIGKILL sent" in journal and journal

    journal = wait_for(f"the runner's kill of pid {pid}", runner_killed_it, 120)
    rescued = host.check_output(f"ls /var/lib/data-logger/ | grep -- '-pid{pid}.log$' || true")
    assert rescued, f"the handler saved nothing for pid {pid}: {host.check_output('ls -l /var/lib/data-logger/')}"
    assert host.file(f"/var/lib/data-logger/{rescued}").size > 0
    assert f"of data-logger pid {pid} to /var/lib/data-logger/{rescued} (phase early) as user data-logger" in journal, journal
    assert f"early pid {pid}: memory.high " in journal and " crossed " in journal, journal
    wait_for(f"pid {pid} gone", lambda: not host.file(f"/proc/{pid}").exists, 30)
    assert [k for k in console.oom_kills(since) if k.pid == pid] == [], "the kernel's OOM killer had to kill it"
    # systemd restarts the logger, and it is registered again
    wait_for("the restarted logger registered", lambda: main_pid(host, service) not in (0, pid) and
             registered(host, main_pid(host, service)), 60)


def test_early_mode_then_continue_keeps_the_victim(host, console):
    service = REGISTRATIONS["leak-continue"]["service"]
    pid = wait_registered(host, "leak-continue")
    since, started = console.offset(), device_time(host)
    host.check_output(f"systemctl kill -s USR1 {service}")

    record = wait_for(f"the handler's record of pid {pid}", lambda: handler_record(host, pid), 120)
    assert record["OOMGS_PHASE"] == "early", record
    assert record["victim_state"] != "gone", record
    journal = wait_for("then=continue in the journal",
                       lambda: (j := runner_journal(host, started)) and f"early pid {pid}: then=continue" in j and j)
    assert f"early pid {pid}: memory.high " in journal, journal
    # the handler asked it to give its memory back: it lives, below its threshold again
    wait_for(f"{service} back below its threshold",
             lambda: "giving back" in host.check_output(f"journalctl -u {service} --no-pager -o cat --since '{started}'"))
    time.sleep(3)
    assert main_pid(host, service) == pid
    assert [k for k in console.oom_kills(since) if k.pid == pid] == []


def test_no_kernel_problem(host, console):
    assert console.kernel_problems() == []
