# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""The service selector's side of systemd: what systemd says of a unit (MainPID, ControlGroup and
its states, in one systemctl call), the two scopes of a service's registration (scope service: the
unit's whole cgroup, cgroup=CGROUP; scope main: its main process only) and the cgroup v2 hierarchy
the kernel module finds a cgroup= path in."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from .registry_errors import NoCgroup2Error, RegistryError, SelectorError
from .registry_proc import cgroup_problem

SCOPES = ("service", "main")
SCOPE_SERVICE, SCOPE_MAIN = SCOPES
# A service's declaration written before scopes existed registered the main process: it still does
# (until the module writes it again, with its scope).
SCOPE_LEGACY = SCOPE_MAIN
UNIT_PROPERTIES = ("MainPID", "ControlGroup", "ActiveState", "LoadState")
# Where the cgroup2 hierarchy is mounted: cgroup v2 only (unified), or systemd's hybrid layout.
CGROUP2_MOUNTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")


def default_scope(early):
    """A service's scope when none is given: its whole cgroup, but its main process in early mode
    (early mode watches one process's memory cgroup)."""
    return SCOPE_MAIN if early else SCOPE_SERVICE


def scope_problem(kind, scope, early):
    """Why scope cannot go with a selector of this kind (and early mode, when early), or None."""
    if scope is None:
        return None
    if scope not in SCOPES:
        return "scope is %r: use service (the unit's whole cgroup) or main (its main process only)" % (scope,)
    if kind != "service":
        return ("scope is for the service selector only (the unit's whole cgroup or its main process), not for "
                "%s: remove it" % kind)
    if scope == SCOPE_SERVICE and early:
        return ("scope: service registers the unit's whole cgroup, and mode: early covers one process: use "
                "scope: main (the default with mode: early), or mode: grace")
    return None


def normalize_scope(kind, scope, early):
    """The scope of a registration: None for other selectors than service; for a service the one
    given, or its default. Raises SelectorError saying what to fix."""
    problem = scope_problem(kind, scope, early)
    if problem:
        raise SelectorError(problem)
    if kind != "service":
        return None
    return scope or default_scope(early)


def unit_properties(unit, system):
    """What systemd says of a unit, from one 'systemctl show': {"MainPID": int (0: none),
    "ControlGroup": str ("": not running), "ActiveState": str, "LoadState": str}."""
    argv = ["systemctl", "show"] + [arg for name in UNIT_PROPERTIES for arg in ("-p", name)] + [unit]
    rc, out, err = system.run(argv)
    if rc != 0:
        raise RegistryError("'%s' failed (rc %d): %s" % (" ".join(argv), rc, (err or out).strip()))
    found = dict((name, "") for name in UNIT_PROPERTIES)  # systemctl may leave an empty one out
    for line in out.split("\n"):
        key, sep, value = line.partition("=")
        if sep and key in found:
            found[key] = value.strip()
    if not re.match(r"^[0-9]*$", found["MainPID"]):
        raise RegistryError("'%s' printed MainPID=%r, not a PID" % (" ".join(argv), found["MainPID"]))
    found["MainPID"] = int(found["MainPID"] or 0)
    return found


def unit_states(properties):
    return "ActiveState=%s LoadState=%s" % (properties["ActiveState"] or "?", properties["LoadState"] or "?")


def cgroup2_root(system):
    """The real path of the cgroup2 hierarchy's root (under system.root), or None when the device
    has none (cgroup v1 only)."""
    for mount in CGROUP2_MOUNTS:
        path = system.path(mount)
        if os.path.exists(os.path.join(path, "cgroup.controllers")):
            return path
    return None


def cgroup_exists(cgroup, system):
    root = cgroup2_root(system)
    return root is not None and os.path.isdir(root + cgroup)


def service_cgroup(unit, system):
    """([ControlGroup], None) of a running service, or ([], why not) when it is not running.
    Raises NoCgroup2Error when the device has no cgroup v2 hierarchy (the kernel module finds
    cgroup= paths there only), RegistryError when systemd names a cgroup the kernel module would
    refuse."""
    properties = unit_properties(unit, system)
    cgroup = properties["ControlGroup"]
    if not cgroup:
        return [], ("service %s is not running (no ControlGroup; %s): start it, or use allow_missing"
                    % (unit, unit_states(properties)))
    problem = cgroup_problem(cgroup)
    if problem:
        raise RegistryError("service %s: %s" % (unit, problem))
    if cgroup2_root(system) is None:
        raise NoCgroup2Error("service %s runs in cgroup %s, but this device has no cgroup v2 hierarchy (cgroup v1 "
                             "only, none of %s has cgroup.controllers): a registration of the whole service needs "
                             "cgroup v2; use scope: main to register its main process" % (
                                 unit, cgroup, " or ".join(CGROUP2_MOUNTS)), cgroup)
    if not cgroup_exists(cgroup, system):
        return [], ("service %s's cgroup %s does not exist (any more; %s): start it, or use allow_missing"
                    % (unit, cgroup, unit_states(properties)))
    return [cgroup], None
