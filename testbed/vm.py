#!/usr/bin/env python3
"""Start and stop the test VMs: the one launcher every scenario and script uses.

Each instance gets a qcow2 overlay on the cached base image, its own memory and
CPU count, ssh forwarded from a free 127.0.0.1 port, and its serial console
written to a log file that outlives the instance (kernel oopses and OOM reports
stay readable after a run). State lives in RUN_DIR/NAME/; `stop` and
`stop-all` find the processes by the instance directory in their command line,
so nothing is left behind, even after an interrupted start.

A guest reboot starts a new qemu process (`-no-reboot` and a small supervisor,
`vm.py supervise`): under TCG a guest rebooted inside the same qemu process ran
about ten times slower, from GRUB's loading of the kernel to soft lockups in
early boot, while a new process boots as fast as the first time. The guest
still shuts down, runs GRUB and boots for real; only the power cycle is new.

An instance's first boot is not a boot: it resumes a snapshot of the same base image
booted once with the same memory, vCPUs and qemu (`savevm`, kept beside the base image
as booted-MEMm-CPUSc-KEY.qcow2 and made by the first start that needs it), in seconds instead of
about a minute under TCG; the guest's clock is then set to the host's. Every later
boot (a guest reboot, `restart`) is a real one. OOMGS_VM_SNAPSHOT=0 boots for real.

    vm.py start NAME --image DIR [--memory MB] [--cpus N]   -> prints instance JSON
    vm.py restart NAME [--cpus N]   (same disk and ssh port; e.g. another vCPU count)
    vm.py stop NAME | stop-all | list | ssh NAME -- COMMAND

TCG by default; OOMGS_VM_ACCEL=kvm asks for KVM where it works.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import inspect
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RUN_DIR = REPO / "build" / "vms"
DEFAULT_LOG_DIR = REPO / "build" / "logs"
SSH_USER = "root"
STATE_FILE = "instance.json"
STOP_FLAG = "stopping"  # in the instance directory: the supervisor starts no more boots
SNAPSHOT_TAG = "booted"  # the snapshot in a booted template (qemu savevm/loadvm)


def log(message: str) -> None:
    print(f"vm: {message}", file=sys.stderr, flush=True)


def run_dir() -> Path:
    return Path(os.environ.get("OOMGS_VM_RUN_DIR", DEFAULT_RUN_DIR))


def log_dir() -> Path:
    return Path(os.environ.get("OOMGS_VM_LOG_DIR", DEFAULT_LOG_DIR))


def instance_dir(name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"bad instance name {name!r}")
    return run_dir() / name


def load_state(name: str) -> dict:
    path = instance_dir(name) / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def save_state(name: str, state: dict) -> None:
    path = instance_dir(name) / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(path)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ssh_base_args(port: int, identity_file: str, connect_timeout: int = 10) -> list[str]:
    return [
        "ssh", "-p", str(port), "-i", identity_file,
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
        "-o", f"ConnectTimeout={connect_timeout}",
        "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=6",
        f"{SSH_USER}@127.0.0.1",
    ]


def qemu_command(state: dict) -> list[str]:
    accel = os.environ.get("OOMGS_VM_ACCEL", "tcg")
    if accel == "kvm":
        accel_args = ["-accel", "kvm", "-cpu", "host"]
    else:
        # qemu64 is about 20 % faster than -cpu max under TCG on these hosts.
        accel_args = ["-accel", "tcg,thread=multi", "-cpu", "qemu64"]
    directory = Path(state["dir"])
    return [
        "qemu-system-x86_64", *accel_args,
        "-name", f"oomgs-{state['name']}",
        "-m", str(state["memory_mb"]), "-smp", str(state["cpus"]),
        "-drive", f"file={state['disk']},if=virtio,format=qcow2,cache=unsafe,discard=unmap",
        "-nic", f"user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:{state['port']}-:22",
        "-display", "none", "-vga", "none",
        # a new VM generation ID at every start: a guest resumed from a shared snapshot reseeds
        # its random number generator (Linux's vmgenid driver) instead of repeating another's
        "-device", "vmgenid,guid=auto",
        # every boot of this qemu's supervisor appends to the same console log
        "-chardev", f"file,id=console,path={state['console_log']},append=on",
        "-serial", "chardev:console",
        "-monitor", f"unix:{directory / 'monitor.sock'},server,nowait",
        "-pidfile", str(directory / "qemu.pid"),
        # a guest reboot ends this process; the supervisor starts the next boot
        "-no-reboot",
        # only the first start of an instance resumes its booted snapshot
        *(["-loadvm", state["loadvm"]] if state.get("loadvm") else []),
    ]


def supervisor_command(state: dict) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "supervise", state["name"], "--dir", state["dir"] + "/"]


def guest_powered_off(console_log: str) -> bool:
    """Whether the guest's last words were a power-off (not a reboot or a panic's reset)."""
    try:
        with open(console_log, "rb") as log_file:
            log_file.seek(0, os.SEEK_END)
            log_file.seek(max(0, log_file.tell() - 4096))
            tail = log_file.read()
    except OSError:
        return False
    return tail.rfind(b"reboot: Power down") > tail.rfind(b"reboot: Restarting system")


def use_every_cpu() -> None:
    """Let this process and the qemu it starts run on every CPU, whatever started it: an
    Ansible run under Mitogen pins the processes it starts to one CPU (see
    testbed/strategy_plugins/mitogen_linear.py), and two VMs on one core boot at half speed."""
    try:
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    except OSError:
        pass  # a cpuset that allows fewer CPUs: the kernel keeps what it allows


def supervise(name: str) -> int:
    """Run qemu for the instance until it is stopped or the guest powers off; a guest reboot
    (qemu exits, -no-reboot) starts a new qemu on the same disk, port and console log."""
    directory = instance_dir(name)
    state = load_state(name)
    boots = 0
    use_every_cpu()
    while True:
        started = time.monotonic()
        with open(directory / "qemu.log", "ab") as qemu_log:
            result = subprocess.run(qemu_command(state), stdin=subprocess.DEVNULL, stdout=qemu_log,
                                    stderr=qemu_log, check=False)
        boots += 1
        if not directory.exists() or (directory / STOP_FLAG).exists():
            return 0
        if result.returncode != 0:
            # the first start failing (its port taken) is for `start` to handle
            return result.returncode
        if guest_powered_off(state["console_log"]):
            return 0
        state = load_state(name)
        state["boots"] = boots + 1
        state.pop("loadvm", None)  # a reboot boots for real
        save_state(name, state)
        print(f"vm: {name}: the guest rebooted after {time.monotonic() - started:.0f} s; boot {boots + 1}"
              " in a new qemu", file=sys.stderr, flush=True)


def qemu_pids(directory: Path) -> list[int]:
    """Every qemu process whose command line names this instance directory."""
    return processes_naming(directory, b"qemu-system")


def supervisor_pids(directory: Path) -> list[int]:
    """Every supervisor (`vm.py supervise`) whose command line names this instance directory."""
    return processes_naming(directory, b"supervise")


def processes_naming(directory: Path, program: bytes) -> list[int]:
    marker = str(directory).encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if program in cmdline and marker + b"/" in cmdline:
            pids.append(int(proc.name))
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def wait_for_ssh(state: dict, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not qemu_pids(Path(state["dir"])):
            raise RuntimeError(f"qemu of {state['name']} exited during boot; see {state['console_log']}")
        probe = subprocess.run(
            [*ssh_base_args(state["port"], state["identity_file"], connect_timeout=5), "true"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False,
        )
        if probe.returncode == 0:
            return
        time.sleep(2)
    raise TimeoutError(f"{state['name']}: no ssh after {timeout:.0f} s; see {state['console_log']}")


@contextlib.contextmanager
def launch_lock():
    run_dir().mkdir(parents=True, exist_ok=True)
    with open(run_dir() / ".launch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def start(name: str, image_dir: Path, memory_mb: int = 1024, cpus: int = 2,
          boot_timeout: float = 600, use_overlay: bool = True, snapshot: bool = True) -> dict:
    """Boot one instance (or resume its image's booted snapshot) and wait until ssh answers.
    Returns its state."""
    directory = instance_dir(name)
    if directory.exists():
        log(f"{name}: leftover instance found, stopping it first")
        stop(name)
    directory.mkdir(parents=True)
    log_dir().mkdir(parents=True, exist_ok=True)
    image_dir = image_dir.resolve()
    state = {
        "name": name,
        "dir": str(directory),
        "image_dir": str(image_dir),
        "memory_mb": memory_mb,
        "cpus": cpus,
        "identity_file": str(image_dir / "id_ed25519"),
        "console_log": new_console_log(name),
        "overlay": use_overlay,
    }
    template = booted_template(image_dir, memory_mb, cpus) if use_overlay and snapshot and snapshots_wanted() else None
    if template:
        state["disk"] = str(directory / "overlay.qcow2")
        shutil.copyfile(template, state["disk"])
        state["loadvm"] = SNAPSHOT_TAG
    elif use_overlay:
        state["disk"] = str(directory / "overlay.qcow2")
        create_overlay(image_dir, state["disk"])
    else:
        state["disk"] = str(image_dir / "base.qcow2")
    with launch_lock():
        for _attempt in range(5):
            state["port"] = free_port()
            save_state(name, state)
            error = launch(state)
            if not error:
                break
            if state.pop("loadvm", None):
                # a snapshot this qemu cannot resume: boot for real, and make a new one next time
                log(f"{name}: the booted snapshot did not resume ({error}); booting instead")
                Path(template).unlink(missing_ok=True)
                create_overlay(image_dir, state["disk"])
                continue
            log(f"{name}: qemu failed to start ({error}); retrying on another port")
        else:
            raise RuntimeError(f"{name}: qemu would not start: {error}")
    state = wait_booted(name, state, boot_timeout)
    if state.get("loadvm"):
        # the guest's clock stood still since the snapshot (apt refuses a Release file from its future)
        ssh(name, ["date", "-u", "-s", f"@{time.time():.3f}"], capture_output=True, check=True, timeout=60)
    return state


def create_overlay(image_dir: Path, disk: str) -> None:
    Path(disk).unlink(missing_ok=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                    "-b", str(image_dir / "base.qcow2"), disk], check=True)


def snapshots_wanted() -> bool:
    return os.environ.get("OOMGS_VM_SNAPSHOT", "1") != "0"


def template_key(memory_mb: int, cpus: int) -> str:
    """What a snapshot depends on besides the base image: the machine qemu emulates (its
    command line, as this file writes it), the memory, the vCPUs and qemu's version."""
    version = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True,
                             check=True).stdout
    text = "\n".join([inspect.getsource(qemu_command), os.environ.get("OOMGS_VM_ACCEL", "tcg"),
                      str(memory_mb), str(cpus), version])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def booted_template(image_dir: Path, memory_mb: int, cpus: int) -> Path | None:
    """The image's overlay with a snapshot of its guest booted with this memory and vCPU count:
    made once (one real boot, then savevm), kept beside the base image."""
    kind = f"booted-{memory_mb}m-{cpus}c"
    template = image_dir / f"{kind}-{template_key(memory_mb, cpus)}.qcow2"
    if not os.access(image_dir, os.W_OK):
        log(f"cannot keep a booted snapshot in {image_dir} (not writable): booting for real")
        return None
    with open(image_dir / f".{kind}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            for stale in image_dir.glob(f"{kind}-*.qcow2"):  # of another qemu or command line
                stale.unlink()
            make_template(image_dir, memory_mb, cpus, template)
    return template


def template_instance_name(image_dir: Path, memory_mb: int, cpus: int) -> str:
    """The instance that boots once for a snapshot: one per image and kind, so that VMs of two
    images that start at the same time (a mixed fleet) each boot their own."""
    return f"booting-{image_dir.name}-{memory_mb}m-{cpus}c"


def make_template(image_dir: Path, memory_mb: int, cpus: int, template: Path) -> None:
    name = template_instance_name(image_dir, memory_mb, cpus)
    log(f"{name}: booting {image_dir.name} once for its booted snapshot ({memory_mb} MB, {cpus} vCPUs)")
    try:
        state = start(name, image_dir, memory_mb, cpus, use_overlay=True, snapshot=False)
        # every unit started and the disk written: what a resumed instance finds is a booted guest
        ssh(name, ["sh", "-c", "systemctl is-system-running --wait; sync"], capture_output=True,
            check=False, timeout=600)
        monitor_command(name, "stop")
        reply = monitor_command(name, f"savevm {SNAPSHOT_TAG}", timeout=600)
        if "Error" in reply:
            raise RuntimeError(f"{name}: savevm failed: {reply.strip()}")
        halt(instance_dir(name))
        partial = template.with_suffix(".partial")
        shutil.move(state["disk"], partial)
        partial.replace(template)
    finally:
        stop(name)


def launch(state: dict, timeout: float = 30) -> str:
    """Start the instance's supervisor, detached, and wait until its qemu runs. Returns "" or,
    when qemu exited at once (its port taken, a bad option), what qemu said."""
    directory = Path(state["dir"])
    (directory / STOP_FLAG).unlink(missing_ok=True)
    (directory / "qemu.pid").unlink(missing_ok=True)
    qemu_log = directory / "qemu.log"
    qemu_log.write_bytes(b"")
    with open(directory / "supervisor.log", "ab") as supervisor_log:
        supervisor = subprocess.Popen(supervisor_command(state), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=supervisor_log, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if supervisor.poll() is not None:
            return qemu_log.read_text(errors="replace").strip() or f"supervisor exited with {supervisor.returncode}"
        pidfile = directory / "qemu.pid"
        if pidfile.exists() and pidfile.read_text().strip() and qemu_pids(directory):
            return ""
        time.sleep(0.1)
    return f"no qemu after {timeout:.0f} s"


def new_console_log(name: str) -> str:
    """A console log file of its own for each boot of an instance."""
    return str(log_dir() / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.console.log")


def wait_booted(name: str, state: dict, boot_timeout: float) -> dict:
    """After qemu started: note its pid, wait until ssh answers, note the boot time."""
    state["pid"] = int((Path(state["dir"]) / "qemu.pid").read_text().strip())
    save_state(name, state)
    log(f"{name}: qemu pid {state['pid']}, {state['cpus']} vCPUs, ssh on 127.0.0.1:{state['port']},"
        f" console {state['console_log']}")
    started = time.monotonic()
    wait_for_ssh(state, boot_timeout)
    state["boot_seconds"] = round(time.monotonic() - started, 1)
    save_state(name, state)
    log(f"{name}: ssh up after {state['boot_seconds']} s")
    return state


def restart(name: str, cpus: int | None = None, boot_timeout: float = 600) -> dict:
    """Power-cycle an instance on its own disk and ssh port, optionally with another vCPU count."""
    state = load_state(name)
    if not state:
        raise RuntimeError(f"{name}: no such instance")
    ssh(name, ["sync"], capture_output=True, check=False, timeout=120)
    halt(Path(state["dir"]))
    if cpus:
        state["cpus"] = cpus
    state.pop("loadvm", None)
    state["console_log"] = new_console_log(name)
    save_state(name, state)
    with launch_lock():
        error = launch(state)
    if error:
        raise RuntimeError(f"{name}: qemu would not start again: {error}")
    return wait_booted(name, state, boot_timeout)


def halt(directory: Path) -> None:
    """End the instance's supervisor and qemu (the supervisor first, so that it starts no new boot)."""
    if directory.exists():
        (directory / STOP_FLAG).touch()
    terminate([pid for pid in supervisor_pids(directory) if alive(pid)])
    terminate([pid for pid in qemu_pids(directory) if alive(pid)])


def terminate(pids: list[int], timeout: float = 20) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(alive(pid) for pid in pids):
            time.sleep(0.2)
        if not any(alive(pid) for pid in pids):
            return


def wait_exit(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return True
        time.sleep(0.5)
    return False


def stop(name: str, powerdown_timeout: float = 0) -> None:
    """Stop an instance (optionally asking the guest to power down first) and remove its overlay."""
    directory = instance_dir(name)
    state = load_state(name)
    # The command line names the instance directory (pidfile, monitor socket), so this
    # finds the process even when an interrupted start never wrote the pidfile.
    pids = {pid for pid in qemu_pids(directory) if alive(pid)}
    if pids and powerdown_timeout > 0:
        (directory / STOP_FLAG).touch()
        # qemu may end before its prompt comes back: the wait below is what counts
        with contextlib.suppress(OSError, RuntimeError):
            monitor_command(name, "system_powerdown", timeout=5)
        wait_exit(list(pids), powerdown_timeout)
    halt(directory)
    leftover = [pid for pid in qemu_pids(directory) + supervisor_pids(directory) if alive(pid)]
    if leftover:
        raise RuntimeError(f"{name}: qemu processes {leftover} would not die")
    if directory.exists():
        shutil.rmtree(directory)
    if state:
        log(f"{name}: stopped; console log kept at {state.get('console_log')}")


def monitor_command(name: str, command: str, timeout: float = 60) -> str:
    """Run one command in the instance's qemu monitor and return what it printed."""
    path = instance_dir(name) / "monitor.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))

        def until_prompt() -> bytes:
            seen = b""
            while not seen.rstrip().endswith(b"(qemu)"):
                chunk = sock.recv(4096)
                if not chunk:
                    raise RuntimeError(f"{name}: the qemu monitor closed during {command!r}")
                seen += chunk
            return seen

        until_prompt()
        sock.sendall(command.encode() + b"\n")
        return until_prompt().decode(errors="replace")


def instances() -> list[str]:
    if not run_dir().exists():
        return []
    return sorted(p.name for p in run_dir().iterdir() if p.is_dir() and not p.name.startswith("."))


def stop_all() -> None:
    for name in instances():
        stop(name)


def ssh(name: str, command: list[str], **kwargs) -> subprocess.CompletedProcess:
    state = load_state(name)
    if not state:
        raise RuntimeError(f"{name}: no such instance")
    return subprocess.run([*ssh_base_args(state["port"], state["identity_file"]), *command], **kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    p_start = sub.add_parser("start", help="boot an instance and wait for ssh")
    p_start.add_argument("name")
    p_start.add_argument("--image", required=True, type=Path, help="image directory (base.qcow2, id_ed25519)")
    p_start.add_argument("--memory", type=int, default=1024, help="MiB (default 1024)")
    p_start.add_argument("--cpus", type=int, default=2)
    p_start.add_argument("--boot-timeout", type=float, default=600)
    p_restart = sub.add_parser("restart", help="power-cycle an instance on its own disk and ssh port")
    p_restart.add_argument("name")
    p_restart.add_argument("--cpus", type=int, help="boot it with this many vCPUs")
    p_stop = sub.add_parser("stop", help="stop an instance and remove its overlay")
    p_stop.add_argument("name")
    p_stop.add_argument("--powerdown-timeout", type=float, default=0,
                        help="ask the guest to power down and wait this long before killing qemu")
    sub.add_parser("stop-all", help="stop every instance in the run directory")
    sub.add_parser("list", help="list instances")
    p_supervise = sub.add_parser("supervise", help="(internal) run an instance's qemu, one process per boot")
    p_supervise.add_argument("name")
    p_supervise.add_argument("--dir", help="the instance directory (so that stop finds this process)")
    p_ssh = sub.add_parser("ssh", help="run a command in an instance")
    p_ssh.add_argument("name")
    p_ssh.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.action == "start":
        try:
            state = start(args.name, args.image, args.memory, args.cpus, args.boot_timeout)
        except BaseException:
            # Also on Ctrl-C: a half-started instance must not outlive its start.
            with contextlib.suppress(Exception):
                stop(args.name)
            raise
        print(json.dumps(state))
    elif args.action == "restart":
        print(json.dumps(restart(args.name, args.cpus)))
    elif args.action == "stop":
        stop(args.name, args.powerdown_timeout)
    elif args.action == "stop-all":
        stop_all()
    elif args.action == "supervise":
        return supervise(args.name)
    elif args.action == "list":
        for name in instances():
            state = load_state(name)
            print(f"{name}\tport={state.get('port')}\tpid={state.get('pid')}\t{state.get('console_log')}")
    elif args.action == "ssh":
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        return ssh(args.name, command, check=False).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
