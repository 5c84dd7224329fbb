"""The package oomgs-registrations (files/packaging/build-registrations-deb.sh) and what the
registrations role and the library assume of it: where the CLI and the library are, the timer's
interval, a cache hit for the same files and a new version for changed ones, the same bytes from
two builds."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.oom.graceful_shutdown.plugins.module_utils import registry_system

COLLECTION = Path(__file__).resolve().parents[3]
SCRIPT = COLLECTION / "files" / "packaging" / "build-registrations-deb.sh"
FILES = COLLECTION / "roles" / "registrations" / "files"
ROLE_VARS = yaml.safe_load((COLLECTION / "roles" / "registrations" / "vars" / "main.yml").read_text())
ROLE_DEFAULTS = yaml.safe_load((COLLECTION / "roles" / "registrations" / "defaults" / "main.yml").read_text())
LIBRARY = sorted(p.name for p in (COLLECTION / "plugins" / "module_utils").glob("registry*.py"))

needs_dpkg_deb = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed")


def unit_setting(unit, key):
    return [line.split("=", 1)[1] for line in (FILES / unit).read_text().splitlines() if line.startswith(key + "=")]


def test_the_timer_runs_at_the_interval_the_role_takes_for_the_packaged_one():
    interval = ROLE_VARS["__registrations_packaged_interval"]
    assert unit_setting("oomgs-registrations.timer", "OnBootSec") == [interval]
    assert unit_setting("oomgs-registrations.timer", "OnUnitActiveSec") == [interval]
    assert ROLE_DEFAULTS["registrations_reconcile_interval"] == interval  # no drop-in by default


def test_the_units_and_the_drop_ins_run_the_packaged_cli():
    assert ROLE_VARS["__registrations_cli"] == registry_system.CLI == "/usr/sbin/oomgs-register"
    assert unit_setting("oomgs-registrations.service", "ExecStart") == [registry_system.CLI + " apply"]
    assert sorted(ROLE_VARS["__registrations_units"]) == sorted(p.name for p in FILES.glob("oomgs-registrations.*"))


def test_the_cli_looks_for_its_library_where_the_package_puts_it():
    assert 'os.environ.get("OOMGS_LIBDIR") or "/usr/lib/oomgs"' in (FILES / "oomgs-register").read_text()


def build(cache, source_root=COLLECTION):
    done = subprocess.run([str(SCRIPT), "build", "--source-root", str(source_root), "--cache", str(cache)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip()), done.stderr


def dpkg_deb(*args):
    return subprocess.run(["dpkg-deb"] + list(args), capture_output=True, text=True, check=True).stdout


@needs_dpkg_deb
def test_the_package(tmp_path):
    deb, said = build(tmp_path / "cache")
    assert said.startswith("build-registrations-deb.sh: built ")
    fields = {key: dpkg_deb("-f", str(deb), key).strip() for key in ("Package", "Version", "Architecture", "Depends")}
    version = re.match(r"^([0-9.~+a-zA-Z-]+)\+([0-9a-f]{16})$", fields["Version"])
    assert version, fields
    assert deb.name == "oomgs-registrations_%s_all.deb" % fields["Version"]
    assert deb.parent.name == version.group(2)  # the cache key
    assert fields["Package"] == "oomgs-registrations" and fields["Architecture"] == "all"
    assert fields["Depends"] == "python3"

    listing = {}
    for line in dpkg_deb("-c", str(deb)).splitlines():
        mode, owner, _size, _day, _time, path = line.split(None, 5)
        listing[path] = (mode, owner)
    assert {owner for _mode, owner in listing.values()} == {"root/root"}
    files = {path[1:]: mode for path, (mode, _owner) in listing.items() if not path.endswith("/")}
    assert files == dict(
        [("/usr/sbin/oomgs-register", "-rwxr-xr-x"),
         ("/usr/lib/systemd/system/oomgs-registrations.service", "-rw-r--r--"),
         ("/usr/lib/systemd/system/oomgs-registrations.timer", "-rw-r--r--")]
        + [("/usr/lib/oomgs/oomgs_registry/" + name, "-rw-r--r--") for name in LIBRARY])
    assert {mode for path, (mode, _owner) in listing.items() if path.endswith("/")} == {"drwxr-xr-x"}

    # no maintainer script that enables or starts a unit (the role does)
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(control)], check=True)
    assert sorted(p.name for p in control.iterdir()) == ["control", "md5sums", "prerm"]
    assert "systemctl" not in (control / "prerm").read_text()

    # the packaged files are the collection's, unchanged
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    assert (root / "usr/sbin/oomgs-register").read_bytes() == (FILES / "oomgs-register").read_bytes()
    for name in LIBRARY:
        assert (root / "usr/lib/oomgs/oomgs_registry" / name).read_bytes() == \
            (COLLECTION / "plugins/module_utils" / name).read_bytes()

    # the CLI imports the packaged library (OOMGS_LIBDIR: the package's /usr/lib/oomgs, unpacked here)
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "graceful_shutdown").write_text("")
    listed = subprocess.run([sys.executable, "-I", str(root / "usr/sbin/oomgs-register"), "list", "--json"],
                            env=dict(os.environ, OOMGS_LIBDIR=str(root / "usr/lib/oomgs"), OOMGS_PROC=str(proc),
                                     OOMGS_ROOT=str(tmp_path / "empty")),
                            capture_output=True, text=True, check=False)
    assert listed.returncode == 0 and listed.stdout == "[]\n", listed.stderr

    # the same files: a cache hit; another cache: the same bytes
    again, said = build(tmp_path / "cache")
    assert again == deb and said.startswith("build-registrations-deb.sh: cache hit ")
    other, _said = build(tmp_path / "other-cache")
    assert other.name == deb.name and other.read_bytes() == deb.read_bytes()


@needs_dpkg_deb
def test_a_changed_file_makes_a_new_version(tmp_path):
    """Also a collection as ansible-galaxy installs it: MANIFEST.json, no galaxy.yml."""
    source = tmp_path / "collection"
    shutil.copytree(FILES, source / "roles" / "registrations" / "files")
    (source / "plugins" / "module_utils").mkdir(parents=True)
    for name in LIBRARY:
        shutil.copy(COLLECTION / "plugins" / "module_utils" / name, source / "plugins" / "module_utils" / name)
    (source / "MANIFEST.json").write_text('{"collection_info": {"version": "2.0.0-rc.1"}}')
    first, _said = build(tmp_path / "cache", source)
    assert first.name.startswith("oomgs-registrations_2.0.0~rc.1+")
    timer = source / "roles" / "registrations" / "files" / "oomgs-registrations.timer"
    timer.write_text(timer.read_text().replace("AccuracySec=1s", "AccuracySec=2s"))
    second, said = build(tmp_path / "cache", source)
    assert "built" in said and second.parent != first.parent and second.name != first.name
    (source / "MANIFEST.json").write_text('{"collection_info": {"version": "2.0.0"}}')
    third, said = build(tmp_path / "cache", source)
    assert "built" in said and third.name.startswith("oomgs-registrations_2.0.0+") and third.parent != second.parent
