# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Whole-service registrations in the library (cgroup=CGROUP lines, the service selector's scope,
systemd's ControlGroup) and in the device CLI roles/registrations/files/oomgs-register."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import sys
import types
from pathlib import Path

import pytest

from ansible_collections.oom.graceful_shutdown.plugins.module_utils import registry
from ansible_collections.oom.graceful_shutdown.plugins.module_utils.registry import Entry

CLI_PATH = Path(__file__).resolve().parents[4] / "roles" / "registrations" / "files" / "oomgs-register"
H = "/usr/local/sbin/flush"
CG = "/system.slice/telemetry.service"


def cgroup_entry(cgroup, *options, **keywords):
    return Entry(None, *options, cgroup=cgroup, **keywords)


# -- the /proc format ----------------------------------------------------------------------------

def test_parse_listing_reads_cgroup_lines_beside_pid_lines():
    text = ("1234 /h timeout_ms=3000\n"
            "cgroup=/system.slice/telemetry.service /h timeout_ms=1500 signal=TERM reserve_kb=64 user=998:997 caps=20\n"
            "cgroup=/apps.slice/data-logger.service /g timeout_ms=3000\n")
    assert registry.parse_listing(text) == [
        Entry(1234, "/h", 3000),
        cgroup_entry(CG, "/h", 1500, "TERM", 64, user=(998, 997), caps=0x20),
        cgroup_entry("/apps.slice/data-logger.service", "/g", 3000),
    ]
    old = "1234 /h timeout_ms=3000\n1300 /b timeout_ms=1500 early=90 then=kill\n"
    assert [e.cgroup for e in registry.parse_listing(old)] == [None, None]  # an old listing reads as before


@pytest.mark.parametrize("line, why", [
    ("cgroup=%s /g timeout_ms=5" % CG, "cgroup /system.slice/telemetry.service is listed twice"),
    ("cgroup=system.slice/x.service /h timeout_ms=5", "not an absolute path from the cgroup2 root"),
    ("cgroup=/ /h timeout_ms=5", "the root cgroup"),
    ("cgroup=/a/../b /h timeout_ms=5", "'..' component"),
    ("cgroup=/x.service /h timeout_ms=5 early=90 then=kill", "early mode covers one process"),
    ("cgroup=/x.service h timeout_ms=5", "not an absolute path"),
    ("cgroupx=/x.service /h timeout_ms=5", "nor cgroup=CGROUP"),
    ("1234 /x timeout_ms=5", "PID 1234 is listed twice"),
])
def test_parse_listing_refuses_bad_cgroup_lines(line, why):
    listing = "1234 /h timeout_ms=3000\ncgroup=%s /h timeout_ms=3000\n" % CG
    with pytest.raises(registry.ParseError, match=why):
        registry.parse_listing(listing + line + "\n")


def test_format_cgroup_lines():
    assert registry.format_line(None, "/h", 3000, cgroup=CG) == "cgroup=%s /h timeout_ms=3000" % CG
    entry = cgroup_entry(CG, "/h", 2000, "TERM", 4096, user=(0, 0), caps=0x20)
    assert registry.format_line(*entry) == "cgroup=%s /h timeout_ms=2000 signal=TERM reserve_kb=4096 user=0:0 caps=20" % CG
    assert registry.format_unregister(CG) == "-cgroup=%s" % CG
    assert registry.format_unregister(12) == "-12"
    assert registry.target_of(entry) == CG and registry.target_of(Entry(12, "/h", 5)) == 12
    assert registry.entry_for(CG, "/h", 5) == cgroup_entry(CG, "/h", 5)
    assert sorted([CG, 30, "/a.service", 4], key=registry.target_key) == [4, 30, "/a.service", CG]


@pytest.mark.parametrize("entry, why", [
    (cgroup_entry(CG, "/h", 5, None, 0, 90, "kill"), "early mode covers one process, not a cgroup"),
    (Entry(12, "/h", 5, cgroup=CG), "of a PID or of a cgroup, not both"),
    (cgroup_entry("/", "/h", 5), "the root cgroup"),
    (cgroup_entry("system.slice/a.service", "/h", 5), "not an absolute path"),
    (cgroup_entry("/a/../b", "/h", 5), "'..'"),
    (cgroup_entry("/a b", "/h", 5), "blanks or control characters"),
    (cgroup_entry("/" + "a" * 255, "/h", 5), "longer than 255"),
    (Entry(None, "/h", 5), "a PID must be a positive integer"),
])
def test_format_line_refuses_cgroups_the_kernel_would(entry, why):
    with pytest.raises(registry.RegistryError, match=why):
        registry.format_line(*entry)
    with pytest.raises(registry.RegistryError, match=why):
        registry.plan([entry], [])


