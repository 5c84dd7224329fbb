# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Who a handler runs as: user=UID:GID and caps=HEX in /proc/graceful_shutdown, the capability names,
the declarations' user, group and capabilities and their resolution on the (fake) device."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import pytest

from ansible_collections.oom.graceful_shutdown.plugins.module_utils import registry
from ansible_collections.oom.graceful_shutdown.plugins.module_utils.registry import Entry
from ansible_collections.oom.graceful_shutdown.plugins.module_utils.registry_inventory import inventory_problems

H = "/usr/local/lib/data-logger/save-buffer"
KILL = 1 << 5


# -- capability names -----------------------------------------------------------------------------

def test_capabilities_are_in_kernel_order():
    assert len(registry.CAPABILITIES) == 41 and registry.CAP_LAST == 40
    assert registry.CAPABILITIES[0] == "CAP_CHOWN" and registry.CAPABILITIES[5] == "CAP_KILL"
    assert registry.CAPABILITIES[21] == "CAP_SYS_ADMIN" and registry.CAPABILITIES[40] == "CAP_CHECKPOINT_RESTORE"
    assert registry.capability_mask(["CAP_KILL"]) == 0x20
    assert registry.capability_mask(["CAP_SYS_NICE", "CAP_KILL", "CAP_KILL"]) == 0x20 | 1 << 23
    assert registry.capability_mask(list(registry.CAPABILITIES)) == 0x1ffffffffff
    assert registry.capability_mask(None) == 0 and registry.capability_mask([]) == 0
    assert registry.capability_names(0x20 | 1 << 23) == ["CAP_KILL", "CAP_SYS_NICE"]
    assert registry.capability_names(0) == []


@pytest.mark.parametrize("capabilities, why", [
    ("CAP_KILL", "capabilities is 'CAP_KILL': give a list of capability names, e.g. [CAP_KILL]"),
    (["CAP_KIL"], "unknown capability 'CAP_KIL' (did you mean 'CAP_KILL'?)"),
    (["kill"], "unknown capability 'kill' (did you mean 'CAP_KILL'?)"),
    (["CAP_SYS_NCE"], "(did you mean 'CAP_SYS_NICE'?)"),
    (["CAP_WHATEVER_ELSE_ENTIRELY"], "unknown capability 'CAP_WHATEVER_ELSE_ENTIRELY'; the names are those of"),
    ([5], "unknown capability 5"),
])
def test_unknown_capabilities(capabilities, why):
    problems = registry.capability_problems(capabilities)
    assert len(problems) == 1 and why in problems[0], problems
    with pytest.raises(registry.RegistryError, match="capabilities"):
        registry.capability_mask(capabilities)


# -- the /proc format -------------------------------------------------------------------------------

def test_format_line_with_user_and_caps():
    assert registry.format_line(1500, H, 3000, user=(998, 998), caps=KILL) == (
        "1500 %s timeout_ms=3000 user=998:998 caps=20" % H)
    assert registry.format_line(1500, H, 3000, None, 0, 90, "kill", (0, 0), 0x1ffffffffff) == (
        "1500 %s timeout_ms=3000 early=90 then=kill user=0:0 caps=1ffffffffff" % H)
    assert registry.format_line(1500, H, 3000, user=[4294967294, 65534]) == (
        "1500 %s timeout_ms=3000 user=4294967294:65534" % H)
    assert registry.format_line(1500, H, 3000) == "1500 %s timeout_ms=3000" % H  # the owner, no caps


@pytest.mark.parametrize("user, caps, why", [
    ((4294967295, 0), 0, "user must be a (UID, GID) pair"),
    ((-1, 0), 0, "user must be a (UID, GID) pair"),
    ((1,), 0, "user must be a (UID, GID) pair"),
    ("998:998", 0, "user must be a (UID, GID) pair"),
    ((True, 0), 0, "user must be a (UID, GID) pair"),
    (None, 1 << 41, "caps must be a mask of capability numbers 0 to 40"),
    (None, -1, "caps must be a mask"),
    (None, "20", "caps must be a mask"),
])
def test_format_line_refuses_bad_user_and_caps(user, caps, why):
    with pytest.raises(registry.RegistryError, match=re.escape(why)):
        registry.format_line(1, H, 5, user=user, caps=caps)


