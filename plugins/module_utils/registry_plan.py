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
from .registry_io import read_listing, write_lines
from .registry_proc import check_entry, describe_target, format_line, format_unregister, make_entry, target_key, target_of
from .registry_selectors import process_problem
from .registry_service import cgroup_exists
from .registry_system import System

Plan = collections.namedtuple("Plan", ["register", "unregister", "unchanged"])


def plan(desired, current, unregister=()):
    """Compare the wanted registrations with the live ones.

    desired: Entry-like (pid, handler, timeout_ms[, signal, reserve_kb, early, then, user, caps, cgroup])
    that must be live (user a resolved (UID, GID), so that it compares with the listing);
    current: parse_listing();
    unregister: targets (PIDs, and cgroup paths) that must not be registered (only those live are
    unregistered).
    Returns Plan(register=[Entry] to write (new, or live with another handler or options),
    unregister=[target], unchanged=[Entry]), PIDs before cgroups. Raises RegistryError when a
    target is wanted twice with different values, or is both wanted and to be unregistered.
    """
    live = dict((target_of(e), make_entry(*e)) for e in current)
    wanted = {}
    for item in desired:
        entry = make_entry(*item)
        check_entry(entry)
        target = target_of(entry)
        if target in wanted and wanted[target] != entry:
            raise RegistryError("%s is wanted with two handlers or option sets: %s and %s"
                                % (describe_target(target), format_line(*wanted[target]), format_line(*entry)))
        wanted[target] = entry
    both = sorted(set(wanted) & set(unregister), key=target_key)
    if both:
        raise RegistryError("%s are both to be registered and unregistered" % ", ".join(describe_target(t) for t in both))
    order = sorted(wanted, key=target_key)
    register = [wanted[t] for t in order if live.get(t) != wanted[t]]
    unchanged = [wanted[t] for t in order if live.get(t) == wanted[t]]
    remove = sorted(set(t for t in unregister if t in live), key=target_key)
    return Plan(register, remove, unchanged)


def target_problem(system, target):
    """Why a target cannot be registered now (a process gone, a cgroup removed), or None."""
    if isinstance(target, str):
        return None if cgroup_exists(target, system) else "cgroup %s does not exist" % target
    return process_problem(system, target)


def plan_lines(the_plan):
    """The lines of a plan in write order: unregistrations first, so they free table slots."""
    return [format_unregister(p) for p in the_plan.unregister] + [format_line(*e) for e in the_plan.register]


def apply(desired, unregister=(), system=None, check_mode=False):
    """Read the live listing, plan and write in one go; returns the Plan (written unless check_mode).

    When the write fails with ESRCH or ENOENT (a process exited, a cgroup was removed or a
    registration was pruned between reading and writing), the listing is read again, PIDs and
    cgroups that are gone are dropped and the write is tried once more.
    """
    system = system or System()
    desired = [make_entry(*e) for e in desired]
    the_plan = plan(desired, read_listing(system), unregister)
    if check_mode:
        return the_plan
    try:
        write_lines(plan_lines(the_plan), system)
    except WriteError as exc:
        if exc.errno not in (errno_mod.ESRCH, errno_mod.ENOENT):
            raise
        alive = [e for e in desired if target_problem(system, target_of(e)) is None]
        if len(alive) == len(desired) and exc.errno == errno_mod.ESRCH:
            raise
        the_plan = plan(alive, read_listing(system), unregister)
        write_lines(plan_lines(the_plan), system)
    return the_plan
