# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Whole-service registrations (the service selector's scope) of oom.graceful_shutdown.registration
and what registration_info says of them, on the fake device of conftest.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.oom.graceful_shutdown.plugins.module_utils import registry
from ansible_collections.oom.graceful_shutdown.plugins.module_utils.registry import Entry
from ansible_collections.oom.graceful_shutdown.plugins.modules import registration, registration_info

from ansible_collections.oom.graceful_shutdown.tests.unit.plugins.modules.module_harness import ModuleFail, failure

HANDLER = "/usr/local/sbin/flush"
CGROUP = "/system.slice/telemetry.service"
DECLARATION = registry.DECLARATION_DIR + "/telemetry.json"
DROPIN = "/etc/systemd/system/telemetry.service.d/50-graceful-shutdown-telemetry.conf"
SERVICE = dict(name="telemetry", service="telemetry", handler=HANDLER)


def whole(cgroup=CGROUP, *options, **keywords):
    return Entry(None, HANDLER, *(options or (3000,)), cgroup=cgroup, **keywords)


@pytest.fixture
def run(run_module):
    return lambda **args: run_module(registration, **args)


@pytest.fixture
def info(run_module):
    return lambda **args: run_module(registration_info, **args)


def failure(run, **args):
    with pytest.raises(ModuleFail) as failed:
        run(**args)
    return failed.value.args[0]


@pytest.fixture
def device(world):
    """A loaded module, the CLI, a safe handler and telemetry.service: main PID 500 and a worker, 501."""
    world.handler(HANDLER)
    world.install_cli()
    world.process(500, comm="telemetry", exe="/usr/bin/telemetry")
    world.process(501, comm="worker", exe="/usr/bin/telemetry")
    world.service("telemetry.service", 500)
    return world


def test_a_service_is_registered_whole_by_default(device, run):
    result = run(diff=True, **SERVICE)
    assert result["changed"] and result["scope"] == "service"
    assert result["registered"] == ["cgroup=%s %s timeout_ms=3000" % (CGROUP, HANDLER)]
    assert result["cgroups"] == [CGROUP] and result["pids"] == []
    assert device.lines() == [whole()]
    assert json.loads(device.read(DECLARATION))["scope"] == "service"
    # the same drop-in as for the main process: oomgs-register asks systemd for the cgroup
    assert device.read(DROPIN) == registry.dropin_text("telemetry")
    assert result["diff"]["after"].endswith("cgroup=%s %s timeout_ms=3000\n" % (CGROUP, HANDLER))
    again = run(**SERVICE)
    assert again["changed"] is False and again["registered"] == [] and len(device.writes) == 1


def test_user_and_capabilities_on_a_whole_service(device, run):
    result = run(user="data-logger", capabilities=["CAP_KILL"], **SERVICE)
    assert result["registered"] == ["cgroup=%s %s timeout_ms=3000 user=998:997 caps=20" % (CGROUP, HANDLER)]
    assert run(user="data-logger", capabilities=["CAP_KILL"], **SERVICE)["changed"] is False
    # without user=, the kernel runs the handler as the victim's owner: nothing to resolve here
    assert run(**SERVICE)["registered"] == ["cgroup=%s %s timeout_ms=3000" % (CGROUP, HANDLER)]


def test_scope_main_and_early_mode_register_the_main_process(device, run):
    result = run(scope="main", **SERVICE)
    assert result["registered"] == ["500 %s timeout_ms=3000" % HANDLER] and result["scope"] == "main"
    assert result["pids"] == [500] and result["cgroups"] == []
    result = run(mode="early", **SERVICE)  # early mode: main by default
    assert result["registered"] == ["500 %s timeout_ms=3000 early=90 then=kill" % HANDLER]
    assert result["scope"] == "main" and json.loads(device.read(DECLARATION))["scope"] == "main"
    assert device.lines() == [Entry(500, HANDLER, 3000, None, 0, 90, "kill")]


@pytest.mark.parametrize("args, why", [
    (dict(SERVICE, scope="service", mode="early"),
     "scope: service registers the unit's whole cgroup, and mode: early covers one process: use scope: main"),
    (dict(name="t", comm="telemetry", handler=HANDLER, scope="main"),
     "scope is for the service selector only (the unit's whole cgroup or its main process), not for comm"),
    (dict(SERVICE, scope="unit"), "value of scope must be one of: service, main"),
    (dict(SERVICE, cgroup=CGROUP), "mutually exclusive"),
    (dict(name="t", cgroup=CGROUP, handler=HANDLER), "missing: pid, pidfile, service, exe, comm"),
])
def test_scope_errors(device, run, args, why):
    assert why in failure(run, **args)["msg"]
    assert device.writes == [] and device.read(DECLARATION) is None


def test_a_scope_change_moves_the_registration(device, run):
    run(scope="main", **SERVICE)
    result = run(**SERVICE)
    assert result["registered"] == ["cgroup=%s %s timeout_ms=3000" % (CGROUP, HANDLER)]
    assert result["unregistered"] == [500] and result["unregistered_cgroups"] == []
    assert device.lines() == [whole()]
    assert device.writes[-1] == "-500\ncgroup=%s %s timeout_ms=3000\n" % (CGROUP, HANDLER)  # one write
    result = run(scope="main", **SERVICE)
    assert result["unregistered_cgroups"] == [CGROUP] and device.lines() == [Entry(500, HANDLER, 3000)]


