# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""plugins/module_utils/registry.py, and the device CLI roles/registrations/files/oomgs-register on top of it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import stat
import sys
import subprocess
import types
from pathlib import Path

import pytest

from ansible_collections.oom.graceful_shutdown.plugins.module_utils import registry
from ansible_collections.oom.graceful_shutdown.plugins.module_utils.registry import Entry

COLLECTION = Path(__file__).resolve().parents[4]
CLI_PATH = COLLECTION / "roles" / "registrations" / "files" / "oomgs-register"

LISTING = "1234 /usr/local/lib/telemetry/flush-and-notify timeout_ms=3000\n1300 /usr/local/sbin/brake timeout_ms=1500\n"


# ---------------------------------------------------------------------------------------------
# /proc format
# ---------------------------------------------------------------------------------------------

def test_parse_listing_reads_every_line():
    assert registry.parse_listing(LISTING) == [
        Entry(1234, "/usr/local/lib/telemetry/flush-and-notify", 3000),
        Entry(1300, "/usr/local/sbin/brake", 1500),
    ]


@pytest.mark.parametrize("text", ["", "\n", "1 /h timeout_ms=1", "1\t/h  timeout_ms=60000\n"])
def test_parse_listing_accepts_empty_and_blank_separated(text):
    entries = registry.parse_listing(text)
    assert len(entries) == (1 if "/h" in text else 0)


@pytest.mark.parametrize("line, why", [
    ("1234 /usr/bin/h", "expected 3 to 9 fields"),
    ("1234 /usr/bin/h timeout_ms=3000 extra", "unknown option 'extra'"),
    ("1234 /usr/bin/h timeout_ms=3000 signal=KILL", "unknown signal"),
    ("1234 /usr/bin/h timeout_ms=3000 reserve_kb=1048577", "reserve_kb 1048577 is outside"),
    ("1234 /usr/bin/h timeout_ms=3000 reserve_kb=1M", "expected reserve_kb=N"),
    ("1234 /usr/bin/h timeout_ms=3000 signal=TERM signal=INT", "listed twice"),
    ("1234 /usr/bin/h signal=TERM timeout_ms=3000", "expected timeout_ms=N as the third field"),
    ("1234 /usr/bin/h timeout_ms=1 signal=TERM reserve_kb=1 early=90 then=kill user=1:1 caps=1 x=1",
     "expected 3 to 9 fields"),
    ("1234 /usr/bin/h timeout_ms=1 signal=TERM reserve_kb=1 early=90 then=kill x=1", "unknown option 'x=1'"),
    ("1234 /usr/bin/h timeout_ms=1 early=90", "early= and then= come together"),
    ("1234 /usr/bin/h timeout_ms=1 then=kill", "early= and then= come together"),
    ("1234 /usr/bin/h timeout_ms=1 early=100 then=kill", "early 100 is outside 50..99"),
    ("1234 /usr/bin/h timeout_ms=1 early=90 then=stop", "unknown then"),
    ("0 /usr/bin/h timeout_ms=3000", "not a positive decimal"),
    ("-5 /usr/bin/h timeout_ms=3000", "not a positive decimal"),
    ("+5 /usr/bin/h timeout_ms=3000", "not a positive decimal"),
    ("12a /usr/bin/h timeout_ms=3000", "not a positive decimal"),
    ("1234 usr/bin/h timeout_ms=3000", "not an absolute path"),
    ("1234 /usr/bin/h timeout=3000", "expected timeout_ms=N"),
    ("1234 /usr/bin/h timeout_ms=-1", "expected timeout_ms=N"),
    ("1234 /usr/bin/h timeout_ms=0", "outside 1..60000"),
    ("1234 /usr/bin/h timeout_ms=60001", "outside 1..60000"),
    ("   ", "expected 3 to 9 fields"),
])
def test_parse_listing_rejects_malformed_lines(line, why):
    with pytest.raises(registry.ParseError) as info:
        registry.parse_listing(LISTING + line + "\n")
    assert "line 3" in str(info.value)
    assert why in str(info.value)


def test_parse_listing_reads_the_options():
    (entry,) = registry.parse_listing("77 /h timeout_ms=2000 signal=TERM reserve_kb=32768\n")
    assert entry == Entry(77, "/h", 2000, "TERM", 32768)
    assert registry.format_line(*entry) == "77 /h timeout_ms=2000 signal=TERM reserve_kb=32768"
    assert registry.parse_listing("77 /h timeout_ms=2000\n") == [Entry(77, "/h", 2000, None, 0)]


def test_parse_listing_reads_early_mode():
    (entry,) = registry.parse_listing("77 /h timeout_ms=2000 early=85 then=continue\n")
    assert entry == Entry(77, "/h", 2000, None, 0, 85, "continue")
    assert registry.format_line(*entry) == "77 /h timeout_ms=2000 early=85 then=continue"
    assert registry.format_line(77, "/h", 2000, early=90) == "77 /h timeout_ms=2000 early=90 then=kill"


def test_parse_listing_rejects_a_pid_listed_twice():
    with pytest.raises(registry.ParseError, match="listed twice"):
        registry.parse_listing(LISTING + "1234 /x timeout_ms=5\n")


