# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""The /proc/graceful_shutdown format: lines to write, the listing and the status to parse, and
what the kernel module means by each errno of a write."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import errno as errno_mod
import os
import re

from .registry_errors import NotLoadedError, ParseError, RegistryError, WriteError
from .registry_handler import handler_syntax_problems
from .registry_system import System

TIMEOUT_MIN = 1
TIMEOUT_MAX = 60000
TIMEOUT_DEFAULT = 3000
# What a registration may ask for besides its handler (module API 3, patch 0005): a signal sent
# to the process when its grace starts, and memory it may charge over its memcg's limit then.
SIGNALS = ("HUP", "INT", "QUIT", "USR1", "USR2", "TERM")
RESERVE_MAX_KB = 1048576
# Early mode (the runner, on a kernel without a grace): memory.high at EARLY percent of the
# cgroup's limit, the handler when the kernel throttles there, then THEN (docs/early-mode.md).
EARLY_MIN = 50
EARLY_MAX = 99
EARLY_DEFAULT = 90
THEN = ("kill", "term", "continue")
THEN_DEFAULT = "kill"
WRITE_MAX_BYTES = 4096
WRITE_MAX_LINES = 128
LINE_MAX_LEN = 512
NOT_LOADED_HINT = "load it: role oom.graceful_shutdown.lkm or modprobe graceful_shutdown"
# What the kernel module means by each errno of a write to /proc/graceful_shutdown (docs/lkm.md).
ERRNO_MEANING = {
    "EPERM": "the writer lacks CAP_SYS_ADMIN in the initial user namespace: run as real root (become: true), not in a container",
    "EACCES": ("permission denied: /proc/graceful_shutdown is mode 0600, run as root (become: true); or, on a "
               "write, the runner would never run the handler: it, '/' or a directory on the way is not owned "
               "by root or is writable by group or others, or it is not executable"),
    "E2BIG": "the write is larger than 4096 bytes or has more than 128 lines",
    "EINVAL": ("a line is malformed (or has then= without early=), a PID is a kernel thread or init or "
               "appears twice, the handler is a symlink or not a regular file, or there is a symlink (or a "
               "/proc magic link) on the way to it"),
    "ENAMETOOLONG": "the handler path is longer than 255 characters",
    "ERANGE": "timeout_ms is outside 1..60000, reserve_kb outside 0..1048576 or early outside 50..99",
    "EOPNOTSUPP": ("signal= needs a grace period (backend hook, a patched kernel) and reserve_kb= a patched "
                   "kernel with oom_victim_ops v3 (patch 0005)"),
    "ESRCH": ("no such process: the PID does not exist, is exiting, or is a thread ID rather than a "
              "process ID"),
    "ENOENT": "an unregistered PID was to be unregistered, or the handler path does not exist",
    "ENOTDIR": "a directory on the handler path is not a directory",
    "ENOSPC": "the table is full: 128 live registrations; unregister some first",
    "EFAULT": "bad user buffer",
    "ENOMEM": "the kernel is out of memory",
    "ENODEV": "the module is being unloaded",
    "EIO": "the module was unloaded while the file was open",
}
Entry = collections.namedtuple("Entry", ["pid", "handler", "timeout_ms", "signal", "reserve_kb", "early", "then"])
Entry.__new__.__defaults__ = (None, 0, 0, THEN_DEFAULT)  # no signal, no reserve, no early mode


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_timeout(timeout_ms):
    if not _is_int(timeout_ms) or not TIMEOUT_MIN <= timeout_ms <= TIMEOUT_MAX:
        raise RegistryError("timeout_ms must be an integer from %d to %d, got %r"
                            % (TIMEOUT_MIN, TIMEOUT_MAX, timeout_ms))


def _check_signal(signal):
    if signal is not None and signal not in SIGNALS:
        raise RegistryError("signal must be one of %s (no SIG prefix), got %r" % (", ".join(SIGNALS), signal))


def _check_reserve(reserve_kb):
    if not _is_int(reserve_kb) or not 0 <= reserve_kb <= RESERVE_MAX_KB:
        raise RegistryError("reserve_kb must be an integer from 0 to %d, got %r" % (RESERVE_MAX_KB, reserve_kb))


def _check_early(early):
    if not _is_int(early) or not (early == 0 or EARLY_MIN <= early <= EARLY_MAX):
        raise RegistryError("early_threshold must be an integer from %d to %d (percent of the cgroup's memory "
                            "limit), got %r" % (EARLY_MIN, EARLY_MAX, early))


