# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Selectors: which processes a registration means (pid, pidfile, service, exe, comm), found in
/proc and through systemctl; and what it registers: those PIDs, or with a service's scope service,
the service's cgroup (registry_service.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from .registry_errors import RegistryError, SelectorError
from .registry_options import _is_int
from .registry_service import SCOPE_SERVICE, service_cgroup, unit_properties, unit_states
from .registry_system import System

PF_KTHREAD = 0x00200000
INIT_PID = 1  # never an OOM victim; the kernel module refuses it
COMM_MAX_LEN = 15
UNIT_RE = re.compile(r"^[A-Za-z0-9:_.\\@-]+$")
UNIT_SUFFIXES = (".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target",
                 ".path", ".timer", ".slice", ".scope")
SELECTOR_KEYS = ("pid", "pidfile", "service", "exe", "comm")


def normalize_selector(selector):
    """Check a selector {kind: value} (exactly one of pid, pidfile, service, exe, comm set).

    Returns (kind, value) with the value normalised: a service name without a unit type gets
    '.service'. Raises SelectorError saying what to fix.
    """
    if not isinstance(selector, dict):
        raise SelectorError("a selector is a mapping with one of %s, got %r" % (", ".join(SELECTOR_KEYS), selector))
    unknown = sorted(k for k in selector if k not in SELECTOR_KEYS)
    if unknown:
        raise SelectorError("unknown selector key(s) %s: use one of %s" % (", ".join(unknown), ", ".join(SELECTOR_KEYS)))
    given = [k for k in SELECTOR_KEYS if selector.get(k) is not None]
    if len(given) != 1:
        raise SelectorError("give exactly one of %s to find the process (given: %s)"
                            % (", ".join(SELECTOR_KEYS), ", ".join(given) or "none"))
    kind = given[0]
    value = selector[kind]
    if kind == "pid":
        if isinstance(value, str) and re.match(r"^[0-9]+$", value):
            value = int(value)
        if not _is_int(value) or value <= 0:
            raise SelectorError("pid must be a positive integer, got %r" % (value,))
        return kind, value
    if not isinstance(value, str) or not value:
        raise SelectorError("%s must be a non-empty string, got %r" % (kind, value))
    if kind in ("pidfile", "exe"):
        if not value.startswith("/") or "\x00" in value or "\n" in value:
            raise SelectorError("%s must be an absolute path, got %r" % (kind, value))
        return kind, value
    if kind == "service":
        if not UNIT_RE.match(value) or value.startswith(".") or len(value) > 255:
            raise SelectorError("service %r is not a systemd unit name (letters, digits and :_.\\@- only)" % value)
        if not value.endswith(UNIT_SUFFIXES):
            value += ".service"
        if not value.endswith(".service"):
            raise SelectorError("service %r is not a .service unit: only services have a main process" % value)
        if value.endswith("@.service"):
            raise SelectorError("service %r is a template: name an instance, e.g. %s" % (value, value.replace("@.", "@NAME.")))
        return kind, value
    # comm
    if "\x00" in value or "\n" in value:
        raise SelectorError("comm %r contains a NUL or newline character" % value)
    if len(value.encode("utf-8", "surrogateescape")) > COMM_MAX_LEN:
        raise SelectorError("comm %r is longer than %d bytes; the kernel keeps only the first %d (as in "
                            "/proc/PID/comm): use %r, or select by exe" % (value, COMM_MAX_LEN, COMM_MAX_LEN,
                                                                           value.encode("utf-8")[:COMM_MAX_LEN].decode("utf-8", "ignore")))
    return kind, value


def describe_selector(selector):
    kind, value = normalize_selector(selector)
    return "%s=%s" % (kind, value)


def _read(path):
    with open(path, "r", errors="surrogateescape") as handle:
        return handle.read()


def process_problem(system, pid):
    """Why PID cannot be registered (no such process, exiting, kernel thread, init, the caller, a thread), or None."""
    base = os.path.join(system.proc, str(pid))
    try:
        text = _read(os.path.join(base, "stat"))
    except (OSError, IOError):
        return "no process has PID %d (looked at %s)" % (pid, base)
    fields = text.rpartition(")")[2].split()
    if len(fields) < 7:
        return "cannot parse %s/stat" % base
    if fields[0] in ("Z", "X"):
        return "process %d is exiting (state %s)" % (pid, fields[0])
    if int(fields[6]) & PF_KTHREAD:
        return "PID %d is a kernel thread, which cannot be registered" % pid
    if pid == INIT_PID:
        return "PID 1 is init, which the OOM killer never kills: register the process that may run out of memory"
    if pid == system.self_pid:
        return "PID %d is the caller itself" % pid
    try:
        status = _read(os.path.join(base, "status"))
    except (OSError, IOError):
        status = ""
    match = re.search(r"^Tgid:\s*([0-9]+)", status, re.M)
    if match and int(match.group(1)) != pid:
        return "PID %d is a thread of process %s, not a process: use %s" % (pid, match.group(1), match.group(1))
    return None