def test_format_lines():
    assert registry.format_line(1234, "/usr/local/sbin/brake", 1500) == "1234 /usr/local/sbin/brake timeout_ms=1500"
    assert registry.format_unregister(1234) == "-1234"


@pytest.mark.parametrize("args, why", [
    ((0, "/h", 5), "positive integer"),
    ((True, "/h", 5), "positive integer"),
    ((1, "/h", 0), "timeout_ms"),
    ((1, "/h", 60001), "timeout_ms"),
    ((1, "/h", "5"), "timeout_ms"),
    ((1, "/h", 5, "SIGTERM"), "signal must be one of"),
    ((1, "/h", 5, None, -1), "reserve_kb"),
    ((1, "/h", 5, None, 1048577), "reserve_kb"),
    ((1, "/h", 5, None, 0, 49), "early_threshold"),
    ((1, "/h", 5, None, 0, 100), "early_threshold"),
    ((1, "/h", 5, None, 0, 90, "stop"), "then must be one of"),
    ((1, "/h", 5, None, 0, 0, "term"), "needs mode: early"),
    ((1, "h", 5), "not absolute"),
    ((1, "/a b", 5), "blanks"),
    ((1, "/a/../b", 5), "'..'"),
    ((1, "/" + "a" * 255, 5), "longer than 255"),
])
def test_format_line_refuses_what_the_kernel_would(args, why):
    with pytest.raises(registry.RegistryError, match=why):
        registry.format_line(*args)


def test_format_unregister_refuses_bad_pid():
    with pytest.raises(registry.RegistryError):
        registry.format_unregister(-3)


def test_parse_status():
    status = registry.parse_status("backend=hook\nhook_api=1\nversion=0.1.0\nrunner=1\nregistrations=2\n")
    assert status == {"backend": "hook", "hook_api": 1, "version": "0.1.0", "runner": 1, "registrations": 2}
    assert registry.parse_status("") == {}


@pytest.mark.parametrize("text", ["backend hook\n", "=1\n", "a b=1\n"])
def test_parse_status_rejects_malformed(text):
    with pytest.raises(registry.ParseError, match="line 1"):
        registry.parse_status(text)


def test_read_listing_and_status_when_not_loaded(world):
    world.unload()
    system = world.system()
    assert not system.module_loaded()
    with pytest.raises(registry.NotLoadedError, match="modprobe graceful_shutdown"):
        registry.read_listing(system)
    assert registry.read_status(system) == {}


# ---------------------------------------------------------------------------------------------
# check_handler
# ---------------------------------------------------------------------------------------------

def _check(world, path):
    return registry.check_handler(path, root=str(world.root), lstat=world.lstat)


def test_safe_handler_has_no_problem(world):
    world.handler("/usr/local/sbin/flush")
    assert _check(world, "/usr/local/sbin/flush") == []
    assert _check(world, "//usr/./local/sbin//flush") == []


@pytest.mark.parametrize("path, why", [
    ("usr/local/sbin/flush", "not absolute"),
    ("", "empty"),
    ("/usr/local/../local/sbin/flush", "'..'"),
])
def test_handler_path_form(world, path, why):
    world.handler("/usr/local/sbin/flush")
    problems = _check(world, path)
    assert len(problems) == 1 and why in problems[0]


def test_handler_blank_and_length_are_reported(world):
    world.handler("/usr/local/sbin/my flush")
    problems = _check(world, "/usr/local/sbin/my flush")
    assert problems and "blanks" in problems[0]
    assert "longer than 255" in _check(world, "/" + "x" * 300)[0]


def test_handler_symlink_last_component(world):
    world.handler("/usr/local/sbin/flush")
    os.symlink("flush", str(world.path("/usr/local/sbin/link")))
    problems = _check(world, "/usr/local/sbin/link")
    assert problems == ["/usr/local/sbin/link is a symlink: symlinks are not allowed anywhere on a handler path; "
                        "use the real path (/usr/local/sbin/flush)"]


def test_handler_symlink_directory_anywhere(world):
    world.handler("/usr/bin/flush")
    os.symlink("usr/bin", str(world.path("/bin")))
    problems = _check(world, "/bin/flush")
    assert len(problems) == 1
    assert problems[0].startswith("/bin is a symlink") and "(/usr/bin/flush)" in problems[0]


def test_handler_directory_not_owned_by_root(world):
    world.handler("/opt/app/flush")
    world.owners["/opt/app"] = 1000
    assert _check(world, "/opt/app/flush") == [
        "directory /opt/app is owned by uid 1000, not root: chown root /opt/app (or install the handler in a "
        "directory that only root owns and can write)"]


@pytest.mark.parametrize("mode", [0o775, 0o757, 0o1777])
def test_handler_directory_writable_by_others(world, mode):
    world.handler("/opt/app/flush")
    os.chmod(str(world.path("/opt/app")), mode)
    problems = _check(world, "/opt/app/flush")
    assert len(problems) == 1
    assert problems[0].startswith("directory /opt/app is writable by group or others (mode %04o): chmod go-w /opt/app" % mode)


