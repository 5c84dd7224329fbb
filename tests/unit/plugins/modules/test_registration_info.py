# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""The module oom.graceful_shutdown.registration_info on the fake device of conftest.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.oom.graceful_shutdown.plugins.module_utils import registry
from ansible_collections.oom.graceful_shutdown.plugins.modules import registration_info

from ansible_collections.oom.graceful_shutdown.tests.unit.plugins.modules.module_harness import ModuleFail

HANDLER = "/usr/local/sbin/flush"


@pytest.fixture
def info(run_module):
    return lambda **args: run_module(registration_info, **args)


def _declare(world, name, selector, handler=HANDLER, timeout_ms=3000, **options):
    declaration = registry.make_declaration(name, selector, handler, timeout_ms, **options)
    world.file(registry.DECLARATION_DIR + "/%s.json" % name, registry.dump_declaration(declaration), 0o600)


def test_not_loaded(world, info):
    world.unload()
    result = info()
    assert result["changed"] is False
    assert result["module_loaded"] is False and result["kernel_support"] is False
    assert result["backend"] is None and result["hook_api"] is None and result["status"] == {}
    assert result["handlers_run"] == "never"
    assert result["registrations"] == [] and result["undeclared_pids"] == [] and result["declarations"] == []
    assert result["undeclared_cgroups"] == []


def test_not_loaded_still_lists_declarations(world, info):
    world.unload()
    _declare(world, "later", {"pidfile": "/run/later.pid"})
    result = info()
    assert [d["name"] for d in result["declarations"]] == ["later"]
    assert result["declarations"][0]["pids"] == []


def test_loaded_without_registrations(world, info):
    world.load(backend="none")
    result = info()
    assert result["module_loaded"] is True
    assert result["backend"] == "none" and result["hook_api"] == 0 and result["kernel_support"] is False
    assert result["handlers_run"] == "never"


def test_a_stock_kernel_runs_handlers_after_the_kill(world, info):
    world.load(backend="notify")
    result = info()
    assert result["backend"] == "notify" and result["hook_api"] == 0 and result["kernel_support"] is False
    assert result["handlers_run"] == "after_kill"
    assert result["status"]["registrations_max"] == 128 and result["status"]["version"] == "0.1.0"
    assert result["registrations"] == []


def test_registrations_declarations_and_undeclared(world, info):
    world.process(500, comm="telemetry")
    world.process(501, comm="adhoc")
    world.process(600, comm="worker", exe="/usr/bin/worker")
    world.process(601, comm="worker", exe="/usr/bin/worker")
    world.service("telemetry.service", 500)
    _declare(world, "telemetry", {"service": "telemetry"}, scope="main")
    _declare(world, "workers", {"exe": "/usr/bin/worker"}, timeout_ms=100)
    _declare(world, "missing", {"comm": "nothing"})
    world.file(registry.DECLARATION_DIR + "/broken.json", "{", 0o600)
    world.register(500, HANDLER, 3000)
    world.register(501, "/usr/local/sbin/save", 50, "TERM", 16384)
    world.register(600, HANDLER, 100, None, 0, 85, "continue")
    result = info(_ansible_check_mode=True)
    assert result["kernel_support"] is True and result["hook_api"] == 1 and result["handlers_run"] == "before_kill"
    assert result["registrations"] == [
        dict(pid=500, cgroup=None, handler=HANDLER, timeout_ms=3000, signal=None, reserve_kb=0, mode="grace", early_threshold=None,
             then=None, uid=None, gid=None, capabilities=[], comm="telemetry", declared_name="telemetry"),
        dict(pid=501, cgroup=None, handler="/usr/local/sbin/save", timeout_ms=50, signal="TERM", reserve_kb=16384, mode="grace",
             early_threshold=None, then=None, uid=None, gid=None, capabilities=[], comm="adhoc", declared_name=None),
        dict(pid=600, cgroup=None, handler=HANDLER, timeout_ms=100, signal=None, reserve_kb=0, mode="early", early_threshold=85,
             then="continue", uid=None, gid=None, capabilities=[], comm="worker", declared_name="workers"),
    ]
    assert result["undeclared_pids"] == [501] and result["undeclared_cgroups"] == []
    by_name = dict((d["name"], d) for d in result["declarations"])
    assert sorted(by_name) == ["missing", "telemetry", "workers"]
    assert by_name["telemetry"]["dropin"].endswith("/etc/systemd/system/telemetry.service.d/50-graceful-shutdown-telemetry.conf")
    assert by_name["telemetry"]["path"].endswith("/etc/graceful_shutdown/registrations.d/telemetry.json")
    assert by_name["telemetry"]["selector"] == {"service": "telemetry.service"}
    assert by_name["workers"]["pids"] == [600, 601] and by_name["workers"]["dropin"] is None
    assert by_name["missing"]["pids"] == []
    assert any("broken.json" in w for w in result["warnings"])


def test_user_and_capabilities(world, info):
    world.process(500, comm="data-logger")
    world.process(501, comm="root-app")
    declaration = registry.make_declaration("data-logger", {"comm": "data-logger"}, HANDLER, 3000, user="data-logger",
                                            group="adm", capabilities=["CAP_KILL"])
    world.file(registry.DECLARATION_DIR + "/data-logger.json", registry.dump_declaration(declaration), 0o600)
    world.register(500, HANDLER, 3000, user=(998, 4), caps=0x20)
    world.register(501, HANDLER, 3000, user=(0, 0))
    first, second = info()["registrations"]
    assert (first["uid"], first["gid"], first["capabilities"]) == (998, 4, ["CAP_KILL"])
    assert (second["uid"], second["gid"], second["capabilities"]) == (0, 0, [])
    (declared,) = info()["declarations"]
    assert (declared["user"], declared["group"], declared["capabilities"]) == ("data-logger", "adm", ["CAP_KILL"])


def test_unparsable_listing_fails(world, info):
    (world.proc / "graceful_shutdown").write_text("garbage\n")
    with pytest.raises(ModuleFail) as failure:
        info()
    assert "cannot parse line 1 of /proc/graceful_shutdown" in failure.value.args[0]["msg"]


def test_no_options(world, info):
    with pytest.raises(ModuleFail) as failure:
        info(verbose=True)
    assert "Unsupported parameters" in failure.value.args[0]["msg"]