def test_plan_compares_cgroups_with_the_listing():
    current = [Entry(1, "/h", 5), cgroup_entry(CG, "/h", 3000), cgroup_entry("/old.service", "/h", 5),
               cgroup_entry("/b.service", "/h", 5, user=(998, 997))]
    desired = [cgroup_entry(CG, "/h", 3000), cgroup_entry("/b.service", "/h", 5, user=[998, 997]),
               cgroup_entry("/a.service", "/h", 5), Entry(2, "/h", 5)]
    the_plan = registry.plan(desired, current, unregister=["/old.service", "/never.service", 1])
    assert the_plan.unchanged == [cgroup_entry("/b.service", "/h", 5, user=(998, 997)), cgroup_entry(CG, "/h", 3000)]
    assert the_plan.register == [Entry(2, "/h", 5), cgroup_entry("/a.service", "/h", 5)]
    assert the_plan.unregister == [1, "/old.service"]
    assert registry.plan_lines(the_plan) == ["-1", "-cgroup=/old.service", "2 /h timeout_ms=5",
                                             "cgroup=/a.service /h timeout_ms=5"]
    with pytest.raises(registry.RegistryError, match="cgroup /a.service is wanted with two handlers"):
        registry.plan([cgroup_entry("/a.service", "/h", 5), cgroup_entry("/a.service", "/g", 5)], [])
    with pytest.raises(registry.RegistryError, match="cgroup /a.service are both"):
        registry.plan([cgroup_entry("/a.service", "/h", 5)], [], unregister=["/a.service"])


# -- the fake kernel of conftest.py behaves as the module's contract says ------------------------

def test_the_fake_kernel_takes_cgroups_and_refuses_early_mode_with_them(world):
    world.service("telemetry.service", 0, CG)
    system = world.system()
    registry.write_lines(["cgroup=%s /h timeout_ms=5" % CG], system)
    assert registry.read_listing(system) == [cgroup_entry(CG, "/h", 5)]
    for line, number in (("cgroup=%s /h timeout_ms=5 early=90 then=kill" % CG, errno.EINVAL),
                         ("cgroup=/gone.service /h timeout_ms=5", errno.ENOENT),
                         ("-cgroup=/gone.service", errno.ENOENT)):
        with pytest.raises(registry.WriteError) as info:
            registry.write_lines([line], system)
        assert info.value.errno == number
    with pytest.raises(registry.WriteError, match="EINVAL"):
        registry.write_lines(["-cgroup=%s" % CG, "cgroup=%s /h timeout_ms=5" % CG], system)
    world.stop("telemetry.service")  # the cgroup is removed: so is its registration
    assert registry.read_listing(system) == []


# -- systemd: one call for MainPID, ControlGroup and the states ----------------------------------

def test_unit_properties_in_one_call_in_any_order():
    calls = []

    def run(argv):
        calls.append(argv)
        return 0, "LoadState=loaded\nControlGroup=%s\nMainPID=77\nActiveState=active\n" % CG, ""
    found = registry.unit_properties("telemetry.service", registry.System(run=run))
    assert found == {"MainPID": 77, "ControlGroup": CG, "ActiveState": "active", "LoadState": "loaded"}
    assert calls == [["systemctl", "show", "-p", "MainPID", "-p", "ControlGroup", "-p", "ActiveState", "-p",
                      "LoadState", "telemetry.service"]]
    empty = registry.unit_properties("x.service", registry.System(run=lambda argv: (0, "MainPID=0\n", "")))
    assert empty["ControlGroup"] == "" and empty["MainPID"] == 0 and empty["ActiveState"] == ""
    with pytest.raises(registry.RegistryError, match="not a PID"):
        registry.unit_properties("x.service", registry.System(run=lambda argv: (0, "MainPID=abc\n", "")))
    with pytest.raises(registry.RegistryError, match="Failed to connect to bus"):
        registry.unit_properties("x.service", registry.System(run=lambda argv: (1, "", "Failed to connect to bus")))


@pytest.mark.parametrize("kind, scope, early, result", [
    ("service", None, False, "service"),
    ("service", None, True, "main"),
    ("service", "main", False, "main"),
    ("service", "main", True, "main"),
    ("service", "service", False, "service"),
    ("comm", None, False, None),
    ("pid", None, True, None),
])
def test_normalize_scope(kind, scope, early, result):
    assert registry.normalize_scope(kind, scope, early) == result


@pytest.mark.parametrize("kind, scope, early, why", [
    ("service", "service", True, "mode: early covers one process: use scope: main"),
    ("comm", "main", False, "scope is for the service selector only"),
    ("exe", "service", False, "not for exe: remove it"),
    ("service", "unit", False, "scope is 'unit': use service"),
])
def test_normalize_scope_refuses(kind, scope, early, why):
    with pytest.raises(registry.SelectorError, match=why):
        registry.normalize_scope(kind, scope, early)