def test_parse_listing_reads_user_and_caps():
    text = ("1500 %s timeout_ms=3000 early=90 then=kill user=998:998 caps=20\n"
            "1501 /h timeout_ms=5 caps=1ffffffffff user=0:0\n"
            "1502 /h timeout_ms=5\n" % H)
    first, second, third = registry.parse_listing(text)
    assert first == Entry(1500, H, 3000, None, 0, 90, "kill", (998, 998), KILL)
    assert registry.format_line(*first) == text.splitlines()[0]
    assert second.user == (0, 0) and second.caps == 0x1ffffffffff  # any order
    assert third == Entry(1502, "/h", 5) and third.user is None and third.caps == 0  # old listings read the same


@pytest.mark.parametrize("option, why", [
    ("user=998", "expected user=UID:GID"),
    ("user=998:", "expected user=UID:GID"),
    ("user=a:b", "expected user=UID:GID"),
    ("user=4294967295:0", "expected user=UID:GID"),
    ("user=1:2 user=1:2", "listed twice"),
    ("caps=0", "expected caps=HEX"),
    ("caps=20000000000", "expected caps=HEX"),
    ("caps=2A", "expected caps=HEX"),
    ("caps=0x20", "expected caps=HEX"),
    ("caps=", "expected caps=HEX"),
])
def test_parse_listing_rejects_bad_user_and_caps(option, why):
    with pytest.raises(registry.ParseError, match=why):
        registry.parse_listing("1 /h timeout_ms=5 %s\n" % option)


def test_einval_says_user_and_caps():
    assert "user=" in registry.ERRNO_MEANING["EINVAL"] and "caps=" in registry.ERRNO_MEANING["EINVAL"]


# -- plan: the user and the capabilities count ---------------------------------------------------------

def test_plan_counts_user_and_caps():
    current = registry.parse_listing("1 /h timeout_ms=5 user=998:997 caps=20\n2 /h timeout_ms=5\n3 /h timeout_ms=5\n")
    desired = [(1, "/h", 5, None, 0, 0, "kill", [998, 997], KILL),  # a resolved user as a list is the same
               (2, "/h", 5, None, 0, 0, "kill", (0, 0), 0),  # root given, the owner listed: a change
               (3, "/h", 5, None, 0, 0, "kill", None, KILL)]
    the_plan = registry.plan(desired, current)
    assert [e.pid for e in the_plan.unchanged] == [1]
    assert registry.plan_lines(the_plan) == ["2 /h timeout_ms=5 user=0:0", "3 /h timeout_ms=5 caps=20"]


# -- resolution on the device --------------------------------------------------------------------------

@pytest.mark.parametrize("user, group, ids", [
    (None, None, None),
    ("data-logger", None, (998, 997)),  # the user's primary group
    ("data-logger", "adm", (998, 4)),
    (998, None, (998, 997)),
    ("998", "4", (998, 4)),
    ("root", None, (0, 0)),
    (0, "root", (0, 0)),
    (12345, 12345, (12345, 12345)),  # numbers need no passwd entry when both are given
    (12345, "adm", (12345, 4)),
])
def test_resolve_user(world, user, group, ids):
    assert registry.resolve_user(user, group, world.system()) == ids


@pytest.mark.parametrize("user, group, why", [
    ("nobody-here", None, "user 'nobody-here' does not exist on this device (no passwd entry): create it first"),
    (12345, None, "user 12345 has no passwd entry, so it has no primary group: give group too"),
    ("data-logger", "nogroup-here", "group 'nogroup-here' does not exist on this device"),
    (None, "adm", "group needs user"),
    ("a b", None, "user is 'a b'"),
    (4294967295, None, "user is 4294967295: a user ID is from 0 to 4294967294"),
    (True, None, "user is True: give a user name or number"),
])
def test_resolve_user_refuses(world, user, group, why):
    with pytest.raises(registry.RegistryError, match=re.escape(why)):
        registry.resolve_user(user, group, world.system())


