# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""The module oom.graceful_shutdown.registration on the fake device of conftest.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import stat
import os

import pytest

from ansible_collections.oom.graceful_shutdown.plugins.module_utils import registry
from ansible_collections.oom.graceful_shutdown.plugins.module_utils.registry import Entry
from ansible_collections.oom.graceful_shutdown.plugins.modules import registration

from ansible_collections.oom.graceful_shutdown.tests.unit.plugins.modules.module_harness import failure

HANDLER = "/usr/local/sbin/flush"
DECLARATION = registry.DECLARATION_DIR + "/telemetry.json"
DROPIN = "/etc/systemd/system/telemetry.service.d/50-graceful-shutdown-telemetry.conf"


@pytest.fixture
def run(run_module):
    """run(check_mode=False, diff=False, **args) -> result dict; raises ModuleFail on failure."""
    return lambda **args: run_module(registration, **args)


@pytest.fixture
def device(world):
    """A loaded module, the CLI, a safe handler and a running telemetry.service (PID 500, cgroup CGROUP)."""
    world.handler(HANDLER)
    world.install_cli()
    world.process(500, comm="telemetry", exe="/usr/bin/telemetry")
    world.service("telemetry.service", 500)
    return world


CGROUP = "/system.slice/telemetry.service"
SERVICE = dict(name="telemetry", service="telemetry", handler=HANDLER)  # the whole service, its cgroup
MAIN = dict(SERVICE, scope="main")  # its main process only


# -- argument validation ---------------------------------------------------------------------------

@pytest.mark.parametrize("args, why", [
    (dict(name="x", handler=HANDLER), "state is present but any of the following are missing: pid, pidfile, service, exe, comm"),
    (dict(name="x", pid=5), "handler"),
    (dict(name="x", pid=5, comm="a", handler=HANDLER), "mutually exclusive"),
    (dict(name="x", pid=5, handler=HANDLER, state="gone"), "value of state must be one of"),
    (dict(pid=5, handler=HANDLER), "missing required arguments: name"),
    (dict(name="x", pid="five", handler=HANDLER), "pid"),
    (dict(name="x", pid=5, handler=HANDLER, color="red"), "Unsupported parameters"),
])
def test_argument_validation(device, run, args, why):
    assert why in failure(run, **args)["msg"]


@pytest.mark.parametrize("args, why", [
    (dict(name="bad name", pid=500, handler=HANDLER), "registration name 'bad name' is invalid"),
    (dict(name="x", pid=500, handler=HANDLER, timeout_ms=0), "timeout_ms must be from 1 to 60000"),
    (dict(name="x", pid=500, handler=HANDLER, timeout_ms=60001), "timeout_ms must be from 1 to 60000"),
    (dict(name="x", comm="a" * 16, handler=HANDLER), "longer than 15"),
    (dict(name="x", service="x.timer", handler=HANDLER), "not a .service unit"),
])
def test_value_validation(device, run, args, why):
    assert why in failure(run, **args)["msg"]


# -- clear failures ---------------------------------------------------------------------------------

def test_module_not_loaded(device, run):
    device.unload()
    msg = failure(run, **SERVICE)["msg"]
    assert "not loaded" in msg and "role oom.graceful_shutdown.lkm or modprobe graceful_shutdown" in msg


def test_check_mode_on_a_device_without_the_module_and_the_cli(device, run):
    """A fresh device in a dry run of site.yml: the lkm and registrations roles would install
    both first, so the registration is planned against an empty table, not refused."""
    device.unload()
    os.unlink(str(device.path(registry.CLI)))
    result = run(check_mode=True, diff=True, **SERVICE)
    assert result["changed"] is True
    assert result["registered"] == ["cgroup=%s %s timeout_ms=3000" % (CGROUP, HANDLER)]
    assert "not loaded yet" in result["msg"]
    assert "ExecStartPost=-+/usr/sbin/oomgs-register" in result["diff"]["after"]
    assert device.writes == [] and device.read(DECLARATION) is None
    assert "not loaded" in failure(run, **SERVICE)["msg"]  # a real run still refuses


