# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""The /proc/graceful_shutdown format: lines to write, the listing and the status to parse and their
limits (registry_options.py has the options of a line, registry_io.py reads and writes the files).
A registration is of a process (PID) or of a cgroup (cgroup=CGROUP: every process of a service's
cgroup and of its descendants that has no registration of its own)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import re

from .registry_errors import ParseError, RegistryError
from .registry_handler import handler_syntax_problems
from .registry_options import THEN_DEFAULT, _check_options, _is_int, _parse_options, option_fields

WRITE_MAX_BYTES = 4096
WRITE_MAX_LINES = 128
LINE_MAX_LEN = 512
CGROUP_MAX_LEN = 255
# user: None (the handler runs as the process's owner) or (UID, GID); caps: a capability mask, 0 for none.
# cgroup: None for a process's registration (pid set); for a cgroup's, its path from the cgroup2 root
# (systemd's ControlGroup) and pid None.
Entry = collections.namedtuple("Entry", ["pid", "handler", "timeout_ms", "signal", "reserve_kb", "early", "then",
                                         "user", "caps", "cgroup"])
Entry.__new__.__defaults__ = (None, 0, 0, THEN_DEFAULT, None, 0, None)  # no signal, reserve, early, user, caps, cgroup


def make_entry(*fields):
    """An Entry from its fields (an Entry, a tuple, or the leading fields), user as a tuple."""
    entry = Entry(*fields)
    return entry._replace(user=tuple(entry.user)) if isinstance(entry.user, list) else entry


def target_of(entry):
    """What an Entry registers: its PID (an int), or its cgroup (a str, the path)."""
    return entry.cgroup if entry.cgroup is not None else entry.pid


def entry_for(target, *options):
    """The Entry of a target (a PID or a cgroup path) with the options (handler, timeout_ms, ...)."""
    if isinstance(target, str):
        return make_entry(None, *options)._replace(cgroup=target)
    return make_entry(target, *options)


def target_key(target):
    """A sort key: PIDs first, in order, then cgroups by path."""
    return (1, 0, target) if isinstance(target, str) else (0, target, "")


def describe_target(target):
    return "cgroup %s" % target if isinstance(target, str) else "PID %d" % target


def _check_pid(pid):
    if not _is_int(pid) or pid <= 0:
        raise RegistryError("a PID must be a positive integer, got %r" % (pid,))


def cgroup_problem(cgroup):
    """Why the kernel module would refuse this cgroup path (cgroup=CGROUP), or None."""
    if not isinstance(cgroup, str) or not cgroup.startswith("/"):
        return "cgroup %r is not an absolute path from the cgroup2 root (as systemd's ControlGroup)" % (cgroup,)
    if cgroup == "/":
        return "cgroup / is the root cgroup, which cannot be registered"
    if ".." in cgroup.split("/"):
        return "cgroup %r has a '..' component" % cgroup
    if any(c <= " " or c == "\x7f" for c in cgroup):
        return "cgroup %r contains blanks or control characters" % cgroup
    if len(cgroup) > CGROUP_MAX_LEN:
        return "cgroup %s... is longer than %d characters" % (cgroup[:40], CGROUP_MAX_LEN)
    return None


def _check_target(target):
    if isinstance(target, str):
        problem = cgroup_problem(target)
        if problem:
            raise RegistryError(problem)
    else:
        _check_pid(target)


def check_entry(entry):
    """Raise RegistryError unless the kernel module would accept the Entry's line (the handler's
    syntax aside): a PID or a cgroup, its options, and early mode only for a PID."""
    if entry.cgroup is not None and entry.pid is not None:
        raise RegistryError("a registration is of a PID or of a cgroup, not both (PID %r, cgroup %r)"
                            % (entry.pid, entry.cgroup))
    _check_target(target_of(entry))
    _check_options(*entry[2:9])
    if entry.cgroup is not None and entry.early:
        raise RegistryError("early mode covers one process, not a cgroup (cgroup %s): register the main process "
                            "(scope: main)" % entry.cgroup)


