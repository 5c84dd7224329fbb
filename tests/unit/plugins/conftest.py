# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""A fake device for the registry tests: a root directory, a /proc with processes and a simulated
kernel module behind /proc/graceful_shutdown, a fake systemctl and an lstat with fake owners."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import shutil

import pytest

from ansible_collections.oom.graceful_shutdown.plugins.module_utils import registry
from ansible_collections.oom.graceful_shutdown.plugins.module_utils import registry_proc

SELF_PID = 4000000  # the caller's PID as the System sees it


class _OsProxy(object):
    """registry_proc's view of the os module, with write() going to the fake kernel."""

    def __init__(self, world):
        self._world = world

    def __getattr__(self, name):
        return getattr(os, name)

    def write(self, fd, data):
        target = os.readlink("/proc/self/fd/%d" % fd)
        if target != str(self._world.proc / "graceful_shutdown"):
            return os.write(fd, data)
        return self._world.kernel_write(data)


class World(object):
    def __init__(self, tmp_path):
        self.root = tmp_path / "root"
        self.proc = tmp_path / "proc"
        self.root.mkdir(mode=0o755)
        self.proc.mkdir()
        os.chmod(str(self.root), 0o755)
        self.owners = {}  # path under root -> uid
        self.calls = []  # argv of every command run
        self.services = {}  # unit -> main PID
        self.writes = []  # data of every write() to /proc/graceful_shutdown
        self.write_errors = []  # errno to raise at the next writes, in order
        self.table = {}  # the simulated module's registrations: pid -> Entry
        self.load()

    # -- the system under test --------------------------------------------------------------------

    def system(self):
        return registry.System(root=str(self.root), proc=str(self.proc), run=self.run, lstat=self.lstat,
                               self_pid=SELF_PID)

    def lstat(self, path):
        st = os.lstat(path)
        uid = self.owners.get(path[len(str(self.root)):] or "/", 0)
        values = list(st[:10])
        values[4] = uid
        return os.stat_result(values)

    def run(self, argv):
        self.calls.append(list(argv))
        if argv[:2] == ["systemctl", "show"] and "--value" in argv:
            return 0, "%d\n" % self.services.get(argv[-1], 0), ""
        if argv[:2] == ["systemctl", "show"]:
            known = argv[-1] in self.services
            return 0, "LoadState=%s\nActiveState=%s\n" % ("loaded" if known else "not-found",
                                                          "active" if self.services.get(argv[-1]) else "inactive"), ""
        if argv == ["systemctl", "daemon-reload"]:
            return 0, "", ""
        return 127, "", "%s: not found" % argv[0]

    # -- files ------------------------------------------------------------------------------------

    def path(self, path):
        return self.root / path.lstrip("/")

    def mkdir(self, path, mode=0o755):
        real = self.path(path)
        real.mkdir(parents=True, exist_ok=True)
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            os.chmod(str(self.root.joinpath(*parts[:i])), mode)
        return real

    def file(self, path, text="#!/bin/sh\n", mode=0o755):
        self.mkdir(os.path.dirname(path))
        real = self.path(path)
        real.write_text(text)
        os.chmod(str(real), mode)
        return real

    def handler(self, path="/usr/local/sbin/flush", mode=0o755):
        self.file(path, mode=mode)
        return path

    def install_cli(self):
        self.file(registry.CLI)

    def read(self, path):
        real = self.path(path)
        return real.read_text() if real.exists() else None

    # -- /proc ------------------------------------------------------------------------------------

    def process(self, pid, comm="app", exe="/usr/bin/app", state="S", flags=0x400100, tgid=None):
        directory = self.proc / str(pid)
        directory.mkdir()
        (directory / "stat").write_text("%d (%s) %s 1 %d %d 0 -1 %d 0 0 0 0 0 0\n" % (pid, comm, state, pid, pid, flags))
        (directory / "comm").write_text(comm + "\n")
        (directory / "status").write_text("Name:\t%s\nState:\t%s\nTgid:\t%d\nPid:\t%d\n" % (comm, state, tgid or pid, pid))
        if exe:
            os.symlink(exe, str(directory / "exe"))
        return pid

    def kthread(self, pid, comm="kworker/0:1"):
        return self.process(pid, comm=comm, exe=None, flags=0x208040)

    def kill(self, pid):
        shutil.rmtree(str(self.proc / str(pid)))
        self.table.pop(pid, None)
        self._sync()

    # -- the simulated kernel module -------------------------------------------------------------

    def load(self, backend="hook"):
        self.backend = backend
        self._sync()

    def unload(self):
        self.backend = None
        self.table = {}
        for name in ("graceful_shutdown", "graceful_shutdown_status"):
            if (self.proc / name).exists():
                (self.proc / name).unlink()

    def register(self, pid, handler, timeout_ms=3000, signal=None, reserve_kb=0, early=0, then="kill"):
        self.table[pid] = registry.Entry(pid, handler, timeout_ms, signal, reserve_kb, early, then)
        self._sync()

    @staticmethod
    def _listing_line(entry):
        """What the module lists: options after timeout_ms only when set (registry.c)."""
        line = "%d %s timeout_ms=%d" % entry[:3]
        if entry.signal:
            line += " signal=%s" % entry.signal
        if entry.reserve_kb:
            line += " reserve_kb=%d" % entry.reserve_kb
        if entry.early:
            line += " early=%d then=%s" % (entry.early, entry.then)
        return line + "\n"

    def _sync(self):
        if self.backend is None:
            return
        (self.proc / "graceful_shutdown").write_text(
            "".join(self._listing_line(self.table[p]) for p in sorted(self.table)))
        (self.proc / "graceful_shutdown_status").write_text(
            "backend=%s\nhook_api=%d\nversion=0.1.0\nrunner=1\nregistrations=%d\nregistrations_max=128\n"
            % (self.backend, 1 if self.backend == "hook" else 0, len(self.table)))

    def kernel_write(self, data):
        """All or nothing, as the module does."""
        self.writes.append(data.decode())
        if self.write_errors:
            raise OSError(self.write_errors.pop(0), "simulated")
        table = dict(self.table)
        for line in data.decode().splitlines():
            if line.startswith("-"):
                pid = int(line[1:])
                if pid not in table:
                    raise OSError(errno.ENOENT, "no registration")
                del table[pid]
                continue
            pid, handler = line.split()[:2]
            options = dict(field.split("=", 1) for field in line.split()[2:])
            if not (self.proc / pid).exists():
                raise OSError(errno.ESRCH, "no such process")
            table[int(pid)] = registry.Entry(int(pid), handler, int(options.get("timeout_ms", 3000)),
                                             options.get("signal"), int(options.get("reserve_kb", 0)),
                                             int(options.get("early", 0)), options.get("then", "kill"))
        self.table = table
        self._sync()
        return len(data)

    def lines(self):
        return sorted(self.table.values())


@pytest.fixture
def world(tmp_path, monkeypatch):
    w = World(tmp_path)
    monkeypatch.setattr(registry_proc, "os", _OsProxy(w))  # write_lines() writes to /proc
    return w