def test_handler_root_directory_is_checked(world):
    world.handler("/flush")
    os.chmod(str(world.root), 0o777)
    try:
        assert _check(world, "/flush")[0].startswith("directory / is writable by group or others")
    finally:
        os.chmod(str(world.root), 0o755)
    world.owners["/"] = 5
    assert _check(world, "/flush")[0].startswith("directory / is owned by uid 5")


def test_handler_file_owner_and_mode(world):
    world.handler("/usr/local/sbin/flush", mode=0o775)
    world.owners["/usr/local/sbin/flush"] = 1000
    assert _check(world, "/usr/local/sbin/flush") == [
        "handler /usr/local/sbin/flush is owned by uid 1000, not root: chown root /usr/local/sbin/flush",
        "handler /usr/local/sbin/flush is writable by group or others (mode 0775): chmod go-w /usr/local/sbin/flush",
    ]


def test_handler_not_executable(world):
    world.handler("/usr/local/sbin/flush", mode=0o644)
    assert _check(world, "/usr/local/sbin/flush") == [
        "handler /usr/local/sbin/flush is not executable: chmod u+x /usr/local/sbin/flush"]


def test_handler_not_a_regular_file(world):
    world.mkdir("/usr/local/sbin/flush")
    assert "is a directory, not a regular file" in _check(world, "/usr/local/sbin/flush")[0]
    world.mkdir("/run")
    os.mkfifo(str(world.path("/run/fifo")), 0o700)
    assert "is a FIFO, not a regular file" in _check(world, "/run/fifo")[0]


def test_handler_missing(world):
    world.mkdir("/usr/local/sbin")
    assert _check(world, "/usr/local/sbin/flush") == ["/usr/local/sbin/flush does not exist: install the handler first"]
    assert _check(world, "/nope/flush") == ["directory /nope does not exist: install the handler first"]


def test_handler_under_a_file(world):
    world.handler("/usr/local/sbin/flush")
    assert "/usr/local/sbin/flush is not a directory" in _check(world, "/usr/local/sbin/flush/x")[0]


def test_every_problem_is_listed(world):
    world.handler("/opt/app/flush", mode=0o666)
    world.owners["/opt"] = 1000
    problems = _check(world, "/opt/app/flush")
    assert [p.split(" is ")[0] for p in problems] == ["directory /opt", "handler /opt/app/flush", "handler /opt/app/flush"]


def test_check_handler_defaults_to_the_real_file_system():
    if os.geteuid() != 0 or not os.path.isfile("/usr/bin/env") or os.path.islink("/usr") or os.path.islink("/usr/bin"):
        pytest.skip("needs root and a plain /usr/bin/env")
    st = os.lstat("/usr/bin/env")
    if st.st_uid != 0 or st.st_mode & 0o022 or os.lstat("/usr").st_uid != 0 or os.lstat("/usr/bin").st_uid != 0:
        pytest.skip("/usr/bin/env is not root-owned here")
    assert registry.check_handler("/usr/bin/env") == []


# ---------------------------------------------------------------------------------------------
# Selectors
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("selector, result", [
    ({"pid": 12}, ("pid", 12)),
    ({"pid": "12"}, ("pid", 12)),
    ({"pidfile": "/run/app.pid", "pid": None}, ("pidfile", "/run/app.pid")),
    ({"service": "telemetry"}, ("service", "telemetry.service")),
    ({"service": "telemetry.service"}, ("service", "telemetry.service")),
    ({"service": "getty@tty1.service"}, ("service", "getty@tty1.service")),
    ({"service": "app-1.2_x"}, ("service", "app-1.2_x.service")),
    ({"exe": "/usr/bin/app"}, ("exe", "/usr/bin/app")),
    ({"comm": "a" * 15}, ("comm", "a" * 15)),
])
def test_normalize_selector(selector, result):
    assert registry.normalize_selector(selector) == result


@pytest.mark.parametrize("selector, why", [
    ({}, "exactly one"),
    ({"pid": None}, "exactly one"),
    ({"pid": 1, "comm": "x"}, "exactly one"),
    ({"user": "x"}, "unknown selector"),
    ("pid=1", "mapping"),
    ({"pid": 0}, "positive integer"),
    ({"pid": True}, "positive integer"),
    ({"pidfile": "run/app.pid"}, "absolute"),
    ({"exe": "app"}, "absolute"),
    ({"service": "tele metry"}, "not a systemd unit name"),
    ({"service": "../x"}, "not a systemd unit name"),
    ({"service": "backup.timer"}, "not a .service unit"),
    ({"service": "getty@.service"}, "template"),
    ({"comm": "a" * 16}, "longer than 15"),
    ({"comm": ""}, "non-empty"),
    ({"comm": "a\nb"}, "newline"),
])
def test_normalize_selector_refuses(selector, why):
    with pytest.raises(registry.SelectorError, match=why):
        registry.normalize_selector(selector)


