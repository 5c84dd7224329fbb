# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""A fake device for the registry tests: a root directory, a /proc with processes and a simulated
kernel module behind /proc/graceful_shutdown (PID and cgroup= registrations), a cgroup v2
hierarchy, a fake systemctl, an lstat with fake owners and a passwd and group database."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import errno
import os
import shutil

import pytest

from ansible_collections.oom.graceful_shutdown.plugins.module_utils import registry
from ansible_collections.oom.graceful_shutdown.plugins.module_utils import registry_io

SELF_PID = 4000000  # the caller's PID as the System sees it
Passwd = collections.namedtuple("Passwd", ["pw_name", "pw_uid", "pw_gid"])
Group = collections.namedtuple("Group", ["gr_name", "gr_gid"])


class UserDatabase(object):
    """The device's passwd and group database (the part of pwd and grp the library asks)."""

    def __init__(self):
        self.users = {"root": (0, 0), "daemon": (1, 1), "data-logger": (998, 997)}  # name -> (uid, primary gid)
        self.groups = {"root": 0, "daemon": 1, "adm": 4, "data-logger": 997}  # name -> gid

    def getpwnam(self, name):
        if name not in self.users:
            raise KeyError("getpwnam(): name not found: %r" % name)
        return Passwd(name, *self.users[name])

    def getpwuid(self, uid):
        for name, (number, gid) in self.users.items():
            if number == uid:
                return Passwd(name, number, gid)
        raise KeyError("getpwuid(): uid not found: %d" % uid)

    def getgrnam(self, name):
        if name not in self.groups:
            raise KeyError("getgrnam(): name not found: %r" % name)
        return Group(name, self.groups[name])