def test_process_missing(device, run):
    device.stop("telemetry.service")
    msg = failure(run, **SERVICE)["msg"]
    assert msg.startswith("process missing: service telemetry.service is not running (no ControlGroup; "
                          "ActiveState=inactive LoadState=loaded)")
    assert "allow_missing" in msg
    msg = failure(run, **MAIN)["msg"]
    assert msg.startswith("process missing: service telemetry.service has no main process (MainPID=0")
    assert "allow_missing" in msg
    msg = failure(run, name="x", pidfile="/run/x.pid", handler=HANDLER)["msg"]
    assert "pidfile /run/x.pid cannot be read" in msg
    msg = failure(run, name="x", comm="nope", handler=HANDLER)["msg"]
    assert "no process has the command name 'nope'" in msg
    assert device.writes == []
    assert device.read(DECLARATION) is None


def test_unsafe_handler_lists_every_problem(device, run):
    device.handler("/opt/app/flush", mode=0o777)
    device.owners["/opt/app"] = 1000
    result = failure(run, name="x", pid=500, handler="/opt/app/flush")
    assert len(result["problems"]) == 2
    assert "(1) directory /opt/app is owned by uid 1000" in result["msg"]
    assert "(2) handler /opt/app/flush is writable by group or others (mode 0777)" in result["msg"]
    assert device.writes == []


def test_service_needs_the_cli(device, run):
    os.unlink(str(device.path(registry.CLI)))
    msg = failure(run, **SERVICE)["msg"]
    assert "/usr/sbin/oomgs-register" in msg and "apply role oom.graceful_shutdown.registrations" in msg
    result = run(persist=False, **SERVICE)  # not persisted: no drop-in, no CLI needed
    assert result["changed"] and result["dropin"] is None


def test_other_selectors_only_warn_without_the_cli(device, run):
    os.unlink(str(device.path(registry.CLI)))
    result = run(name="t", comm="telemetry", handler=HANDLER)
    assert result["changed"]
    assert any("oomgs-register is missing" in w for w in result["warnings"])


def test_conflicting_declaration(device, run):
    device.handler("/usr/local/sbin/other")
    run(name="by-comm", comm="telemetry", handler="/usr/local/sbin/other")
    result = failure(run, **MAIN)
    assert "PID 500 is also matched by declaration by-comm (handler /usr/local/sbin/other, timeout_ms=3000)" in result["msg"]
    assert run(name="same", exe="/usr/bin/telemetry", handler="/usr/local/sbin/other")["changed"]


def test_signal_and_reserve_are_registered_declared_and_idempotent(device, run):
    result = run(signal="TERM", reserve_kb=32768, **SERVICE)
    assert result["changed"] is True
    assert result["registered"] == ["cgroup=%s %s timeout_ms=3000 signal=TERM reserve_kb=32768" % (CGROUP, HANDLER)]
    declared = json.loads(device.read(DECLARATION))
    assert (declared["signal"], declared["reserve_kb"]) == ("TERM", 32768)
    assert run(signal="TERM", reserve_kb=32768, **SERVICE)["changed"] is False
    # dropping them is a change, and the declaration no longer has them
    assert run(**SERVICE)["registered"] == ["cgroup=%s %s timeout_ms=3000" % (CGROUP, HANDLER)]
    assert "signal" not in json.loads(device.read(DECLARATION))


def test_early_mode_is_registered_declared_and_idempotent(device, run):
    result = run(mode="early", early_threshold=85, then="term", **SERVICE)
    assert result["changed"] is True
    assert result["registered"] == ["500 %s timeout_ms=3000 early=85 then=term" % HANDLER]
    declared = json.loads(device.read(DECLARATION))
    assert (declared["early"], declared["then"]) == (85, "term")
    assert run(mode="early", early_threshold=85, then="term", **SERVICE)["changed"] is False
    assert run(mode="early", **SERVICE)["registered"] == ["500 %s timeout_ms=3000 early=90 then=kill" % HANDLER]
    # back to grace: the whole service by default now, so the main process's line goes
    result = run(**SERVICE)
    assert result["registered"] == ["cgroup=%s %s timeout_ms=3000" % (CGROUP, HANDLER)]
    assert result["unregistered"] == [500] and result["scope"] == "service"
    assert "early" not in json.loads(device.read(DECLARATION))
    # and back to the main process only in grace mode
    assert run(**MAIN)["registered"] == ["500 %s timeout_ms=3000" % HANDLER]
    assert device.lines() == [Entry(500, HANDLER, 3000)]