def test_resolve_pid(world):
    world.process(100)
    world.process(1, comm="systemd")
    world.kthread(2)
    world.process(101, state="Z")
    world.process(102, tgid=100)
    system = world.system()
    assert registry.resolve({"pid": 100}, system) == [100]
    assert registry.resolve({"comm": "systemd"}, system) == []
    for pid, why in [(99, "no process has PID 99"), (2, "kernel thread"), (101, "exiting"),
                     (1, "init"), (102, "thread of process 100")]:
        pids, reason = registry.resolve_detail({"pid": pid}, system)
        assert pids == [] and why in reason


def test_resolve_never_matches_the_caller(world):
    system = registry.System(root=str(world.root), proc=str(world.proc), run=world.run, lstat=world.lstat, self_pid=100)
    world.process(100, comm="python3", exe="/usr/bin/python3")
    world.process(101, comm="python3", exe="/usr/bin/python3")
    assert registry.resolve({"comm": "python3"}, system) == [101]
    assert registry.resolve({"exe": "/usr/bin/python3"}, system) == [101]
    assert "the caller itself" in registry.resolve_detail({"pid": 100}, system)[1]


def test_resolve_pidfile(world):
    world.process(300)
    system = world.system()
    pids, reason = registry.resolve_detail({"pidfile": "/run/app.pid"}, system)
    assert pids == [] and "pidfile /run/app.pid cannot be read" in reason
    world.file("/run/app.pid", "garbage\n", 0o644)
    pids, reason = registry.resolve_detail({"pidfile": "/run/app.pid"}, system)
    assert pids == [] and "does not hold a PID" in reason
    world.file("/run/app.pid", " 300 \n", 0o644)
    assert registry.resolve({"pidfile": "/run/app.pid"}, system) == [300]
    world.file("/run/app.pid", "301\n", 0o644)
    pids, reason = registry.resolve_detail({"pidfile": "/run/app.pid"}, system)
    assert pids == [] and reason == "pidfile /run/app.pid names PID 301, but: no process has PID 301 (looked at %s/301)" % world.proc


def test_resolve_service(world):
    system = world.system()
    pids, reason = registry.resolve_detail({"service": "telemetry"}, system)
    assert pids == []
    assert "service telemetry.service has no main process (MainPID=0; ActiveState=inactive LoadState=not-found)" in reason
    assert world.calls == [["systemctl", "show", "-p", "MainPID", "-p", "ControlGroup", "-p", "ActiveState", "-p",
                            "LoadState", "telemetry.service"]]  # one call, the states included
    world.process(500)
    world.services["telemetry.service"] = 500
    assert registry.resolve({"service": "telemetry"}, system) == [500]
    world.services["telemetry.service"] = 501
    assert "MainPID 501, but: no process" in registry.resolve_detail({"service": "telemetry"}, system)[1]


def test_resolve_service_when_systemctl_fails(world):
    system = registry.System(root=str(world.root), proc=str(world.proc), run=lambda argv: (1, "", "Failed to connect to bus"))
    with pytest.raises(registry.RegistryError, match="Failed to connect to bus"):
        registry.resolve({"service": "x"}, system)


def test_resolve_exe_matches_every_process_and_deleted_binaries(world):
    world.process(600, exe="/usr/bin/app")
    world.process(601, exe="/usr/bin/app (deleted)")
    world.process(602, exe="/usr/bin/other")
    world.process(603, exe=None)  # exited, or not allowed to see
    world.kthread(3)
    system = world.system()
    assert registry.resolve({"exe": "/usr/bin/app"}, system) == [600, 601]
    pids, reason = registry.resolve_detail({"exe": "/usr/bin/nope"}, system)
    assert pids == [] and "no process runs /usr/bin/nope" in reason and "of 4 processes" in reason


def test_resolve_exe_through_a_symlink(world):
    world.file("/usr/bin/python3.11")
    os.symlink("python3.11", str(world.path("/usr/bin/python3")))
    world.process(700, exe="/usr/bin/python3.11")
    assert registry.resolve({"exe": "/usr/bin/python3"}, world.system()) == [700]


def test_resolve_comm_skips_kernel_threads_and_zombies(world):
    world.kthread(4, comm="app")
    world.process(800, comm="app")
    world.process(801, comm="app", state="Z")
    world.process(802, comm="application")
    world.process(803, comm="app\\x20")
    system = world.system()
    assert registry.resolve({"comm": "app"}, system) == [800]
    pids, reason = registry.resolve_detail({"comm": "nope"}, system)
    assert pids == [] and "no process has the command name 'nope'" in reason
    assert registry.comm_of(800, system) == "app"
    assert registry.comm_of(999, system) is None


# ---------------------------------------------------------------------------------------------
# Declarations and drop-ins
# ---------------------------------------------------------------------------------------------

def test_declaration_text_is_stable():
    declaration = registry.make_declaration("telemetry", {"service": "telemetry"}, "/usr/local/sbin/flush", 3000)
    text = registry.dump_declaration(declaration)
    assert text == ('{\n  "handler": "/usr/local/sbin/flush",\n  "name": "telemetry",\n  "scope": "service",\n'
                    '  "selector": {\n    "service": "telemetry.service"\n  },\n  "timeout_ms": 3000\n}\n')
    assert registry.parse_declaration(text, "telemetry") == declaration