def _user_pids(system):
    """Every process in /proc that is neither a kernel thread, nor init, nor the caller."""
    try:
        names = os.listdir(system.proc)
    except OSError as exc:
        raise RegistryError("cannot list %s: %s" % (system.proc, exc.strerror))
    pids = []
    for name in names:
        if not re.match(r"^[1-9][0-9]*$", name):
            continue
        pid = int(name)
        if pid in (system.self_pid, INIT_PID):
            continue
        try:
            fields = _read(os.path.join(system.proc, name, "stat")).rpartition(")")[2].split()
        except (OSError, IOError):
            continue
        if len(fields) < 7 or fields[0] in ("Z", "X") or int(fields[6]) & PF_KTHREAD:
            continue
        pids.append(pid)
    return sorted(pids)


def _one(system, pid, what):
    problem = process_problem(system, pid)
    if problem:
        return [], "%s: %s" % (what, problem)
    return [pid], None


def resolve_detail(selector, system=None):
    """Like resolve(), but returns (pids, reason); reason says what was looked at when pids is []."""
    system = system or System()
    kind, value = normalize_selector(selector)
    if kind == "pid":
        return _one(system, value, "pid %d" % value)
    if kind == "pidfile":
        try:
            text = _read(system.path(value))
        except (OSError, IOError) as exc:
            return [], "pidfile %s cannot be read (%s): is the process running?" % (value, exc.strerror)
        text = text.strip()
        if not re.match(r"^[1-9][0-9]*$", text):
            return [], "pidfile %s does not hold a PID (it holds %r)" % (value, text[:40])
        return _one(system, int(text), "pidfile %s names PID %s, but" % (value, text))
    if kind == "service":
        properties = unit_properties(value, system)
        main = properties["MainPID"]
        if not main:
            return [], "service %s has no main process (MainPID=0; %s): start it, or use allow_missing" % (
                value, unit_states(properties))
        return _one(system, main, "service %s has MainPID %d, but" % (value, main))
    candidates = _user_pids(system)
    matched = []
    if kind == "exe":
        wanted = set([value])
        real = os.path.realpath(system.path(value))
        wanted.add(real[len(system.root):] if system.root and real.startswith(system.root + "/") else real)
        for pid in candidates:
            try:
                target = os.readlink(os.path.join(system.proc, str(pid), "exe"))
            except OSError:
                continue
            if target.endswith(" (deleted)"):
                target = target[:-len(" (deleted)")]
            if target in wanted:
                matched.append(pid)
        if not matched:
            return [], "no process runs %s (compared with %s/PID/exe of %d processes)" % (
                " or ".join(sorted(wanted)), system.proc, len(candidates))
        return matched, None
    for pid in candidates:
        try:
            comm = _read(os.path.join(system.proc, str(pid), "comm"))
        except (OSError, IOError):
            continue
        if comm.endswith("\n"):
            comm = comm[:-1]
        if comm == value:
            matched.append(pid)
    if not matched:
        return [], "no process has the command name %r (compared with %s/PID/comm of %d processes)" % (
            value, system.proc, len(candidates))
    return matched, None


def resolve_targets(selector, scope=None, system=None):
    """What a registration with this selector registers now, and why nothing when nothing:
    (targets, reason). Targets are PIDs (ints), or for a service with scope service its cgroup (a
    str, systemd's ControlGroup); scope None or main keeps a service to its main PID."""
    system = system or System()
    kind, value = normalize_selector(selector)
    if kind == "service" and scope == SCOPE_SERVICE:
        return service_cgroup(value, system)
    return resolve_detail(selector, system)


def resolve(selector, system=None):
    """The sorted PIDs the selector matches now ([] when none): never kernel threads or the caller."""
    return resolve_detail(selector, system)[0]


def comm_of(pid, system=None):
    """The command name of PID, or None."""
    system = system or System()
    try:
        comm = _read(os.path.join(system.proc, str(pid), "comm"))
    except (OSError, IOError):
        return None
    return comm[:-1] if comm.endswith("\n") else comm
