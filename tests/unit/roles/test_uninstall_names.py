"""The uninstall role names what the other roles install; roles cannot read each other's vars, so
the names are written twice. These checks keep the uninstall role's copies equal to the originals."""

import os
from pathlib import Path

import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"


def role_vars(role):
    return yaml.safe_load((ROLES / role / "vars" / "main.yml").read_text())


UNINSTALL = role_vars("uninstall")


def test_the_cgroups_drop_in_and_v1_units_are_the_cgroups_roles():
    cgroups = role_vars("cgroups")
    assert UNINSTALL["__uninstall_cgroups_dropin"] == cgroups["__cgroups_dropin_name"]
    assert UNINSTALL["__uninstall_v1_units"] == cgroups["__cgroups_v1_units"]


def test_the_runner_unit_is_the_one_the_daemon_role_templates():
    assert (ROLES / "daemon" / "templates" / (UNINSTALL["__uninstall_runner_unit"] + ".j2")).is_file()


def test_the_reconciler_units_are_the_ones_the_registrations_package_installs():
    packaged = sorted(p.name for p in (ROLES / "registrations" / "files").glob("oomgs-registrations.*"))
    assert sorted(UNINSTALL["__uninstall_reconciler_units"]) == packaged == sorted(role_vars("registrations")["__registrations_units"])


def test_the_timer_drop_in_folder_is_the_registrations_roles():
    dropin = role_vars("registrations")["__registrations_interval_dropin"]
    assert "'%s'" % os.path.dirname(dropin) in (ROLES / "uninstall" / "vars" / "main.yml").read_text()


def test_the_device_package_folder_is_the_roles_default():
    for role, option in [("kernel", "kernel_device_deb_dir"), ("lkm", "lkm_device_deb_dir"),
                         ("daemon", "daemon_device_deb_dir"), ("registrations", "registrations_device_deb_dir")]:
        defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
        assert defaults[option].startswith(UNINSTALL["__uninstall_cache"]), (role, option, defaults[option])