def test_early_mode_options_are_checked(device, run):
    assert "early_threshold must be from 50 to 99" in failure(run, mode="early", early_threshold=100, **SERVICE)["msg"]
    assert "set mode: early as well" in failure(run, then="continue", **SERVICE)["msg"]


def test_reserve_out_of_range(device, run):
    assert "reserve_kb must be from 0 to 1048576" in failure(run, reserve_kb=1048577, **SERVICE)["msg"]


def test_a_declaration_with_another_signal_conflicts(device, run):
    run(name="by-comm", comm="telemetry", handler=HANDLER, signal="INT")
    result = failure(run, signal="TERM", **MAIN)
    assert "(handler %s, timeout_ms=3000, signal=INT)" % HANDLER in result["msg"]


def test_write_error(device, run):
    device.write_errors = [errno.ENOSPC]
    result = failure(run, **SERVICE)
    assert result["errno"] == "ENOSPC" and "the table is full" in result["msg"]
    assert result["lines"] == ["cgroup=%s %s timeout_ms=3000" % (CGROUP, HANDLER)]
    assert device.read(DECLARATION) is None  # the files follow a successful write only


# -- state=present ----------------------------------------------------------------------------------

def test_service_registration_is_persisted_and_idempotent(device, run):
    result = run(**SERVICE)
    assert result["changed"] is True
    assert result["pids"] == [] and result["cgroups"] == [CGROUP] and result["scope"] == "service"
    assert result["registered"] == ["cgroup=%s %s timeout_ms=3000" % (CGROUP, HANDLER)]
    assert result["selector"] == {"service": "telemetry.service"}
    assert result["declaration"] == str(device.path(DECLARATION))
    assert result["dropin"] == str(device.path(DROPIN))
    assert result["persisted"] is True and result["backend"] == "hook"
    assert device.lines() == [Entry(None, HANDLER, 3000, cgroup=CGROUP)]
    assert json.loads(device.read(DECLARATION)) == {
        "name": "telemetry", "selector": {"service": "telemetry.service"}, "scope": "service", "handler": HANDLER,
        "timeout_ms": 3000}
    assert stat.S_IMODE(os.stat(str(device.path(DECLARATION))).st_mode) == 0o600
    assert device.read(DROPIN) == registry.dropin_text("telemetry")
    assert ["systemctl", "daemon-reload"] in device.calls

    device.calls[:] = []
    again = run(**SERVICE)
    assert again["changed"] is False and again["registered"] == []
    assert ["systemctl", "daemon-reload"] not in device.calls
    assert len(device.writes) == 1


def test_a_dropin_of_an_earlier_version_is_rewritten_then_left_alone(device, run):
    """Versions before the package oomgs-registrations ran the CLI from /usr/local/sbin: a rerun
    of the role rewrites such a drop-in, reports it, reloads systemd, and changes nothing after."""
    run(**SERVICE)
    old_text = registry.dropin_text("telemetry").replace(registry.CLI, "/usr/local/sbin/oomgs-register")
    assert old_text != registry.dropin_text("telemetry")
    device.file(DROPIN, old_text)
    device.calls[:] = []
    result = run(diff=True, **SERVICE)
    assert result["changed"] is True and result["registered"] == []  # the live registration stays
    assert device.read(DROPIN) == registry.dropin_text("telemetry")
    assert "ExecStartPost=-+/usr/local/sbin/oomgs-register" in result["diff"]["before"]
    assert "ExecStartPost=-+/usr/sbin/oomgs-register" in result["diff"]["after"]
    assert ["systemctl", "daemon-reload"] in device.calls
    device.calls[:] = []
    assert run(**SERVICE)["changed"] is False
    assert run(check_mode=True, **SERVICE)["changed"] is False
    assert ["systemctl", "daemon-reload"] not in device.calls