def _parse_target(field):
    """(the PID or cgroup of a listing line's first field, None), or (None, what is wrong)."""
    if field.startswith("cgroup="):
        target = field[len("cgroup="):]
        return (None, cgroup_problem(target)) if cgroup_problem(target) else (target, None)
    if re.match(r"^[1-9][0-9]*$", field):
        return int(field), None
    return None, "the PID %r is not a positive decimal number (nor cgroup=CGROUP)" % field


def _fields_problem(fields, target, options):
    """What is wrong with the handler and options of a listing line (options: _parse_options()), or None."""
    if not fields[1].startswith("/"):
        return "the handler %r is not an absolute path" % fields[1]
    if not fields[2].startswith("timeout_ms="):
        return "expected timeout_ms=N as the third field, found %r" % fields[2]
    if not isinstance(options, dict):
        return options
    if isinstance(target, str) and "early" in options:
        return "a cgroup has early= (early mode covers one process)"
    return None


def parse_listing(text):
    """Parse what reading /proc/graceful_shutdown returns: 'PID PATH timeout_ms=N' or 'cgroup=CGROUP
    PATH timeout_ms=N' per line, then ' signal=NAME', ' reserve_kb=N', ' early=PCT then=POLICY' (PID
    lines only), ' user=UID:GID' and ' caps=HEX' when the registration has them.

    Returns a list of Entry in the order read. Raises ParseError on any line that is not exactly
    that form, and on a PID or a cgroup listed twice.
    """
    entries = []
    seen = set()
    for number, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        fields = line.split()
        options = _parse_options(fields[2:]) if len(fields) >= 3 else {}
        if not 3 <= len(fields) <= 9:
            target, problem = None, (
                "expected 3 to 9 fields 'PID PATH timeout_ms=N [signal=NAME] [reserve_kb=N] [early=PCT "
                "then=POLICY] [user=UID:GID] [caps=HEX]' (or cgroup=CGROUP for PID), found %d" % len(fields))
        else:
            target, problem = _parse_target(fields[0])
            problem = problem or _fields_problem(fields, target, options)
            if not problem and target in seen:
                problem = "%s is listed twice" % describe_target(target)
        if problem:
            raise ParseError("cannot parse line %d of /proc/graceful_shutdown (%r): %s; is the module "
                             "graceful_shutdown the version this collection expects?" % (number, line, problem))
        entry = entry_for(target, fields[1], options["timeout_ms"], options.get("signal"),
                          options.get("reserve_kb", 0), options.get("early", 0), options.get("then", THEN_DEFAULT),
                          options.get("user"), options.get("caps", 0))
        seen.add(target)
        entries.append(entry)
    return entries


def _target_field(target):
    return "cgroup=%s" % target if isinstance(target, str) else "%d" % target


def format_line(pid, handler, timeout_ms, signal=None, reserve_kb=0, early=0, then=THEN_DEFAULT, user=None, caps=0,
                cgroup=None):
    """The line that registers PID (or, with pid None, CGROUP) with HANDLER, TIMEOUT_MS and the options
    (no newline)."""
    entry = Entry(pid, handler, timeout_ms, signal, reserve_kb, early, then, user, caps, cgroup)
    check_entry(entry)
    problems = handler_syntax_problems(handler)
    if problems:
        raise RegistryError("; ".join(problems))
    return " ".join([_target_field(target_of(entry)), handler] + option_fields(entry))


def format_unregister(target):
    """The line that unregisters a PID (an int) or a cgroup (a str, the path) (no newline)."""
    _check_target(target)
    return "-" + _target_field(target)


def parse_status(text):
    """Parse /proc/graceful_shutdown_status ('key=value' per line) into a dict.

    Values made only of digits become ints; everything else stays a string.
    """
    status = {}
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise ParseError("cannot parse line %d of /proc/graceful_shutdown_status (%r): expected key=value"
                             % (number, line))
        status[key] = int(value) if re.match(r"^[0-9]+$", value) else value
    return status
