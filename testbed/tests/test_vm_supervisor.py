"""The launcher's supervisor with a stand-in for qemu: a guest reboot starts a new qemu, a
power-off or a stop ends it all, a qemu that cannot start is reported."""

import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

import vm

# A stand-in for qemu-system-x86_64: writes its pidfile, notes the boot in the console log and
# then does what the next line of $FAKE_QEMU_PLAN says (one line per boot).
FAKE_QEMU = """#!PYTHON
import os, sys, time
args = sys.argv[1:]
pidfile = args[args.index("-pidfile") + 1]
console = [a for a in args if a.startswith("file,id=console,path=")][0].split("path=")[1].split(",")[0]
plan = os.environ["FAKE_QEMU_PLAN"]
with open(plan) as f:
    steps = f.read().split()
step, rest = steps[0], steps[1:]
with open(plan, "w") as f:
    f.write(" ".join(rest or ["run"]))
if step == "fail":
    sys.stderr.write("could not set up host forwarding rule\\n")
    sys.exit(1)
with open(pidfile, "w") as f:
    f.write(str(os.getpid()))
with open(console, "a") as f:
    f.write("boot\\n" if "-loadvm" not in args else "resume\\n")
    f.write("cpus %s\\n" % ",".join(map(str, sorted(os.sched_getaffinity(0)))))
    if step == "reboot":
        f.write("[ 9.1] reboot: Restarting system\\n")
    elif step == "poweroff":
        f.write("[ 9.1] reboot: Power down\\n")
if step == "run":
    while True:
        time.sleep(1)
time.sleep(1)
"""


@pytest.fixture
def fake_qemu(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    qemu = bin_dir / "qemu-system-x86_64"
    qemu.write_text(FAKE_QEMU.replace("PYTHON", sys.executable))
    qemu.chmod(qemu.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("OOMGS_VM_RUN_DIR", str(tmp_path / "vms"))
    monkeypatch.setenv("OOMGS_VM_LOG_DIR", str(tmp_path / "logs"))
    plan = tmp_path / "plan"
    monkeypatch.setenv("FAKE_QEMU_PLAN", str(plan))

    def instance(steps):
        plan.write_text(" ".join(steps))
        directory = vm.instance_dir("t1")
        directory.mkdir(parents=True)
        (tmp_path / "logs").mkdir(exist_ok=True)
        state = {"name": "t1", "dir": str(directory), "memory_mb": 64, "cpus": 1, "port": vm.free_port(),
                 "disk": str(directory / "disk.qcow2"), "console_log": str(tmp_path / "logs" / "t1.console.log")}
        vm.save_state("t1", state)
        return state

    yield instance
    vm.stop_all()


def wait_until(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_guest_reboot_starts_a_new_qemu_on_the_same_console_log(fake_qemu):
    state = fake_qemu(["reboot", "reboot", "run"])
    assert vm.launch(state) == ""
    console = Path(state["console_log"])
    assert wait_until(lambda: console.read_text().count("boot\n") == 3), console.read_text()
    assert wait_until(lambda: vm.load_state("t1").get("boots") == 3)
    directory = Path(state["dir"])
    assert len(vm.qemu_pids(directory)) == 1 and len(vm.supervisor_pids(directory)) == 1

    vm.stop("t1")
    assert vm.qemu_pids(directory) == [] and vm.supervisor_pids(directory) == []
    assert not directory.exists()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPUs to pin to one")
def test_qemu_runs_on_every_cpu_whatever_started_it(fake_qemu):
    """An Ansible run under Mitogen pins what it starts to one CPU; the VMs must not inherit that."""
    state = fake_qemu(["run"])
    every = set(range(os.cpu_count()))
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {1})
    try:
        assert vm.launch(state) == ""
    finally:
        os.sched_setaffinity(0, before)
    console = Path(state["console_log"])
    assert wait_until(lambda: "cpus " in console.read_text()), console.read_text()
    assert console.read_text().split("cpus ")[1].split()[0] == ",".join(map(str, sorted(every)))


def test_only_the_first_start_resumes_the_booted_snapshot(fake_qemu):
    state = fake_qemu(["reboot", "run"])
    state["loadvm"] = vm.SNAPSHOT_TAG
    vm.save_state("t1", state)
    assert vm.launch(state) == ""
    console = Path(state["console_log"])
    assert wait_until(lambda: console.read_text().count("boot\n") == 1), console.read_text()
    assert console.read_text().startswith("resume\n"), console.read_text()
    assert "loadvm" not in vm.load_state("t1")


def test_a_guest_power_off_ends_the_supervisor(fake_qemu):
    state = fake_qemu(["poweroff"])
    assert vm.launch(state) == ""
    directory = Path(state["dir"])
    assert wait_until(lambda: not vm.supervisor_pids(directory)), "the supervisor kept running"
    assert Path(state["console_log"]).read_text().count("boot\n") == 1


def test_a_qemu_that_cannot_start_is_reported(fake_qemu):
    state = fake_qemu(["fail"])
    error = vm.launch(state)
    assert "host forwarding" in error
    assert vm.supervisor_pids(Path(state["dir"])) == []


def test_state_file_stays_json(fake_qemu):
    state = fake_qemu(["reboot", "run"])
    assert vm.launch(state) == ""
    assert wait_until(lambda: vm.load_state("t1").get("boots") == 2)
    json.loads((Path(state["dir"]) / vm.STATE_FILE).read_text())