def test_a_declaration_keeps_signal_and_reserve_only_when_set():
    declaration = registry.make_declaration("db", {"service": "db"}, "/h", 3000, "TERM", 65536)
    text = registry.dump_declaration(declaration)
    assert '"signal": "TERM"' in text and '"reserve_kb": 65536' in text
    assert registry.parse_declaration(text, "db") == declaration
    assert registry.declaration_entry(declaration, 9) == Entry(9, "/h", 3000, "TERM", 65536)
    assert "signal" not in registry.make_declaration("db", {"service": "db"}, "/h", 3000, None, 0)


def test_a_declaration_keeps_early_mode_only_when_set():
    declaration = registry.make_declaration("db", {"service": "db"}, "/h", 3000, None, 0, 80, "term")
    text = registry.dump_declaration(declaration)
    assert '"early": 80' in text and '"then": "term"' in text
    assert registry.parse_declaration(text, "db") == declaration
    assert registry.declaration_entry(declaration, 9) == Entry(9, "/h", 3000, None, 0, 80, "term")
    assert "then" not in registry.make_declaration("db", {"service": "db"}, "/h", 3000)


def test_a_pid_is_never_declared():
    with pytest.raises(registry.SelectorError, match="never persisted"):
        registry.make_declaration("x", {"pid": 5}, "/h", 5)


@pytest.mark.parametrize("name", ["", "-x", ".x", "a/b", "a b", "x" * 65, "é", None])
def test_invalid_names(name):
    with pytest.raises(registry.RegistryError, match="registration name"):
        registry.validate_name(name)


@pytest.mark.parametrize("name", ["a", "telemetry", "App_1.2-x", "x" * 64])
def test_valid_names(name):
    assert registry.validate_name(name) == name


@pytest.mark.parametrize("text, why", [
    ("{", "not valid JSON"),
    ("[]", "JSON object"),
    ('{"name": "x", "selector": {"comm": "x"}, "handler": "/h"}', "missing: timeout_ms"),
    ('{"name": "x", "selector": {"comm": "x"}, "handler": "/h", "timeout_ms": 5, "uid": 1}', "unknown: uid"),
    ('{"name": "x", "selector": {"comm": "x"}, "handler": "/h", "timeout_ms": 5, "group": 1}', "group needs user"),
    ('{"name": "x", "selector": {"comm": "x"}, "handler": "/h", "timeout_ms": 5, "user": "a b"}', "user is 'a b'"),
    ('{"name": "x", "selector": {"comm": "x"}, "handler": "/h", "timeout_ms": 5, "capabilities": ["KILL"]}',
     "did you mean 'CAP_KILL'"),
    ('{"name": "y", "selector": {"comm": "x"}, "handler": "/h", "timeout_ms": 5}', "file is named x.json"),
    ('{"name": "x", "selector": {"pid": 5}, "handler": "/h", "timeout_ms": 5}', "never persisted"),
    ('{"name": "x", "selector": {"comm": "x"}, "handler": "h", "timeout_ms": 5}', "not absolute"),
    ('{"name": "x", "selector": {"comm": "x"}, "handler": "/h", "timeout_ms": 0}', "timeout_ms"),
    ('{"name": "x", "selector": {"comm": "x"}, "handler": "/h", "timeout_ms": 5, "signal": "KILL"}', "signal must"),
    ('{"name": "x", "selector": {"comm": "x"}, "handler": "/h", "timeout_ms": 5, "reserve_kb": -1}', "reserve_kb"),
    ('{"name": "x", "selector": {"comm": "x"}, "handler": "/h", "timeout_ms": 5, "early": 40, "then": "kill"}',
     "early_threshold"),
    ('{"name": "x", "selector": {"comm": "x"}, "handler": "/h", "timeout_ms": 5, "then": "term"}', "mode: early"),
])
def test_parse_declaration_refuses(text, why):
    with pytest.raises(registry.ParseError, match=why):
        registry.parse_declaration(text, "x")


def test_load_declarations_skips_bad_files(world):
    system = world.system()
    assert registry.load_declarations(system) == ([], [])
    good = registry.make_declaration("b", {"comm": "app"}, "/h", 5)
    world.file(registry.DECLARATION_DIR + "/b.json", registry.dump_declaration(good), 0o600)
    world.file(registry.DECLARATION_DIR + "/a.json", "{", 0o600)
    world.file(registry.DECLARATION_DIR + "/-bad.json", "{}", 0o600)
    world.file(registry.DECLARATION_DIR + "/.b.json.x1.tmp", "{", 0o600)
    world.file(registry.DECLARATION_DIR + "/README", "", 0o600)
    declarations, errors = registry.load_declarations(system)
    assert declarations == [good]
    assert len(errors) == 2
    assert errors[0].startswith(str(world.path(registry.DECLARATION_DIR + "/-bad.json")))
    assert "a.json: not valid JSON" in errors[1]
    assert registry.read_declaration("nope", system) is None