def test_resolve_targets_of_a_service(world):
    system = world.system()
    world.process(500)
    world.service("telemetry.service", 500, CG)
    assert registry.resolve_targets({"service": "telemetry"}, "service", system) == ([CG], None)
    assert registry.resolve_targets({"service": "telemetry"}, "main", system) == ([500], None)
    assert registry.resolve_targets({"service": "telemetry"}, None, system) == ([500], None)
    assert registry.resolve_targets({"comm": "app"}, None, system) == ([500], None)
    # a worker-only service (no main process) still has its cgroup
    world.service("workers.service", 0)
    assert registry.resolve_targets({"service": "workers"}, "service", system)[0] == ["/system.slice/workers.service"]
    world.stop("telemetry.service")
    targets, reason = registry.resolve_targets({"service": "telemetry"}, "service", system)
    assert targets == [] and reason == ("service telemetry.service is not running (no ControlGroup; "
                                        "ActiveState=inactive LoadState=loaded): start it, or use allow_missing")


def test_resolve_targets_when_the_cgroup_is_gone_or_the_device_has_cgroup_v1(world):
    system = world.system()
    world.services["gone.service"] = 0
    world.cgroups["gone.service"] = "/system.slice/gone.service"  # systemd says so, the directory is gone
    targets, reason = registry.resolve_targets({"service": "gone"}, "service", system)
    assert targets == [] and "cgroup /system.slice/gone.service does not exist" in reason
    world.service("telemetry.service", 0, CG)
    world.cgroup_v1()
    with pytest.raises(registry.RegistryError, match="no cgroup v2 hierarchy .* use scope: main"):
        registry.resolve_targets({"service": "telemetry"}, "service", system)


def test_the_hybrid_layout_has_cgroup2_under_unified(world):
    world.cgroup_v1()
    unified = world.mkdir("/sys/fs/cgroup/unified")
    (unified / "cgroup.controllers").write_text("")
    (unified / "system.slice" / "telemetry.service").mkdir(parents=True)
    world.services["telemetry.service"] = 0
    world.cgroups["telemetry.service"] = CG
    assert registry.cgroup2_root(world.system()) == str(unified)
    assert registry.resolve_targets({"service": "telemetry"}, "service", world.system())[0] == [CG]


# -- declarations --------------------------------------------------------------------------------

def test_a_service_declaration_keeps_its_scope():
    declaration = registry.make_declaration("t", {"service": "telemetry"}, "/h", 3000)
    assert declaration["scope"] == "service"
    assert registry.make_declaration("t", {"service": "t"}, "/h", 3000, early=90)["scope"] == "main"
    assert registry.make_declaration("t", {"service": "t"}, "/h", 3000, scope="main")["scope"] == "main"
    assert "scope" not in registry.make_declaration("t", {"comm": "t"}, "/h", 3000)
    text = registry.dump_declaration(declaration)
    assert registry.parse_declaration(text, "t") == declaration
    assert registry.declaration_entry(declaration, CG) == cgroup_entry(CG, "/h", 3000)
    with pytest.raises(registry.SelectorError, match="covers one process"):
        registry.make_declaration("t", {"service": "t"}, "/h", 3000, early=90, scope="service")
    with pytest.raises(registry.ParseError, match="scope is for the service selector only"):
        registry.parse_declaration(json.dumps({"name": "t", "selector": {"comm": "t"}, "handler": "/h",
                                               "timeout_ms": 5, "scope": "main"}), "t")


def test_a_service_declaration_from_before_scopes_registers_the_main_process(world):
    legacy = {"name": "t", "selector": {"service": "telemetry.service"}, "handler": "/h", "timeout_ms": 5}
    declaration = registry.parse_declaration(json.dumps(legacy), "t")
    assert declaration["scope"] == "main"
    world.process(500)
    world.service("telemetry.service", 500, CG)
    assert registry.declaration_targets(declaration, world.system()) == ([500], None)


# -- writing -------------------------------------------------------------------------------------

def test_apply_drops_a_cgroup_removed_between_reading_and_writing(world):
    world.process(10)
    world.service("a.service", 0, "/a.service")
    world.service("b.service", 0, "/b.service")
    system = world.system()
    desired = [Entry(10, "/h", 5), cgroup_entry("/a.service", "/h", 5), cgroup_entry("/b.service", "/h", 5)]
    original = world.kernel_write

    def stop_b_first(data):
        world.kernel_write = original
        world.stop("b.service")
        return original(data)
    world.kernel_write = stop_b_first
    the_plan = registry.apply(desired, (), system)
    assert the_plan.register == [Entry(10, "/h", 5), cgroup_entry("/a.service", "/h", 5)]
    assert world.lines() == [Entry(10, "/h", 5), cgroup_entry("/a.service", "/h", 5)]
    assert registry.apply(desired[:2], (), system).register == []  # idempotent


