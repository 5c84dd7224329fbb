# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Plan and apply: compare the wanted registrations with the live ones and write the difference in
one all-or-nothing write."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import errno as errno_mod

from .registry_errors import RegistryError, WriteError
from .registry_proc import Entry, _check_options, _check_pid, format_line, format_unregister, read_listing, write_lines
from .registry_selectors import process_problem
from .registry_system import System

Plan = collections.namedtuple("Plan", ["register", "unregister", "unchanged"])


def plan(desired, current, unregister=()):
    """Compare the wanted registrations with the live ones.

    desired: Entry-like (pid, handler, timeout_ms[, signal, reserve_kb, early, then]) that must be live;
    current: parse_listing();
    unregister: PIDs that must not be registered (only those live are unregistered).
    Returns Plan(register=[Entry] to write (new, or live with another handler or options),
    unregister=[pid], unchanged=[Entry]). Raises RegistryError when a PID is wanted twice with
    different values, or is both wanted and to be unregistered.
    """
    live = dict((e.pid, Entry(*e)) for e in current)
    wanted = {}
    for item in desired:
        entry = Entry(*item)
        _check_pid(entry.pid)
        _check_options(entry.timeout_ms, entry.signal, entry.reserve_kb, entry.early, entry.then)
        if entry.pid in wanted and wanted[entry.pid] != entry:
            raise RegistryError("PID %d is wanted with two handlers or option sets: %s and %s"
                                % (entry.pid, format_line(*wanted[entry.pid]), format_line(*entry)))
        wanted[entry.pid] = entry
    both = sorted(set(wanted) & set(unregister))
    if both:
        raise RegistryError("PID(s) %s are both to be registered and unregistered" % ", ".join(str(p) for p in both))
    register = [wanted[p] for p in sorted(wanted) if live.get(p) != wanted[p]]
    unchanged = [wanted[p] for p in sorted(wanted) if live.get(p) == wanted[p]]
    remove = sorted(set(p for p in unregister if p in live))
    return Plan(register, remove, unchanged)


def plan_lines(the_plan):
    """The lines of a plan in write order: unregistrations first, so they free table slots."""
    return [format_unregister(p) for p in the_plan.unregister] + [format_line(*e) for e in the_plan.register]


def apply(desired, unregister=(), system=None, check_mode=False):
    """Read the live listing, plan and write in one go; returns the Plan (written unless check_mode).

    When the write fails with ESRCH or ENOENT (a process exited or a registration was pruned
    between reading and writing), the listing is read again, PIDs that are gone are dropped and
    the write is tried once more.
    """
    system = system or System()
    desired = [Entry(*e) for e in desired]
    the_plan = plan(desired, read_listing(system), unregister)
    if check_mode:
        return the_plan
    try:
        write_lines(plan_lines(the_plan), system)
    except WriteError as exc:
        if exc.errno not in (errno_mod.ESRCH, errno_mod.ENOENT):
            raise
        alive = [e for e in desired if process_problem(system, e.pid) is None]
        if len(alive) == len(desired) and exc.errno == errno_mod.ESRCH:
            raise
        the_plan = plan(alive, read_listing(system), unregister)
        write_lines(plan_lines(the_plan), system)
    return the_plan