def test_timeout_change_re_registers(device, run):
    run(**MAIN)
    result = run(timeout_ms=1500, diff=True, **MAIN)
    assert result["changed"] and result["registered"] == ["500 %s timeout_ms=1500" % HANDLER]
    assert device.lines() == [Entry(500, HANDLER, 1500)]
    assert '"timeout_ms": 3000' in result["diff"]["before"] and '"timeout_ms": 1500' in result["diff"]["after"]
    assert "500 %s timeout_ms=3000" % HANDLER in result["diff"]["before"]
    assert "500 %s timeout_ms=1500" % HANDLER in result["diff"]["after"]


def test_check_mode_changes_nothing(device, run):
    result = run(check_mode=True, diff=True, **SERVICE)
    assert result["changed"] is True
    assert result["registered"] == ["cgroup=%s %s timeout_ms=3000" % (CGROUP, HANDLER)]
    assert device.writes == [] and device.read(DECLARATION) is None and device.read(DROPIN) is None
    assert ["systemctl", "daemon-reload"] not in device.calls
    diff = result["diff"]
    assert diff["before"] == "# %s\n" % (device.proc / "graceful_shutdown")
    assert diff["after"].startswith("# %s\n{\n" % device.path(DECLARATION))
    assert "ExecStartPost=-+/usr/sbin/oomgs-register apply --name telemetry --pid $MAINPID" in diff["after"]
    assert diff["after"].endswith("cgroup=%s %s timeout_ms=3000\n" % (CGROUP, HANDLER))
    run(**SERVICE)
    assert run(check_mode=True, **SERVICE)["changed"] is False


def test_pid_is_never_persisted(device, run):
    result = run(name="adhoc", pid=500, handler=HANDLER)
    assert result["changed"] and result["persisted"] is False
    assert result["declaration"] is None and result["dropin"] is None
    assert "never persisted" in result["msg"]
    assert device.read(registry.DECLARATION_DIR + "/adhoc.json") is None
    assert run(name="adhoc", pid=500, handler=HANDLER)["changed"] is False


def test_exe_and_comm_register_every_match(device, run):
    device.process(501, comm="telemetry", exe="/usr/bin/telemetry (deleted)")
    device.kthread(3, comm="telemetry")
    result = run(name="t", exe="/usr/bin/telemetry", handler=HANDLER, timeout_ms=200)
    assert result["pids"] == [500, 501]
    assert device.writes == ["500 {0} timeout_ms=200\n501 {0} timeout_ms=200\n".format(HANDLER)]
    assert run(name="t", comm="telemetry", handler=HANDLER, timeout_ms=200)["changed"] is True  # declaration changed
    assert len(device.writes) == 1  # same PIDs, same lines


def test_allow_missing_declares_without_a_process(device, run):
    result = run(name="later", pidfile="/run/later.pid", handler=HANDLER, allow_missing=True)
    assert result["changed"] and result["pids"] == [] and device.writes == []
    assert "no process matches now" in result["msg"]
    assert json.loads(device.read(registry.DECLARATION_DIR + "/later.json"))["selector"] == {"pidfile": "/run/later.pid"}
    assert run(name="later", pidfile="/run/later.pid", handler=HANDLER, allow_missing=True)["changed"] is False


def test_persist_false_removes_an_earlier_declaration(device, run):
    run(**SERVICE)
    result = run(persist=False, **SERVICE)
    assert result["changed"] and result["declaration"] is None and result["dropin"] is None
    assert device.read(DECLARATION) is None and device.read(DROPIN) is None
    assert device.lines() == [Entry(None, HANDLER, 3000, cgroup=CGROUP)]