def test_a_declaration_from_before_scopes_moves_to_the_whole_service(device, run):
    """A device upgraded from a version without scopes: its declaration and live line are the main
    process's; the module's run moves them to the cgroup, the default."""
    device.file(DECLARATION, json.dumps({"name": "telemetry", "selector": {"service": "telemetry.service"},
                                         "handler": HANDLER, "timeout_ms": 3000}), 0o600)
    device.register(500, HANDLER, 3000)
    result = run(**SERVICE)
    assert result["unregistered"] == [500] and device.lines() == [whole()]
    assert json.loads(device.read(DECLARATION))["scope"] == "service"


def test_a_process_of_its_own_is_left_to_its_registration(device, run):
    """A worker registered by comm keeps its own line (a PID registration wins in the kernel)."""
    device.handler("/usr/local/sbin/worker")
    run(name="worker", comm="worker", handler="/usr/local/sbin/worker")
    run(**SERVICE)
    assert device.lines() == [Entry(501, "/usr/local/sbin/worker", 3000), whole()]


def test_two_declarations_of_one_service_conflict(device, run):
    device.handler("/usr/local/sbin/other")
    run(**SERVICE)
    msg = failure(run, name="other", service="telemetry", handler="/usr/local/sbin/other")["msg"]
    assert "cgroup %s is also matched by declaration telemetry (handler %s, timeout_ms=3000)" % (CGROUP, HANDLER) in msg
    assert run(name="other", service="telemetry", handler="/usr/local/sbin/other", scope="main")["changed"]


def test_a_stopped_service_and_allow_missing(device, run):
    device.stop("telemetry.service")
    assert "service telemetry.service is not running (no ControlGroup" in failure(run, **SERVICE)["msg"]
    result = run(allow_missing=True, **SERVICE)
    assert result["changed"] and result["cgroups"] == [] and device.writes == []
    assert "no process matches now (service telemetry.service is not running" in result["msg"]
    assert json.loads(device.read(DECLARATION))["scope"] == "service"


def test_cgroup_v1_only_says_to_use_scope_main(device, run):
    device.cgroup_v1()
    msg = failure(run, **SERVICE)["msg"]
    assert "this device has no cgroup v2 hierarchy" in msg and "use scope: main" in msg
    assert run(scope="main", **SERVICE)["registered"] == ["500 %s timeout_ms=3000" % HANDLER]
    result = run(check_mode=True, **SERVICE)  # a dry run before the reboot into cgroup v2
    assert result["registered"] == ["cgroup=%s %s timeout_ms=3000" % (CGROUP, HANDLER)]
    assert any("no cgroup v2 hierarchy" in w and "check mode" in w for w in result["warnings"])


def test_check_mode(device, run):
    result = run(check_mode=True, **SERVICE)
    assert result["changed"] and result["registered"] == ["cgroup=%s %s timeout_ms=3000" % (CGROUP, HANDLER)]
    assert device.writes == [] and device.read(DECLARATION) is None


def test_absent_unregisters_the_cgroup(device, run):
    run(**SERVICE)
    result = run(name="telemetry", state="absent", check_mode=True)
    assert result["changed"] and result["unregistered_cgroups"] == [CGROUP] and device.lines() == [whole()]
    result = run(name="telemetry", service="telemetry", state="absent")
    assert result["unregistered_cgroups"] == [CGROUP] and result["unregistered"] == []
    assert device.lines() == [] and device.read(DECLARATION) is None and device.read(DROPIN) is None


def test_absent_undeclared_cgroup(device, run):
    device.register(None, "/usr/local/sbin/manual", 10, cgroup=CGROUP)
    result = run(name="undeclared", cgroup=CGROUP, state="absent")
    assert result["changed"] and result["unregistered_cgroups"] == [CGROUP] and device.lines() == []
    assert device.writes == ["-cgroup=%s\n" % CGROUP]
    assert run(name="undeclared", cgroup=CGROUP, state="absent")["changed"] is False
    assert "the root cgroup" in failure(run, name="undeclared", cgroup="/", state="absent")["msg"]
    assert "scope goes with a service selector" in failure(run, name="undeclared", scope="main", state="absent")["msg"]


def test_absent_keeps_a_cgroup_of_another_declaration(device, run):
    run(**SERVICE)
    result = run(name="undeclared", cgroup=CGROUP, state="absent")
    assert result["changed"] is False and device.lines() == [whole()]
    assert any("cgroup %s is left registered: it belongs to declaration(s) telemetry" % CGROUP in w
               for w in result["warnings"])


def test_registration_info_lists_cgroups(device, run, info):
    run(user="data-logger", **SERVICE)
    device.register(501, "/usr/local/sbin/manual", 10)
    device.service("old.service", 0)
    device.register(None, "/usr/local/sbin/manual", 10, cgroup="/system.slice/old.service")
    result = info()
    assert result["registrations"] == [
        dict(pid=501, cgroup=None, handler="/usr/local/sbin/manual", timeout_ms=10, signal=None, reserve_kb=0,
             mode="grace", early_threshold=None, then=None, uid=None, gid=None, capabilities=[], comm="worker",
             declared_name=None),
        dict(pid=None, cgroup="/system.slice/old.service", handler="/usr/local/sbin/manual", timeout_ms=10,
             signal=None, reserve_kb=0, mode="grace", early_threshold=None, then=None, uid=None, gid=None,
             capabilities=[], comm=None, declared_name=None),
        dict(pid=None, cgroup=CGROUP, handler=HANDLER, timeout_ms=3000, signal=None, reserve_kb=0, mode="grace",
             early_threshold=None, then=None, uid=998, gid=997, capabilities=[], comm=None,
             declared_name="telemetry"),
    ]
    assert result["undeclared_pids"] == [501]
    assert result["undeclared_cgroups"] == ["/system.slice/old.service"]
    (declared,) = result["declarations"]
    assert (declared["scope"], declared["pids"], declared["cgroups"]) == ("service", [], [CGROUP])