# -- the device CLI ------------------------------------------------------------------------------

@pytest.fixture
def cli(world, monkeypatch):
    """The CLI loaded in this process, on the fake device."""
    package = types.ModuleType("oomgs_registry")
    package.registry = registry
    monkeypatch.setitem(sys.modules, "oomgs_registry", package)
    module = types.ModuleType("oomgs_register")
    module.__file__ = str(CLI_PATH)
    exec(compile(CLI_PATH.read_text(), str(CLI_PATH), "exec"), module.__dict__)  # pylint: disable=exec-used
    monkeypatch.setattr(module, "_system", world.system)
    return module


def _declare(world, name, selector, handler=H, **options):
    declaration = registry.make_declaration(name, selector, handler, 3000, **options)
    world.file(registry.DECLARATION_DIR + "/%s.json" % name, registry.dump_declaration(declaration), 0o600)


def test_cli_execstartpost_registers_the_whole_service(world, cli, capsys):
    """The drop-in passes $MAINPID; a service with scope service registers its cgroup instead."""
    world.handler()
    world.process(500)
    world.service("telemetry.service", 500, CG)
    _declare(world, "telemetry", {"service": "telemetry"})
    assert cli.main(["apply", "--name", "telemetry", "--pid", "500"]) == 0
    assert world.lines() == [cgroup_entry(CG, H, 3000)]
    assert "telemetry: registered cgroup %s: handler %s timeout_ms=3000" % (CG, H) in capsys.readouterr().err
    assert world.calls[0][:2] == ["systemctl", "show"]  # systemd says the cgroup
    world.stop("telemetry.service")
    assert cli.main(["apply", "--name", "telemetry", "--pid", "500"]) == 1  # from ExecStartPost: an error
    assert "telemetry.service is not running" in capsys.readouterr().err


def test_cli_timer_registers_a_used_up_service_again(world, cli, capsys):
    world.handler()
    world.service("telemetry.service", 0, CG)
    world.service("stopped.service", 0)
    world.stop("stopped.service")
    _declare(world, "telemetry", {"service": "telemetry"}, user="data-logger")
    _declare(world, "stopped", {"service": "stopped"})
    assert cli.main(["apply"]) == 0
    assert world.lines() == [cgroup_entry(CG, H, 3000, user=(998, 997))]
    world.table.clear()  # an OOM kill in the cgroup used the registration up
    world.load()
    assert cli.main(["apply"]) == 0
    assert world.lines() == [cgroup_entry(CG, H, 3000, user=(998, 997))]
    assert len(world.writes) == 2 and cli.main(["apply"]) == 0 and len(world.writes) == 2
    assert "stopped: skipped, service stopped.service is not running" in capsys.readouterr().err


def test_cli_conflicting_declarations_of_one_service(world, cli, capsys):
    world.handler()
    world.handler("/usr/local/sbin/other")
    world.service("telemetry.service", 0, CG)
    _declare(world, "a", {"service": "telemetry"})
    _declare(world, "b", {"service": "telemetry"}, handler="/usr/local/sbin/other")
    assert cli.main(["apply"]) == 0
    assert "cgroup %s is matched by declarations a and b" % CG in capsys.readouterr().err
    assert world.lines() == [cgroup_entry(CG, H, 3000)]


def test_cli_list_shows_cgroups(world, cli, capsys):
    world.process(500, comm="telemetry")
    world.service("telemetry.service", 500, CG)
    _declare(world, "telemetry", {"service": "telemetry"})
    world.register(500, "/usr/local/sbin/save", 100)
    world.register(None, H, 3000, user=(998, 997), caps=0x20, cgroup=CG)
    world.register(None, H, 3000, cgroup="/by-hand.service")
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["500", "100", "-", "0", "grace", "-", "-", "-", "telemetry", "/usr/local/sbin/save"]
    assert out[2].split() == ["/by-hand.service", "3000", "-", "0", "grace", "-", "-", "-", "-", H]
    assert out[3].split() == [CG, "3000", "-", "0", "grace", "998:997", "KILL", "telemetry", "-", H]
    assert cli.main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["pid"], r["cgroup"], r["declared_name"], r["comm"]) for r in rows] == [
        (500, None, None, "telemetry"), (None, "/by-hand.service", None, None), (None, CG, "telemetry", None)]
