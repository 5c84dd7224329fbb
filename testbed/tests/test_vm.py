import pytest

import vm


def state(tmp_path, **extra):
    base = {"name": "t1", "dir": str(tmp_path / "t1"), "memory_mb": 512, "cpus": 1, "port": 2222,
            "disk": str(tmp_path / "t1" / "overlay.qcow2"), "console_log": str(tmp_path / "t1.console.log")}
    base.update(extra)
    return base


def test_qemu_command_uses_tcg_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("OOMGS_VM_ACCEL", raising=False)
    cmd = vm.qemu_command(state(tmp_path))
    assert cmd[cmd.index("-accel") + 1].startswith("tcg")
    assert cmd[cmd.index("-m") + 1] == "512"
    assert "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:2222-:22" in cmd
    assert f"file,id=console,path={tmp_path / 't1.console.log'},append=on" in cmd
    assert "-no-reboot" in cmd  # a guest reboot ends the process: the supervisor starts a new one


def test_qemu_command_resumes_a_snapshot_only_when_asked(tmp_path):
    assert "-loadvm" not in vm.qemu_command(state(tmp_path))
    cmd = vm.qemu_command(state(tmp_path, loadvm="booted"))
    assert cmd[cmd.index("-loadvm") + 1] == "booted"


def test_two_images_boot_their_snapshots_in_instances_of_their_own(tmp_path):
    # sensor-17 (Debian 12) and sensor-18 (Debian 13) start at the same time with the same size
    names = {vm.template_instance_name(tmp_path / image, 1024, 1) for image in ("debian12-x", "debian13-y")}
    assert len(names) == 2
    for name in names:
        vm.instance_dir(name)  # a valid instance name


def test_qemu_command_kvm_on_request(tmp_path, monkeypatch):
    monkeypatch.setenv("OOMGS_VM_ACCEL", "kvm")
    cmd = vm.qemu_command(state(tmp_path))
    assert cmd[cmd.index("-accel") + 1] == "kvm"


def test_every_qemu_argument_naming_files_is_inside_the_instance_dir_or_log(tmp_path):
    # stop() finds qemu by the instance directory in its command line.
    cmd = " ".join(vm.qemu_command(state(tmp_path)))
    assert f"{tmp_path / 't1'}/qemu.pid" in cmd
    assert f"{tmp_path / 't1'}/monitor.sock" in cmd
    assert f"{tmp_path / 't1'}/" in vm.supervisor_command(state(tmp_path))


@pytest.mark.parametrize("tail, powered_off", [
    (b"[ 9.1] reboot: Power down\n", True),
    (b"[ 9.1] reboot: Restarting system\n", False),
    (b"[ 1.0] reboot: Power down\n... a new boot ...\n[ 9.1] reboot: Restarting system\n", False),
    (b"[ 5.0] Kernel panic - not syncing: oops\n[ 5.1] Rebooting in 10 seconds..\n", False),
    (b"", False),
])
def test_only_a_guest_power_off_ends_the_supervisor(tmp_path, tail, powered_off):
    log = tmp_path / "console.log"
    log.write_bytes(b"x" * 10000 + tail)
    assert vm.guest_powered_off(str(log)) is powered_off


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden"])
def test_bad_instance_names_are_refused(name):
    with pytest.raises(ValueError):
        vm.instance_dir(name)


def test_stop_of_unknown_instance_is_harmless(tmp_path, monkeypatch):
    monkeypatch.setenv("OOMGS_VM_RUN_DIR", str(tmp_path))
    vm.stop("never-started")
    assert vm.instances() == []


def test_free_port_is_bindable():
    import socket
    port = vm.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
