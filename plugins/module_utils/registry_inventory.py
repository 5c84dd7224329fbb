# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Checks of graceful_shutdown_registrations as an inventory declares them, on the controller.

Every problem of every entry at once, each naming the entry and the key ("graceful_shutdown_
registrations[2] (data-logger): unknown key 'handlr' (did you mean 'handler'?)"), by the same
rules as the module oom.graceful_shutdown.registration and the kernel module, so that site.yml
can refuse a bad declaration before any device changes. Needs nothing but the entries: no
device, no /proc.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib

from .registry_declarations import NAME_RE
from .registry_errors import RegistryError
from .registry_handler import handler_syntax_problems
from .registry_identity import identity_problems
from .registry_options import EARLY_MAX, EARLY_MIN, THEN, THEN_DEFAULT, _check_reserve, _check_signal, _check_timeout
from .registry_selectors import SELECTOR_KEYS, normalize_selector
from .registry_service import SCOPES, scope_problem

# The keys of an entry (the options of the module oom.graceful_shutdown.registration, but cgroup:
# the role's exclusive mode unregisters a cgroup with it, nothing declares one).
ENTRY_KEYS = ("name",) + SELECTOR_KEYS + (
    "scope", "handler", "timeout_ms", "signal", "reserve_kb", "mode", "early_threshold", "then", "user", "group",
    "capabilities", "allow_missing", "persist", "state")
MODES = ("grace", "early")
BOOL_KEYS = ("allow_missing", "persist")
STATES = ("present", "absent")


def _unknown_key(key):
    close = difflib.get_close_matches(str(key), ENTRY_KEYS, n=1, cutoff=0.6)
    return "unknown key %r%s; the keys are %s" % (
        key, " (did you mean %r?)" % close[0] if close else "", ", ".join(ENTRY_KEYS))


def entry_problems(entry):
    """The problems of one entry, each a sentence naming the key; [] when it is valid."""
    if not isinstance(entry, dict):
        return ["is %r, not a mapping with name, one selector and handler" % (entry,)]
    problems = [_unknown_key(key) for key in entry if key not in ENTRY_KEYS]
    name = entry.get("name")
    if name is None:
        problems.append("name is missing: give each registration a unique name")
    elif not isinstance(name, str) or not NAME_RE.match(name):
        problems.append("name %r is invalid: 1 to 64 characters, letters, digits and _.- , starting with a "
                        "letter or digit" % (name,))
    state = entry.get("state", "present")
    if state not in STATES:
        problems.append("state is %r: use present or absent" % (state,))
    for key in BOOL_KEYS:
        if key in entry and not isinstance(entry[key], bool):
            problems.append("%s is %r: use true or false" % (key, entry[key]))
    selector = dict((k, entry[k]) for k in SELECTOR_KEYS if entry.get(k) is not None)
    kind = None
    if state == "present" or selector:
        try:
            kind = normalize_selector(selector)[0]
        except RegistryError as exc:
            problems.append(str(exc))
        else:
            if kind == "pid" and entry.get("persist", True) is True:
                problems.append("a pid selector cannot be persisted (a PID does not survive a restart): use "
                                "pidfile, service, exe or comm, or set persist: false")
    problem = _scope_problem(entry, kind, selector)
    if problem:
        problems.append(problem)
    if state == "present":
        handler = entry.get("handler")
        if handler is None:
            problems.append("handler is missing: give the absolute path of the program to run before the kill")
        else:
            problems.extend("handler: %s" % p for p in handler_syntax_problems(handler))
    checks = (("timeout_ms", _check_timeout), ("signal", _check_signal), ("reserve_kb", _check_reserve))
    for key, check in checks:
        if entry.get(key) is None:
            continue
        value = entry[key]
        if key != "signal" and isinstance(value, str) and value.isdigit():
            value = int(value)  # as the module's int option takes it
        try:
            check(value)
        except RegistryError as exc:
            problems.append(str(exc))
    problems.extend(_early_problems(entry))
    # Names are resolved on the device, when the registration is applied: here only their form.
    problems.extend(identity_problems(entry.get("user"), entry.get("group"), entry.get("capabilities")))
    return problems


def _scope_problem(entry, kind, selector):
    """The problem of scope (only with service; service, or main; not service with mode: early), or None.
    kind: the selector's kind, None when the selector is invalid (already a problem of its own)."""
    scope = entry.get("scope")
    if scope is None:
        return None
    if kind is not None:
        return scope_problem(kind, scope, entry.get("mode") == "early")
    if scope not in SCOPES:
        return scope_problem("service", scope, False)
    if not selector:
        return "scope goes with a service selector: give service too, or leave scope out"
    return None


def _early_problems(entry):
    """The problems of mode, early_threshold and then (early mode's keys go with mode: early)."""
    problems = []
    mode = entry.get("mode", "grace")
    if mode not in MODES:
        problems.append("mode is %r: use grace or early" % (mode,))
    threshold = entry.get("early_threshold")
    if isinstance(threshold, str) and threshold.isdigit():
        threshold = int(threshold)
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int)
                                  or not EARLY_MIN <= threshold <= EARLY_MAX):
        problems.append("early_threshold is %r: use a percentage of the cgroup's memory limit from %d to %d"
                        % (entry["early_threshold"], EARLY_MIN, EARLY_MAX))
    then = entry.get("then")
    if then is not None and then not in THEN:
        problems.append("then is %r: use %s" % (then, ", ".join(THEN)))
    if mode == "grace":
        if threshold is not None:
            problems.append("early_threshold is early mode's: set mode: early too, or remove it")
        if then is not None and then != THEN_DEFAULT:
            problems.append("then is early mode's: set mode: early too, or remove it")
    return problems


def inventory_problems(entries, variable="graceful_shutdown_registrations"):
    """Every problem of a list of entries, each starting with VARIABLE[INDEX] (NAME)."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        return ["%s must be a list of registrations, not %s" % (variable, type(entries).__name__)]
    problems = []
    seen = {}
    for index, entry in enumerate(entries):
        where = "%s[%d]" % (variable, index)
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str):
            where += " (%s)" % name
            if name in seen:
                problems.append("%s: name %r is used by %s[%d] too: each name must appear once"
                                % (where, name, variable, seen[name]))
            seen.setdefault(name, index)
        problems.extend("%s: %s" % (where, problem) for problem in entry_problems(entry))
    return problems
