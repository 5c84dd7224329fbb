# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Reading /proc/graceful_shutdown and its status, and writing lines to it in all-or-nothing
writes, with each errno said in the kernel module's words (the format is registry_proc.py's)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno as errno_mod
import os

from .registry_errors import NotLoadedError, RegistryError, WriteError
from .registry_proc import LINE_MAX_LEN, WRITE_MAX_BYTES, WRITE_MAX_LINES, parse_listing, parse_status
from .registry_system import System

NOT_LOADED_HINT = "load it: role oom.graceful_shutdown.lkm or modprobe graceful_shutdown"
# What the kernel module means by each errno of a write to /proc/graceful_shutdown (docs/lkm.md).
ERRNO_MEANING = {
    "EPERM": "the writer lacks CAP_SYS_ADMIN in the initial user namespace: run as real root (become: true), not in a container",
    "EACCES": ("permission denied: /proc/graceful_shutdown is mode 0600, run as root (become: true); or, on a "
               "write, the runner would never run the handler: it, '/' or a directory on the way is not owned "
               "by root or is writable by group or others, or it is not executable"),
    "E2BIG": "the write is larger than 4096 bytes or has more than 128 lines",
    "EINVAL": ("a line is malformed (or has then= without early=, early= with a cgroup, a user= that is not "
               "UID:GID with both from 0 to 4294967294, or a caps= that is not a nonzero hex mask of capabilities "
               "0 to 40), a PID is a kernel thread or init or appears twice, a cgroup is the root, relative, has a "
               ".. component or appears twice, the handler is a symlink or not a regular file, or there is a "
               "symlink (or a /proc magic link) on the way to it"),
    "ENAMETOOLONG": "the handler path or the cgroup path is longer than 255 characters",
    "ERANGE": "timeout_ms is outside 1..60000, reserve_kb outside 0..1048576 or early outside 50..99",
    "EOPNOTSUPP": ("signal= needs a grace period (backend hook, a patched kernel) and reserve_kb= a patched "
                   "kernel with oom_victim_ops v3 (patch 0005)"),
    "ESRCH": ("no such process: the PID does not exist, is exiting, or is a thread ID rather than a "
              "process ID"),
    "ENOENT": ("an unregistered PID or cgroup was to be unregistered, the cgroup does not exist (its service "
               "stopped), or the handler path does not exist"),
    "ENOTDIR": "a directory on the handler path or the cgroup path is not a directory",
    "ENOSPC": "the table is full: 128 live registrations; unregister some first",
    "EFAULT": "bad user buffer",
    "ENOMEM": "the kernel is out of memory",
    "ENODEV": "the module is being unloaded",
    "EIO": "the module was unloaded while the file was open",
}


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