def test_selector_change_moves_the_dropin_and_unregisters_old_matches(device, run):
    run(**MAIN)
    device.process(600, comm="other")
    device.service("other.service", 600)
    result = run(name="telemetry", service="other", handler=HANDLER, scope="main")
    assert result["changed"] and result["unregistered"] == [500]
    assert device.lines() == [Entry(600, HANDLER, 3000)]
    assert device.read(DROPIN) is None
    assert device.read("/etc/systemd/system/other.service.d/50-graceful-shutdown-telemetry.conf") is not None
    assert not device.path("/etc/systemd/system/telemetry.service.d").exists()


def test_invalid_existing_declaration_is_replaced(device, run):
    device.file(DECLARATION, "{broken", 0o600)
    result = run(**SERVICE)
    assert result["changed"] and len(result["warnings"]) == 1 and "is invalid" in result["warnings"][0]
    assert json.loads(device.read(DECLARATION))["name"] == "telemetry"


# -- state=absent -----------------------------------------------------------------------------------

def test_absent_by_name_removes_everything(device, run):
    run(**SERVICE)
    result = run(name="telemetry", state="absent", diff=True)
    assert result["changed"] and result["unregistered_cgroups"] == [CGROUP] and result["cgroups"] == [CGROUP]
    assert result["unregistered"] == [] and result["pids"] == []
    assert device.lines() == []
    assert device.read(DECLARATION) is None and device.read(DROPIN) is None
    assert device.calls.count(["systemctl", "daemon-reload"]) == 2
    assert result["diff"]["after"] == "# %s\n" % (device.proc / "graceful_shutdown")
    assert "ExecStartPost" in result["diff"]["before"]
    again = run(name="telemetry", state="absent")
    assert again["changed"] is False and again["unregistered"] == [] and again["unregistered_cgroups"] == []


def test_absent_check_mode(device, run):
    run(**MAIN)
    result = run(name="telemetry", state="absent", check_mode=True)
    assert result["changed"] and result["unregistered"] == [500]
    assert device.lines() == [Entry(500, HANDLER, 3000)] and device.read(DECLARATION) is not None


def test_absent_when_the_process_is_gone(device, run):
    run(**SERVICE)
    device.kill(500)
    device.services["telemetry.service"] = 0
    result = run(name="telemetry", state="absent")
    assert result["changed"] and result["unregistered"] == [] and device.read(DECLARATION) is None


def test_absent_undeclared_pid(device, run):
    device.register(500, "/usr/local/sbin/manual", 10)
    result = run(name="undeclared", pid=500, state="absent")
    assert result["changed"] and result["unregistered"] == [500] and device.lines() == []
    assert device.writes == ["-500\n"]
    assert run(name="undeclared", pid=500, state="absent")["changed"] is False
    assert run(name="undeclared", pid=12345, state="absent")["changed"] is False


def test_absent_keeps_pids_of_other_declarations(device, run):
    run(**MAIN)
    result = run(name="undeclared", pid=500, state="absent")
    assert result["changed"] is False and device.lines() == [Entry(500, HANDLER, 3000)]
    assert any("belongs to declaration(s) telemetry" in w for w in result["warnings"])


def test_absent_without_the_module_removes_the_files(device, run):
    run(**SERVICE)
    device.unload()
    result = run(name="telemetry", state="absent")
    assert result["changed"] and result["backend"] is None
    assert device.read(DECLARATION) is None and device.read(DROPIN) is None


def test_absent_needs_no_cli_on_the_device(device, run):
    """The uninstall role removes the declarations through this module, then purges the package
    with the CLI; a device whose CLI is already gone (or was never there) is no obstacle."""
    run(**SERVICE)
    os.unlink(str(device.path(registry.CLI)))
    result = run(name="telemetry", state="absent")
    assert result["changed"] and result["unregistered_cgroups"] == [CGROUP]
    assert device.read(DECLARATION) is None and device.read(DROPIN) is None
    assert device.lines() == [] and not result.get("warnings")


def test_absent_without_selector_or_declaration_is_a_no_op(device, run):
    result = run(name="never-declared", state="absent")
    assert result["changed"] is False and result["pids"] == []