def test_the_default_system_asks_pwd_and_grp():
    assert registry.resolve_user("root", "root", registry.System()) == (0, 0)
    assert registry.resolve_user(0, None, registry.System()) == (0, 0)


# -- declarations ------------------------------------------------------------------------------------

def test_a_declaration_keeps_user_group_and_capabilities_as_declared(world):
    declaration = registry.make_declaration("dl", {"service": "data-logger"}, H, 3000, user="data-logger",
                                            group="4", capabilities=["CAP_SYS_NICE", "CAP_KILL", "CAP_KILL"])
    assert declaration["user"] == "data-logger" and declaration["group"] == 4
    assert declaration["capabilities"] == ["CAP_KILL", "CAP_SYS_NICE"]  # once each, in kernel order
    text = registry.dump_declaration(declaration)
    assert registry.parse_declaration(text, "dl") == declaration
    assert registry.declaration_entry(declaration, 9, world.system()) == Entry(
        9, H, 3000, None, 0, 0, "kill", (998, 4), KILL | 1 << 23)
    plain = registry.make_declaration("dl", {"service": "data-logger"}, H, 3000, capabilities=[])
    assert not set(plain) & {"user", "group", "capabilities"}
    assert registry.declaration_entry(plain, 9, world.system()) == Entry(9, H, 3000)


def test_a_declaration_of_a_missing_user_fails_when_applied(world):
    declaration = registry.make_declaration("dl", {"comm": "x"}, H, 3000, user="gone")
    with pytest.raises(registry.RegistryError, match="user 'gone' does not exist on this device"):
        registry.declaration_entry(declaration, 9, world.system())


# -- the preflight (check_registrations) --------------------------------------------------------------

GOOD = {"name": "data-logger", "service": "data-logger.service", "handler": H}


def test_preflight_accepts_user_group_and_capabilities():
    assert inventory_problems([
        dict(GOOD, user="data-logger", capabilities=["CAP_KILL"]),
        dict(GOOD, name="b", user=998, group="adm", capabilities=[]),
        dict(GOOD, name="c", user="root"),
        dict(GOOD, name="d", user="998", group="998"),
    ]) == []


def test_preflight_refuses_bad_user_group_and_capabilities():
    problems = inventory_problems([
        dict(GOOD, group="adm"),
        dict(GOOD, name="b", user="data logger", group=["adm"]),
        dict(GOOD, name="c", user=-1, capabilities="CAP_KILL"),
        dict(GOOD, name="d", capabilities=["CAP_KIL", "CAP_SYS_NICE", "sys_admin"]),
        dict(GOOD, name="e", usr="x"),
    ])
    text = "\n".join(problems)
    assert ("graceful_shutdown_registrations[0] (data-logger): group needs user: give the user the handler runs "
            "as too") in text
    assert "graceful_shutdown_registrations[1] (b): user is 'data logger': a user name is letters" in text
    assert "graceful_shutdown_registrations[1] (b): group is ['adm']: give a group name or number" in text
    assert "graceful_shutdown_registrations[2] (c): user is -1: a user ID is from 0 to 4294967294" in text
    assert ("graceful_shutdown_registrations[2] (c): capabilities is 'CAP_KILL': give a list of capability names, "
            "e.g. [CAP_KILL]") in text
    assert ("graceful_shutdown_registrations[3] (d): capabilities: unknown capability 'CAP_KIL' "
            "(did you mean 'CAP_KILL'?)") in text
    assert "(d): capabilities: unknown capability 'sys_admin' (did you mean 'CAP_SYS_ADMIN'?)" in text
    assert "graceful_shutdown_registrations[4] (e): unknown key 'usr' (did you mean 'user'?)" in text
    assert len(problems) == 8, problems
