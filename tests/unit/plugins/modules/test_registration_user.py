# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""The options user, group and capabilities of oom.graceful_shutdown.registration on the fake device
of conftest.py (whose passwd database has root, daemon and data-logger, uid 998 with group 997)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.oom.graceful_shutdown.plugins.module_utils import registry
from ansible_collections.oom.graceful_shutdown.plugins.module_utils.registry import Entry
from ansible_collections.oom.graceful_shutdown.plugins.modules import registration

from ansible_collections.oom.graceful_shutdown.tests.unit.plugins.modules.module_harness import failure

HANDLER = "/usr/local/lib/data-logger/save-buffer"
DECLARATION = registry.DECLARATION_DIR + "/data-logger.json"
SERVICE = dict(name="data-logger", service="data-logger", scope="main", handler=HANDLER)  # PID lines (cgroups:
# test_registration_service.py)
KILL = 1 << 5


@pytest.fixture
def run(run_module):
    return lambda **args: run_module(registration, **args)


@pytest.fixture
def device(world):
    """A loaded module, the CLI, a safe handler and a running data-logger.service (PID 1500)."""
    world.handler(HANDLER)
    world.install_cli()
    world.process(1500, comm="data-logger", exe="/usr/bin/data-logger")
    world.service("data-logger.service", 1500)
    return world


def test_user_and_capabilities_are_registered_declared_and_idempotent(device, run):
    result = run(user="data-logger", capabilities=["CAP_KILL"], **SERVICE)
    assert result["changed"] is True
    assert result["registered"] == ["1500 %s timeout_ms=3000 user=998:997 caps=20" % HANDLER]
    assert device.lines() == [Entry(1500, HANDLER, 3000, None, 0, 0, "kill", (998, 997), KILL)]
    declared = json.loads(device.read(DECLARATION))
    assert (declared["user"], declared["capabilities"]) == ("data-logger", ["CAP_KILL"])
    assert "group" not in declared  # the user's primary group, looked up when applied
    # the listing's user=998:997 is what the name resolves to: no change
    assert run(user="data-logger", capabilities=["CAP_KILL"], **SERVICE)["changed"] is False
    assert run(user=998, group=997, capabilities=["CAP_KILL"], persist=False, **SERVICE)["registered"] == []
    assert len(device.writes) == 1


def test_a_changed_user_group_or_capability_re_registers(device, run):
    run(user="data-logger", **SERVICE)
    assert run(user="data-logger", group="adm", **SERVICE)["registered"] == [
        "1500 %s timeout_ms=3000 user=998:4" % HANDLER]
    assert run(user="data-logger", group="adm", capabilities=["CAP_SYS_NICE", "CAP_KILL"], **SERVICE)["registered"] == [
        "1500 %s timeout_ms=3000 user=998:4 caps=800020" % HANDLER]
    # back to the process's owner and no capabilities: no user= and no caps= at all
    assert run(**SERVICE)["registered"] == ["1500 %s timeout_ms=3000" % HANDLER]
    assert not set(json.loads(device.read(DECLARATION))) & {"user", "group", "capabilities"}


def test_root_is_allowed_and_says_so(device, run):
    result = run(user="root", **SERVICE)
    assert result["registered"] == ["1500 %s timeout_ms=3000 user=0:0" % HANDLER]
    assert json.loads(device.read(DECLARATION))["user"] == "root"
    assert run(user=0, **SERVICE)["changed"] is True  # the declaration says 0 now; the live line is the same
    assert len(device.writes) == 1


def test_an_unknown_user_or_group_fails_naming_the_registration(device, run):
    msg = failure(run, user="nobody-here", **SERVICE)["msg"]
    assert msg.startswith("registration data-logger: user 'nobody-here' does not exist on this device")
    msg = failure(run, user="data-logger", group="nogroup-here", **SERVICE)["msg"]
    assert msg.startswith("registration data-logger: group 'nogroup-here' does not exist on this device")
    msg = failure(run, user=12345, **SERVICE)["msg"]
    assert "user 12345 has no passwd entry, so it has no primary group: give group too" in msg
    assert device.writes == [] and device.read(DECLARATION) is None


def test_check_mode_only_warns_about_a_user_an_earlier_task_would_create(device, run):
    device.register(1500, HANDLER, 3000)
    result = run(check_mode=True, user="new-user", **SERVICE)
    assert result["changed"] is True and result["registered"] == ["1500 %s timeout_ms=3000" % HANDLER]
    assert any("user 'new-user' does not exist" in w and "check mode" in w for w in result["warnings"])
    assert device.writes == []


@pytest.mark.parametrize("args, why", [
    (dict(group="adm"), "registration data-logger: group needs user"),
    (dict(capabilities=["CAP_KIL"]), "capabilities: unknown capability 'CAP_KIL' (did you mean 'CAP_KILL'?)"),
    (dict(user="a:b"), "user is 'a:b'"),
    (dict(user=["root"]), "user is ['root']: give a user name or number"),
])
def test_bad_values_fail_before_anything_is_written(device, run, args, why):
    args.update(SERVICE)
    assert why in failure(run, **args)["msg"]
    assert device.writes == []


def test_a_declaration_with_another_user_conflicts(device, run):
    run(name="by-comm", comm="data-logger", handler=HANDLER, user="daemon")
    result = failure(run, user="data-logger", **SERVICE)
    assert "(handler %s, timeout_ms=3000, user=1:1)" % HANDLER in result["msg"]
    assert "user and capabilities" in result["msg"]
    assert run(user="daemon", **SERVICE)["changed"] is True  # the same user: no conflict


def test_a_declaration_whose_user_is_gone_is_skipped_with_a_warning(device, run):
    device.handler("/usr/local/sbin/other")
    run(name="by-comm", comm="data-logger", handler="/usr/local/sbin/other", user="daemon", persist=True)
    del device.accounts.users["daemon"]
    result = run(**SERVICE)
    assert any("declaration by-comm: user 'daemon' does not exist" in w for w in result["warnings"])
