"""The grub role after converge with grub_reboot_ok (cgroup v1): drop-in, grub.cfg, /proc/cmdline."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
DEFAULTS = yaml.safe_load((ROOT / "roles" / "grub" / "defaults" / "main.yml").read_text())
DROPIN = DEFAULTS["grub_dropin"]
# converge.yml asks for cgroup v1, and the grub role follows cgroups_version.
WANTED = DEFAULTS["grub_cmdline_flags"] + ["systemd.unified_cgroup_hierarchy=0"]


def test_the_dropin_appends_the_flags(host):
    dropin = host.file(DROPIN)
    assert dropin.user == "root" and dropin.mode == 0o644
    lines = [line for line in dropin.content_string.splitlines() if not line.startswith("#")]
    assert lines == ['GRUB_CMDLINE_LINUX="${GRUB_CMDLINE_LINUX} ' + " ".join(WANTED) + '"'], lines


def test_etc_default_grub_is_unchanged(host):
    before = host.file("/var/lib/oomgs-tests/grub-cmdline-line-prepare").content_string
    assert re.findall(r"(?m)^GRUB_CMDLINE_LINUX=.*\n", host.file("/etc/default/grub").content_string) == [before]
    sums = host.file("/var/lib/oomgs-tests/grub-files-prepare.sha256").content_string
    (grub_sum,) = [line.split()[0] for line in sums.splitlines() if line.endswith("/etc/default/grub")]
    assert host.file("/etc/default/grub").sha256sum == grub_sum


def test_every_kernel_entry_of_grub_cfg_has_the_flags(host):
    grub_cfg = host.file("/boot/grub/grub.cfg").content_string
    linux_lines = re.findall(r"(?m)^\s*linux\s.*$", grub_cfg)
    assert linux_lines, "no kernel entries in grub.cfg"
    for line in linux_lines:
        words = line.split()
        missing = [flag for flag in WANTED if flag not in words]
        assert not missing, f"{missing} not on: {line.strip()}"
        # appended: the flags of the earlier drop-ins (the test bed's serial console) are still there
        assert "console=ttyS0,115200n8" in words, line


def test_the_device_rebooted_and_runs_with_the_flags(host):
    assert (
        host.file("/proc/sys/kernel/random/boot_id").content_string
        != host.file("/var/lib/oomgs-tests/boot-id-prepare").content_string
    ), "converge did not reboot the device"
    cmdline = host.file("/proc/cmdline").content_string.split()
    missing = [flag for flag in WANTED if flag not in cmdline]
    assert not missing, f"{missing} not in /proc/cmdline: {cmdline}"
    assert "console=ttyS0,115200n8" in cmdline