def _check_then(then, early=1):
    if then not in THEN:
        raise RegistryError("then must be one of %s, got %r" % (", ".join(THEN), then))
    if then != THEN_DEFAULT and not early:
        raise RegistryError("then: %s is early mode's policy: it needs mode: early" % then)


def _check_options(timeout_ms, signal, reserve_kb, early=0, then=THEN_DEFAULT):
    """Raise RegistryError unless a registration's options are ones the kernel module accepts."""
    _check_timeout(timeout_ms)
    _check_signal(signal)
    _check_reserve(reserve_kb)
    _check_early(early)
    _check_then(then, early)


def option_fields(entry):
    """The 'key=value' options of a registration, in /proc order: timeout_ms always, the others when set."""
    fields = ["timeout_ms=%d" % entry.timeout_ms]
    if entry.signal is not None:
        fields.append("signal=%s" % entry.signal)
    if entry.reserve_kb:
        fields.append("reserve_kb=%d" % entry.reserve_kb)
    if entry.early:
        fields.append("early=%d" % entry.early)
        fields.append("then=%s" % entry.then)
    return fields


def _parse_options(fields):
    """{key: value} of the option fields of a listing line; a string saying what is wrong if invalid."""
    options = {}
    for field in fields:
        key, dummy, value = field.partition("=")
        if key in options:
            return "option %s is listed twice" % key
        if key in ("timeout_ms", "reserve_kb", "early"):
            if not re.match(r"^[0-9]+$", value):
                return "expected %s=N, found %r" % (key, field)
            options[key] = int(value)
        elif key == "signal":
            if value not in SIGNALS:
                return "unknown signal in %r" % field
            options[key] = value
        elif key == "then":
            if value not in THEN:
                return "unknown then in %r" % field
            options[key] = value
        else:
            return "unknown option %r" % field
    if "timeout_ms" not in options:
        return "expected timeout_ms=N as the third field"
    if not TIMEOUT_MIN <= options["timeout_ms"] <= TIMEOUT_MAX:
        return "timeout_ms %d is outside %d..%d" % (options["timeout_ms"], TIMEOUT_MIN, TIMEOUT_MAX)
    if not 0 <= options.get("reserve_kb", 0) <= RESERVE_MAX_KB:
        return "reserve_kb %d is outside 0..%d" % (options["reserve_kb"], RESERVE_MAX_KB)
    if "early" in options and not EARLY_MIN <= options["early"] <= EARLY_MAX:
        return "early %d is outside %d..%d" % (options["early"], EARLY_MIN, EARLY_MAX)
    if ("then" in options) != ("early" in options):
        return "early= and then= come together"
    return options


def _check_pid(pid):
    if not _is_int(pid) or pid <= 0:
        raise RegistryError("a PID must be a positive integer, got %r" % (pid,))


def parse_listing(text):
    """Parse what reading /proc/graceful_shutdown returns: 'PID PATH timeout_ms=N' per line, then
    ' signal=NAME', ' reserve_kb=N' and ' early=PCT then=POLICY' when the registration has them.

    Returns a list of Entry in the order read. Raises ParseError on any line that is not exactly
    that form, and on a PID listed twice.
    """
    entries = []
    seen = set()
    for number, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        fields = line.split()
        problem = None
        options = _parse_options(fields[2:]) if len(fields) >= 3 else {}
        if not 3 <= len(fields) <= 7:
            problem = ("expected 3 to 7 fields 'PID PATH timeout_ms=N [signal=NAME] [reserve_kb=N] "
                       "[early=PCT then=POLICY]', found %d" % len(fields))
        elif not re.match(r"^[1-9][0-9]*$", fields[0]):
            problem = "the PID %r is not a positive decimal number" % fields[0]
        elif not fields[1].startswith("/"):
            problem = "the handler %r is not an absolute path" % fields[1]
        elif not fields[2].startswith("timeout_ms="):
            problem = "expected timeout_ms=N as the third field, found %r" % fields[2]
        elif not isinstance(options, dict):
            problem = options
        elif int(fields[0]) in seen:
            problem = "PID %s is listed twice" % fields[0]
        if problem:
            raise ParseError("cannot parse line %d of /proc/graceful_shutdown (%r): %s; is the module "
                             "graceful_shutdown the version this collection expects?" % (number, line, problem))
        entry = Entry(int(fields[0]), fields[1], options["timeout_ms"], options.get("signal"),
                      options.get("reserve_kb", 0), options.get("early", 0), options.get("then", THEN_DEFAULT))
        seen.add(entry.pid)
        entries.append(entry)
    return entries