def test_dropin(world):
    system = world.system()
    assert registry.dropin_path("telemetry.service", "telemetry", system) == str(
        world.path("/etc/systemd/system/telemetry.service.d/50-graceful-shutdown-telemetry.conf"))
    text = registry.dropin_text("telemetry")
    assert text.splitlines()[1:] == [
        "[Unit]",
        "After=systemd-modules-load.service",
        "Wants=systemd-modules-load.service",
        "",
        "[Service]",
        "ExecStartPost=-+/usr/sbin/oomgs-register apply --name telemetry --pid $MAINPID",
    ]
    assert text.startswith("#")
    registry.write_file_atomic(registry.dropin_path("a.service", "telemetry", system), text, 0o644)
    registry.write_file_atomic(registry.dropin_path("b.service", "other", system), text, 0o644)
    assert registry.find_dropins("telemetry", system) == [registry.dropin_path("a.service", "telemetry", system)]


def test_write_file_atomic_and_remove(world):
    path = str(world.path(registry.DECLARATION_DIR + "/x.json"))
    registry.write_file_atomic(path, "one\n", 0o600)
    registry.write_file_atomic(path, "two\n", 0o600)
    assert Path(path).read_text() == "two\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(os.path.dirname(path)) == ["x.json"]
    dropin = str(world.path("/etc/systemd/system/a.service.d/50-graceful-shutdown-x.conf"))
    registry.write_file_atomic(dropin, "x", 0o644)
    assert registry.remove_file(dropin) is True
    assert not os.path.exists(os.path.dirname(dropin))
    assert registry.remove_file(dropin) is False


# ---------------------------------------------------------------------------------------------
# plan and write
# ---------------------------------------------------------------------------------------------

def test_plan_registers_new_and_changed_entries_only():
    current = [Entry(1, "/h", 3000), Entry(2, "/h", 3000), Entry(3, "/h", 3000), Entry(9, "/x", 10)]
    desired = [(1, "/h", 3000), (2, "/other", 3000), (3, "/h", 1500), (4, "/h", 3000)]
    the_plan = registry.plan(desired, current, unregister=[5, 9])
    assert the_plan.register == [Entry(2, "/other", 3000), Entry(3, "/h", 1500), Entry(4, "/h", 3000)]
    assert the_plan.unchanged == [Entry(1, "/h", 3000)]
    assert the_plan.unregister == [9]  # 5 is not live
    assert registry.plan_lines(the_plan) == ["-9", "2 /other timeout_ms=3000", "3 /h timeout_ms=1500",
                                             "4 /h timeout_ms=3000"]


def test_plan_is_empty_when_everything_is_live():
    the_plan = registry.plan([(1, "/h", 3000)], [Entry(1, "/h", 3000)])
    assert registry.plan_lines(the_plan) == []


def test_plan_refuses_contradictions():
    with pytest.raises(registry.RegistryError, match="two handlers"):
        registry.plan([(1, "/h", 5), (1, "/g", 5)], [])
    assert registry.plan([(1, "/h", 5), (1, "/h", 5)], []).register == [Entry(1, "/h", 5)]
    with pytest.raises(registry.RegistryError, match="both"):
        registry.plan([(1, "/h", 5)], [], unregister=[1])


def test_write_lines_is_one_write(world):
    for pid in range(10, 20):
        world.process(pid)
    registry.write_lines(["%d /h timeout_ms=5" % pid for pid in range(10, 20)], world.system())
    assert world.writes == ["".join("%d /h timeout_ms=5\n" % pid for pid in range(10, 20))]
    registry.write_lines([], world.system())
    assert len(world.writes) == 1


def test_write_lines_splits_only_beyond_the_kernel_limits(world):
    handler = "/" + "h" * 200
    for pid in range(100, 140):
        world.process(pid)
    registry.write_lines(["%d %s timeout_ms=5" % (pid, handler) for pid in range(100, 140)], world.system())
    assert len(world.writes) == 3
    assert all(len(w) <= registry.WRITE_MAX_BYTES for w in world.writes)
    assert len(world.table) == 40


@pytest.mark.parametrize("number, name, meaning", [
    (errno.ENOSPC, "ENOSPC", "the table is full"),
    (errno.EPERM, "EPERM", "CAP_SYS_ADMIN"),
    (errno.EINVAL, "EINVAL", "malformed"),
    (errno.ESRCH, "ESRCH", "no such process"),
])
def test_write_errors_name_the_errno_and_its_meaning(world, number, name, meaning):
    world.process(10)
    world.write_errors = [number]
    with pytest.raises(registry.WriteError) as info:
        registry.write_lines(["10 /h timeout_ms=5"], world.system())
    assert info.value.errno_name == name
    assert name in str(info.value) and meaning in str(info.value)
    assert "nothing of this write was applied" in str(info.value)
    assert info.value.lines == ["10 /h timeout_ms=5"]


def test_write_when_not_loaded(world):
    world.unload()
    with pytest.raises(registry.NotLoadedError, match="role oom.graceful_shutdown.lkm"):
        registry.write_lines(["-1"], world.system())


