# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""The options of a /proc/graceful_shutdown line (timeout_ms=, signal=, reserve_kb=, early=, then=,
user=, caps=): their limits, their checks, and how they are written and read (registry_proc.py has
the lines)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from .registry_errors import RegistryError
from .registry_identity import CAP_LAST, CAPS_MASK_MAX, ID_MAX, check_caps, check_user

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


def _check_options(timeout_ms, signal, reserve_kb, early=0, then=THEN_DEFAULT, user=None, caps=0):
    """Raise RegistryError unless a registration's options are ones the kernel module accepts."""
    _check_timeout(timeout_ms)
    _check_signal(signal)
    _check_reserve(reserve_kb)
    _check_early(early)
    _check_then(then, early)
    check_user(user)
    check_caps(caps)


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
    if entry.user is not None:
        fields.append("user=%d:%d" % tuple(entry.user))
    if entry.caps:
        fields.append("caps=%x" % entry.caps)
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
        elif key == "user":
            match = re.match(r"^([0-9]{1,10}):([0-9]{1,10})$", value)
            if not match or max(int(match.group(1)), int(match.group(2))) > ID_MAX:
                return "expected user=UID:GID (each 0..%d), found %r" % (ID_MAX, field)
            options[key] = (int(match.group(1)), int(match.group(2)))
        elif key == "caps":
            if not re.match(r"^[0-9a-f]{1,16}$", value) or not 0 < int(value, 16) <= CAPS_MASK_MAX:
                return "expected caps=HEX (a nonzero mask of capabilities 0..%d), found %r" % (CAP_LAST, field)
            options[key] = int(value, 16)
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
