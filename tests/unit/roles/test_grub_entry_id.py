"""roles/kernel/files/grub-entry-id against a grub.cfg that Debian 12's update-grub wrote in a test VM."""

import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SCRIPT = HERE.parents[2] / "roles" / "kernel" / "files" / "grub-entry-id"
GRUB_CFG = HERE / "debian12-grub.cfg"
UUID = "332ac930-ca68-41b4-b4be-8807d653be28"


def entry_id(release):
    return subprocess.run([str(SCRIPT), release, str(GRUB_CFG)], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("release", ["6.1.192-oomgs", "6.1.0-50-amd64"])
def test_finds_the_advanced_entry_inside_the_submenu(release):
    result = entry_id(release)
    assert result.returncode == 0
    assert result.stdout.strip() == f"gnulinux-advanced-{UUID}>gnulinux-{release}-advanced-{UUID}"


@pytest.mark.parametrize("release", ["6.1.0", "6.1.192", "6.12.1-oomgs", "6.1.192-oomg"])
def test_unknown_or_partial_release_is_not_found(release):
    result = entry_id(release)
    assert result.returncode == 1 and result.stdout == ""