def test_apply_writes_the_plan_and_is_idempotent(world):
    world.process(10)
    world.process(11)
    world.register(11, "/old", 5)
    system = world.system()
    the_plan = registry.apply([(10, "/h", 5), (11, "/h", 5)], (), system)
    assert the_plan.register == [Entry(10, "/h", 5), Entry(11, "/h", 5)]
    assert world.writes == ["10 /h timeout_ms=5\n11 /h timeout_ms=5\n"]
    assert registry.apply([(10, "/h", 5), (11, "/h", 5)], (), system).register == []
    assert len(world.writes) == 1
    check = registry.apply([], [10], system, check_mode=True)
    assert check.unregister == [10] and len(world.writes) == 1


def test_apply_retries_once_when_a_process_exited(world):
    world.process(10)
    world.process(11)
    system = world.system()
    world.write_errors = [errno.ESRCH]
    world.kill(11)  # exited after it was resolved
    the_plan = registry.apply([(10, "/h", 5), (11, "/h", 5)], (), system)
    assert the_plan.register == [Entry(10, "/h", 5)]
    assert world.writes[-1] == "10 /h timeout_ms=5\n"
    assert world.lines() == [Entry(10, "/h", 5)]


def test_apply_does_not_retry_other_errors(world):
    world.process(10)
    world.write_errors = [errno.ESRCH]
    with pytest.raises(registry.WriteError, match="ESRCH"):
        registry.apply([(10, "/h", 5)], (), world.system())
    assert len(world.writes) == 1


# ---------------------------------------------------------------------------------------------
# The device CLI roles/registrations/files/oomgs-register
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def cli(world, monkeypatch):
    """The CLI loaded in this process, on the fake device."""
    package = types.ModuleType("oomgs_registry")  # the device's package of the library
    package.registry = registry
    monkeypatch.setitem(sys.modules, "oomgs_registry", package)
    module = types.ModuleType("oomgs_register")
    module.__file__ = str(CLI_PATH)
    code = compile(CLI_PATH.read_text(), str(CLI_PATH), "exec")
    exec(code, module.__dict__)  # pylint: disable=exec-used
    monkeypatch.setattr(module, "_system", world.system)
    return module


def _declare(world, name, selector, handler="/usr/local/sbin/flush", timeout_ms=3000, **options):
    declaration = registry.make_declaration(name, selector, handler, timeout_ms, **options)
    world.file(registry.DECLARATION_DIR + "/%s.json" % name, registry.dump_declaration(declaration), 0o600)


def test_cli_apply_name_and_pid(world, cli, capsys):
    world.handler()
    world.process(500)
    _declare(world, "telemetry", {"service": "telemetry"}, scope="main")
    assert cli.main(["apply", "--name", "telemetry", "--pid", "500"]) == 0
    assert world.lines() == [Entry(500, "/usr/local/sbin/flush", 3000)]
    assert "telemetry: registered PID 500" in capsys.readouterr().err
    assert world.calls == []  # the PID from ExecStartPost is trusted, systemctl not asked


def test_cli_apply_name_resolves_and_empty_pid_falls_back(world, cli):
    world.handler()
    world.process(500)
    world.services["telemetry.service"] = 500
    _declare(world, "telemetry", {"service": "telemetry"}, scope="main")
    assert cli.main(["apply", "--name", "telemetry", "--pid"]) == 0
    assert cli.main(["apply", "--name", "telemetry", "--pid", ""]) == 0
    assert world.lines() == [Entry(500, "/usr/local/sbin/flush", 3000)]
    assert len(world.writes) == 1


def test_cli_apply_pid_that_is_gone(world, cli, capsys):
    world.handler()
    _declare(world, "telemetry", {"service": "telemetry"}, scope="main")
    assert cli.main(["apply", "--name", "telemetry", "--pid", "501"]) == 1
    assert "no process has PID 501" in capsys.readouterr().err


def test_cli_apply_all_skips_missing_and_reports_conflicts(world, cli, capsys):
    world.handler()
    world.handler("/usr/local/sbin/other")
    world.process(600, comm="app", exe="/usr/bin/app")
    world.process(601, comm="app", exe="/usr/bin/app")
    _declare(world, "a-comm", {"comm": "app"})
    _declare(world, "b-exe", {"exe": "/usr/bin/app"}, handler="/usr/local/sbin/other")
    _declare(world, "c-missing", {"pidfile": "/run/missing.pid"})
    _declare(world, "d-same", {"exe": "/usr/bin/app"})
    assert cli.main(["apply"]) == 0
    err = capsys.readouterr().err
    assert "c-missing: skipped, pidfile /run/missing.pid cannot be read" in err
    assert "PID 600 is matched by declarations a-comm and b-exe" in err
    assert "d-same" not in err  # same handler and timeout: no conflict
    assert world.lines() == [Entry(600, "/usr/local/sbin/flush", 3000), Entry(601, "/usr/local/sbin/flush", 3000)]
    assert len(world.writes) == 1
    assert cli.main(["apply"]) == 0
    assert len(world.writes) == 1  # nothing to do the second time


def test_cli_refuses_unsafe_handler(world, cli, capsys):
    world.handler(mode=0o777)
    world.process(500)
    _declare(world, "telemetry", {"comm": "app"})
    assert cli.main(["apply"]) == 2
    assert "refusing unsafe handler /usr/local/sbin/flush" in capsys.readouterr().err
    assert cli.main(["apply", "--name", "telemetry", "--pid", "500"]) == 2
    assert world.writes == []