def format_line(pid, handler, timeout_ms, signal=None, reserve_kb=0, early=0, then=THEN_DEFAULT):
    """The line that registers PID with HANDLER, TIMEOUT_MS and the options (no newline)."""
    entry = Entry(pid, handler, timeout_ms, signal, reserve_kb, early, then)
    _check_pid(pid)
    _check_options(timeout_ms, signal, reserve_kb, early, then)
    problems = handler_syntax_problems(handler)
    if problems:
        raise RegistryError("; ".join(problems))
    return " ".join(["%d" % pid, handler] + option_fields(entry))


def format_unregister(pid):
    """The line that unregisters PID (no newline)."""
    _check_pid(pid)
    return "-%d" % pid


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


def read_listing(system=None):
    """Read and parse /proc/graceful_shutdown."""
    system = system or System()
    try:
        with open(system.registry_file, "r") as handle:
            text = handle.read()
    except OSError as exc:
        if exc.errno == errno_mod.ENOENT:
            raise NotLoadedError("the graceful_shutdown kernel module is not loaded (%s is missing): %s"
                                 % (system.registry_file, NOT_LOADED_HINT))
        if exc.errno in (errno_mod.EACCES, errno_mod.EPERM):
            raise RegistryError("cannot read %s: %s; it is readable by root with CAP_SYS_ADMIN only: run as "
                                "root (become: true)" % (system.registry_file, exc.strerror))
        raise RegistryError("cannot read %s: %s" % (system.registry_file, exc.strerror))
    return parse_listing(text)


def read_status(system=None):
    """Read and parse /proc/graceful_shutdown_status; {} when the module is not loaded."""
    system = system or System()
    try:
        with open(system.status_file, "r") as handle:
            text = handle.read()
    except OSError as exc:
        if exc.errno == errno_mod.ENOENT:
            return {}
        raise RegistryError("cannot read %s: %s" % (system.status_file, exc.strerror))
    return parse_status(text)


def describe_errno(number):
    name = errno_mod.errorcode.get(number, "errno %s" % number)
    return name, ERRNO_MEANING.get(name, os.strerror(number) if number else "unknown error")


def _batches(lines):
    batch, size = [], 0
    for line in lines:
        if len(line) + 1 > LINE_MAX_LEN:
            raise RegistryError("line %r is longer than %d characters" % (line, LINE_MAX_LEN))
        if batch and (size + len(line) + 1 > WRITE_MAX_BYTES or len(batch) >= WRITE_MAX_LINES):
            yield batch
            batch, size = [], 0
        batch.append(line)
        size += len(line) + 1
    if batch:
        yield batch


def write_lines(lines, system=None):
    """Write the lines to /proc/graceful_shutdown in one os.write() (the kernel applies it all or nothing).

    Only when they exceed one write (4096 bytes or 128 lines) are they split, in order, into
    several writes. Raises NotLoadedError, or WriteError naming the errno and what the kernel
    means by it; nothing of a failed write is applied.
    """
    system = system or System()
    lines = list(lines)
    if not lines:
        return
    try:
        fd = os.open(system.registry_file, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno_mod.ENOENT:
            raise NotLoadedError("the graceful_shutdown kernel module is not loaded (%s is missing): %s"
                                 % (system.registry_file, NOT_LOADED_HINT))
        name, meaning = describe_errno(exc.errno)
        raise WriteError("cannot open %s: %s (%s)" % (system.registry_file, name, meaning), exc.errno, name, lines)
    try:
        for batch in _batches(lines):
            data = ("\n".join(batch) + "\n").encode("utf-8", "surrogateescape")
            try:
                written = os.write(fd, data)
            except OSError as exc:
                name, meaning = describe_errno(exc.errno)
                raise WriteError("writing %d line(s) to %s failed with %s: %s; nothing of this write was applied. "
                                 "Lines: %s" % (len(batch), system.registry_file, name, meaning, " | ".join(batch)),
                                 exc.errno, name, batch)
            if written != len(data):
                raise WriteError("short write to %s (%d of %d bytes)" % (system.registry_file, written, len(data)),
                                 None, None, batch)
    finally:
        os.close(fd)