class _OsProxy(object):
    """registry_io's view of the os module, with write() going to the fake kernel."""

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
        self.cgroups = {}  # unit -> ControlGroup (absent: not running)
        self.writes = []  # data of every write() to /proc/graceful_shutdown
        self.write_errors = []  # errno to raise at the next writes, in order
        self.table = {}  # the simulated module's registrations: PID or cgroup path -> Entry
        self.cgroup2 = self.mkdir("/sys/fs/cgroup")  # a cgroup v2 device (cgroup_v1() makes it v1 only)
        (self.cgroup2 / "cgroup.controllers").write_text("cpu memory pids\n")
        self.accounts = UserDatabase()  # pwd and grp of the device
        self.load()

    # -- the system under test --------------------------------------------------------------------

    def system(self):
        return registry.System(root=str(self.root), proc=str(self.proc), run=self.run, lstat=self.lstat,
                               self_pid=SELF_PID, pwd_db=self.accounts, grp_db=self.accounts)

    def lstat(self, path):
        st = os.lstat(path)
        uid = self.owners.get(path[len(str(self.root)):] or "/", 0)
        values = list(st[:10])
        values[4] = uid
        return os.stat_result(values)

    def run(self, argv):
        self.calls.append(list(argv))
        if argv[:2] == ["systemctl", "show"]:
            unit = argv[-1]
            known = unit in self.services
            running = bool(self.services.get(unit) or self.cgroups.get(unit))
            values = {"MainPID": "%d" % self.services.get(unit, 0), "ControlGroup": self.cgroups.get(unit, ""),
                      "LoadState": "loaded" if known else "not-found", "ActiveState": "active" if running else "inactive"}
            # in an order of its own, not that of the -p options (the library must not rely on it)
            order = ("LoadState", "ControlGroup", "ActiveState", "MainPID")
            return 0, "".join("%s=%s\n" % (k, values[k]) for k in order if k in argv), ""
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

    # -- systemd units and their cgroups ---------------------------------------------------------

    def service(self, unit, pid, cgroup=None):
        """A running service: its main PID (0: none) and its cgroup (default /system.slice/UNIT)."""
        self.services[unit] = pid
        self.cgroups[unit] = cgroup or "/system.slice/" + unit
        (self.cgroup2 / self.cgroups[unit].lstrip("/")).mkdir(parents=True, exist_ok=True)
        return self.cgroups[unit]

    def stop(self, unit):
        """The service stopped: no main PID, its cgroup removed (and the module drops its registration)."""
        self.services[unit] = 0
        cgroup = self.cgroups.pop(unit, None)
        if cgroup:
            shutil.rmtree(str(self.cgroup2 / cgroup.lstrip("/")))
            self.table.pop(cgroup, None)
            self._sync()

    def cgroup_v1(self):
        """A device without a cgroup v2 hierarchy (cgroup v1 only)."""
        (self.cgroup2 / "cgroup.controllers").unlink()

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

    def register(self, pid, handler, timeout_ms=3000, signal=None, reserve_kb=0, early=0, then="kill", user=None,
                 caps=0, cgroup=None):
        """Register a PID, or with pid None the cgroup."""
        entry = registry.Entry(pid, handler, timeout_ms, signal, reserve_kb, early, then, user, caps, cgroup)
        self.table[registry.target_of(entry)] = entry
        self._sync()

    @staticmethod
    def _listing_line(entry):
        """What the module lists: options after timeout_ms only when set (registry.c)."""
        target = "cgroup=%s" % entry.cgroup if entry.cgroup is not None else "%d" % entry.pid
        line = "%s %s timeout_ms=%d" % (target, entry.handler, entry.timeout_ms)
        if entry.signal:
            line += " signal=%s" % entry.signal
        if entry.reserve_kb:
            line += " reserve_kb=%d" % entry.reserve_kb
        if entry.early:
            line += " early=%d then=%s" % (entry.early, entry.then)
        if entry.user is not None:
            line += " user=%d:%d" % entry.user
        if entry.caps:
            line += " caps=%x" % entry.caps
        return line + "\n"

    def _sync(self):
        if self.backend is None:
            return
        (self.proc / "graceful_shutdown").write_text(
            "".join(self._listing_line(self.table[t]) for t in sorted(self.table, key=registry.target_key)))
        (self.proc / "graceful_shutdown_status").write_text(
            "backend=%s\nhook_api=%d\nversion=0.1.0\nrunner=1\nregistrations=%d\nregistrations_max=128\n"
            % (self.backend, 1 if self.backend == "hook" else 0, len(self.table)))

    def kernel_write(self, data):
        """All or nothing, as the module does."""
        self.writes.append(data.decode())
        if self.write_errors:
            raise OSError(self.write_errors.pop(0), "simulated")
        table = dict(self.table)
        seen = set()
        for line in data.decode().splitlines():
            first = line.split()[0]
            target = first.lstrip("-")
            target = target[len("cgroup="):] if target.startswith("cgroup=") else int(target)
            if target in seen:
                raise OSError(errno.EINVAL, "the same PID or cgroup twice in one write")
            seen.add(target)
            if first.startswith("-"):
                if target not in table:
                    raise OSError(errno.ENOENT, "no registration")
                del table[target]
                continue
            handler = line.split()[1]
            options = dict(field.split("=", 1) for field in line.split()[2:])
            if isinstance(target, str):
                if "early" in options or "then" in options:
                    raise OSError(errno.EINVAL, "early= covers one process, not a cgroup")
                if not (self.cgroup2 / target.lstrip("/")).is_dir():
                    raise OSError(errno.ENOENT, "no such cgroup")
            elif not (self.proc / str(target)).exists():
                raise OSError(errno.ESRCH, "no such process")
            user = tuple(int(n) for n in options["user"].split(":")) if "user" in options else None
            table[target] = registry.entry_for(target, handler, int(options.get("timeout_ms", 3000)),
                                               options.get("signal"), int(options.get("reserve_kb", 0)),
                                               int(options.get("early", 0)), options.get("then", "kill"),
                                               user, int(options.get("caps", "0"), 16))
        self.table = table
        self._sync()
        return len(data)

    def lines(self):
        """The table's entries: PIDs in order, then cgroups."""
        return [self.table[t] for t in sorted(self.table, key=registry.target_key)]


@pytest.fixture
def world(tmp_path, monkeypatch):
    w = World(tmp_path)
    monkeypatch.setattr(registry_io, "os", _OsProxy(w))  # write_lines() writes to /proc
    return w