def test_cli_bad_declaration_and_write_failure(world, cli, capsys):
    world.handler()
    world.process(500)
    _declare(world, "good", {"comm": "app"})
    world.file(registry.DECLARATION_DIR + "/bad.json", "{", 0o600)
    assert cli.main(["apply"]) == 1
    assert world.lines() == [Entry(500, "/usr/local/sbin/flush", 3000)]
    world.kill(500)
    world.process(500)
    world.write_errors = [errno.ENOSPC]
    assert cli.main(["apply", "--name", "good"]) == 1
    err = capsys.readouterr().err
    assert "bad.json: not valid JSON" in err and "ENOSPC" in err
    assert cli.main(["apply", "--name", "nope"]) == 1
    assert "no declaration nope" in capsys.readouterr().err


def test_cli_apply_resolves_user_and_capabilities(world, cli, capsys):
    world.handler()
    world.process(500)
    world.process(501, comm="other")
    for name, user in (("a-logger", "data-logger"), ("b-gone", "gone")):
        declaration = registry.make_declaration(name, {"comm": "app" if user != "gone" else "other"},
                                                "/usr/local/sbin/flush", 3000, user=user, capabilities=["CAP_KILL"])
        world.file(registry.DECLARATION_DIR + "/%s.json" % name, registry.dump_declaration(declaration), 0o600)
    assert cli.main(["apply"]) == 1  # b-gone failed, a-logger was applied
    assert "b-gone: user 'gone' does not exist on this device" in capsys.readouterr().err
    assert world.writes == ["500 /usr/local/sbin/flush timeout_ms=3000 user=998:997 caps=20\n"]
    assert cli.main(["apply", "--name", "a-logger"]) == 0
    assert len(world.writes) == 1  # the resolved user is what is live: nothing to write
    assert cli.main(["list"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[5:7] == ["998:997", "KILL"]
    assert cli.main(["list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["uid"], row["gid"], row["capabilities"]) == (998, 997, ["CAP_KILL"])


def test_cli_not_loaded(world, cli, capsys):
    world.unload()
    assert cli.main(["apply"]) == 1
    assert cli.main(["list"]) == 1
    assert "modprobe graceful_shutdown" in capsys.readouterr().err


def test_cli_list(world, cli, capsys):
    world.process(500, comm="telemetry")
    world.process(501, comm="adhoc")
    world.services["telemetry.service"] = 500
    _declare(world, "telemetry", {"service": "telemetry"}, scope="main")
    world.register(500, "/usr/local/sbin/flush", 3000)
    world.register(501, "/usr/local/sbin/save", 100, "TERM", 4096)
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["PID/CGROUP", "TIMEOUT_MS", "SIGNAL", "RESERVE_KB", "MODE", "USER", "CAPS", "DECLARATION", "COMM",
                              "HANDLER"]
    assert out[1].split() == ["500", "3000", "-", "0", "grace", "-", "-", "telemetry", "telemetry", "/usr/local/sbin/flush"]
    assert out[2].split() == ["501", "100", "TERM", "4096", "grace", "-", "-", "-", "adhoc", "/usr/local/sbin/save"]
    assert cli.main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0] == {"pid": 500, "cgroup": None, "timeout_ms": 3000, "signal": None, "reserve_kb": 0, "declared_name": "telemetry",
                       "comm": "telemetry", "handler": "/usr/local/sbin/flush", "mode": "grace",
                       "early_threshold": None, "then": None, "uid": None, "gid": None, "capabilities": []}
    assert rows[1]["declared_name"] is None


@pytest.fixture
def libdir(tmp_path):
    """A folder laid out as the role installs the library: oomgs_registry/ holding module_utils' files."""
    folder = tmp_path / "lib"
    folder.mkdir()
    (folder / "oomgs_registry").symlink_to(COLLECTION / "plugins" / "module_utils")
    return folder


def _run_cli(libdir, *args, **env):
    environment = dict(os.environ, OOMGS_LIBDIR=str(libdir))
    environment.update(env)
    return subprocess.run([sys.executable, str(CLI_PATH)] + list(args), env=environment, capture_output=True,
                          text=True, check=False)


def test_cli_as_a_program(world, libdir):
    usage = _run_cli(libdir, "apply", "--pid", "5")
    assert usage.returncode == 2 and "--pid needs --name" in usage.stderr
    assert _run_cli(libdir, "apply", "--name", "a/b").returncode == 2
    assert _run_cli(libdir).returncode == 2
    world.unload()
    gone = _run_cli(libdir, "apply", OOMGS_ROOT=str(world.root), OOMGS_PROC=str(world.proc))
    assert gone.returncode == 1 and "is not loaded" in gone.stderr
    missing = _run_cli(libdir, "list", OOMGS_LIBDIR="/nonexistent")
    assert missing.returncode == 1 and "cannot import oomgs_registry/registry.py from /nonexistent" in missing.stderr


def test_cli_has_a_python3_shebang_and_is_executable():
    assert CLI_PATH.read_text().splitlines()[0] == "#!/usr/bin/python3 -I"
    assert os.access(str(CLI_PATH), os.X_OK)
