# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Registrations of graceful-shutdown handlers with /proc/graceful_shutdown.

This file is the one place that knows the /proc format, the handler safety rules, the process
selectors and the declaration files. It uses the Python standard library only: the modules
oom.graceful_shutdown.registration and registration_info import it as module_utils, and the role
oom.graceful_shutdown.registrations copies the very same file to devices as
/usr/local/lib/oomgs/registry.py, where the CLI /usr/local/sbin/oomgs-register imports it.

Every function that touches the system takes a System (file system root, /proc root, command
runner, lstat), so unit tests run against temporary directories and fakes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import errno as errno_mod
import glob
import json
import os
import re
import stat
import subprocess
import tempfile

PROC = "/proc"
REGISTRY_NAME = "graceful_shutdown"
STATUS_NAME = "graceful_shutdown_status"
DECLARATION_DIR = "/etc/graceful_shutdown/registrations.d"
SYSTEMD_DIR = "/etc/systemd/system"
CLI = "/usr/local/sbin/oomgs-register"
LIBDIR = "/usr/local/lib/oomgs"

TIMEOUT_MIN = 1
TIMEOUT_MAX = 60000
TIMEOUT_DEFAULT = 3000
# What a registration may ask for besides its handler (module API 3, patch 0005): a signal sent
# to the process when its grace starts, and memory it may charge over its memcg's limit then.
SIGNALS = ("HUP", "INT", "QUIT", "USR1", "USR2", "TERM")
RESERVE_MAX_KB = 1048576
PATH_MAX_LEN = 255
COMM_MAX_LEN = 15
WRITE_MAX_BYTES = 4096
WRITE_MAX_LINES = 128
LINE_MAX_LEN = 512

PF_KTHREAD = 0x00200000
INIT_PID = 1  # never an OOM victim; the kernel module refuses it
RUN_TIMEOUT = 60  # seconds for a systemctl call

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
UNIT_RE = re.compile(r"^[A-Za-z0-9:_.\\@-]+$")
UNIT_SUFFIXES = (".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target",
                 ".path", ".timer", ".slice", ".scope")
SELECTOR_KEYS = ("pid", "pidfile", "service", "exe", "comm")
DECLARATION_KEYS = ("handler", "name", "selector", "timeout_ms")
# Keys a declaration may have; left out when they are at their defaults (no signal, no reserve).
DECLARATION_OPTIONAL_KEYS = ("signal", "reserve_kb")

NOT_LOADED_HINT = "load it: role oom.graceful_shutdown.lkm or modprobe graceful_shutdown"
CLI_HINT = "apply role oom.graceful_shutdown.registrations"

# What the kernel module means by each errno of a write to /proc/graceful_shutdown (docs/lkm.md).
ERRNO_MEANING = {
    "EPERM": "the writer lacks CAP_SYS_ADMIN in the initial user namespace: run as real root (become: true), not in a container",
    "EACCES": ("permission denied: /proc/graceful_shutdown is mode 0600, run as root (become: true); or, on a "
               "write, the runner would never run the handler: it, '/' or a directory on the way is not owned "
               "by root or is writable by group or others, or it is not executable"),
    "E2BIG": "the write is larger than 4096 bytes or has more than 128 lines",
    "EINVAL": ("a line is malformed, a PID is a kernel thread or init or appears twice, the handler is a "
               "symlink or not a regular file, or there is a symlink (or a /proc magic link) on the way to it"),
    "ENAMETOOLONG": "the handler path is longer than 255 characters",
    "ERANGE": "timeout_ms is outside 1..60000 or reserve_kb outside 0..1048576",
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

Entry = collections.namedtuple("Entry", ["pid", "handler", "timeout_ms", "signal", "reserve_kb"])
Entry.__new__.__defaults__ = (None, 0)  # no signal, no reserve
Plan = collections.namedtuple("Plan", ["register", "unregister", "unchanged"])


class RegistryError(Exception):
    """Any error of this library; str() is a sentence saying what is wrong and what to do."""


class ParseError(RegistryError):
    """Text read from /proc or a declaration file that this library does not understand."""


class SelectorError(RegistryError):
    """An invalid selector (not a missing process: that is an empty resolve() result)."""


class NotLoadedError(RegistryError):
    """/proc/graceful_shutdown does not exist."""


class WriteError(RegistryError):
    """A write to /proc/graceful_shutdown failed; nothing of that write was applied."""

    def __init__(self, message, errno=None, errno_name=None, lines=None):
        super(WriteError, self).__init__(message)
        self.errno = errno
        self.errno_name = errno_name
        self.lines = list(lines or [])


def _default_run(argv):
    """Run a command without a shell; return (rc, stdout, stderr) like AnsibleModule.run_command."""
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    except OSError as exc:
        return 127, "", "%s: %s" % (argv[0], exc.strerror or exc)
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return 124, out, "%s timed out after %d s" % (" ".join(argv), RUN_TIMEOUT)
    return proc.returncode, out, err


class System(object):
    """Where the library looks: file system root, /proc, commands, lstat and the caller's PID.

    root is a prefix for every file path (declarations, drop-ins, handlers, pidfiles, the CLI);
    proc is the /proc directory (holding graceful_shutdown, graceful_shutdown_status and PID
    directories); run(argv) returns (rc, stdout, stderr); lstat(path) is os.lstat by default.
    """

    def __init__(self, root="", proc=PROC, run=None, lstat=None, self_pid=None):
        self.root = root.rstrip("/")
        self.proc = proc.rstrip("/") or "/"
        self.run = run or _default_run
        self.lstat = lstat or os.lstat
        self.self_pid = os.getpid() if self_pid is None else self_pid

    def path(self, path):
        """The real location of an absolute path under the root."""
        return self.root + path

    @property
    def registry_file(self):
        return os.path.join(self.proc, REGISTRY_NAME)

    @property
    def status_file(self):
        return os.path.join(self.proc, STATUS_NAME)

    @property
    def declaration_dir(self):
        return self.path(DECLARATION_DIR)

    @property
    def cli(self):
        return self.path(CLI)

    def module_loaded(self):
        return os.path.exists(self.registry_file)


# ---------------------------------------------------------------------------------------------
# The /proc format
# ---------------------------------------------------------------------------------------------

def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def handler_syntax_problems(path):
    """Problems of the handler path as text (what the kernel's parser rejects, and '..')."""
    problems = []
    if not isinstance(path, str) or not path:
        return ["the handler path is empty: give the absolute path of an executable file"]
    if not path.startswith("/"):
        problems.append("handler path %s is not absolute: give the full path, starting with /" % path)
    if len(path.encode("utf-8", "surrogateescape")) > PATH_MAX_LEN:
        problems.append("handler path %s is longer than %d characters: install the handler at a shorter path"
                        % (path, PATH_MAX_LEN))
    if re.search(r"[\s\x00-\x1f\x7f]", path):
        problems.append("handler path %r contains blanks or control characters, which /proc/graceful_shutdown "
                        "cannot carry: rename it" % path)
    if ".." in path.split("/"):
        problems.append("handler path %s has a '..' component: give the path without '..'" % path)
    return problems


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


def _check_options(timeout_ms, signal, reserve_kb):
    """Raise RegistryError unless a registration's options are ones the kernel module accepts."""
    _check_timeout(timeout_ms)
    _check_signal(signal)
    _check_reserve(reserve_kb)


def option_fields(entry):
    """The 'key=value' options of a registration, in /proc order: timeout_ms always, the others when set."""
    fields = ["timeout_ms=%d" % entry.timeout_ms]
    if entry.signal is not None:
        fields.append("signal=%s" % entry.signal)
    if entry.reserve_kb:
        fields.append("reserve_kb=%d" % entry.reserve_kb)
    return fields


def _parse_options(fields):
    """{key: value} of the option fields of a listing line; a string saying what is wrong if invalid."""
    options = {}
    for field in fields:
        key, dummy, value = field.partition("=")
        if key in options:
            return "option %s is listed twice" % key
        if key in ("timeout_ms", "reserve_kb"):
            if not re.match(r"^[0-9]+$", value):
                return "expected %s=N, found %r" % (key, field)
            options[key] = int(value)
        elif key == "signal":
            if value not in SIGNALS:
                return "unknown signal in %r" % field
            options[key] = value
        else:
            return "unknown option %r" % field
    if "timeout_ms" not in options:
        return "expected timeout_ms=N as the third field"
    if not TIMEOUT_MIN <= options["timeout_ms"] <= TIMEOUT_MAX:
        return "timeout_ms %d is outside %d..%d" % (options["timeout_ms"], TIMEOUT_MIN, TIMEOUT_MAX)
    if not 0 <= options.get("reserve_kb", 0) <= RESERVE_MAX_KB:
        return "reserve_kb %d is outside 0..%d" % (options["reserve_kb"], RESERVE_MAX_KB)
    return options


def _check_pid(pid):
    if not _is_int(pid) or pid <= 0:
        raise RegistryError("a PID must be a positive integer, got %r" % (pid,))


def parse_listing(text):
    """Parse what reading /proc/graceful_shutdown returns: 'PID PATH timeout_ms=N' per line, then
    ' signal=NAME' and ' reserve_kb=N' when the registration has them.

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
        if not 3 <= len(fields) <= 5:
            problem = "expected 3 to 5 fields 'PID PATH timeout_ms=N [signal=NAME] [reserve_kb=N]', found %d" % len(fields)
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
                      options.get("reserve_kb", 0))
        seen.add(entry.pid)
        entries.append(entry)
    return entries


def format_line(pid, handler, timeout_ms, signal=None, reserve_kb=0):
    """The line that registers PID with HANDLER, TIMEOUT_MS and the options (no newline)."""
    entry = Entry(pid, handler, timeout_ms, signal, reserve_kb)
    _check_pid(pid)
    _check_options(timeout_ms, signal, reserve_kb)
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


def system_for_ansible_module(module):
    """A System whose commands run through an AnsibleModule (run_command; a command that is not
    installed gives rc 127). Duck-typed, so this file still imports nothing from ansible."""
    def run(argv):
        if module.get_bin_path(argv[0]) is None:
            return 127, "", "%s is not installed on the device" % argv[0]
        return module.run_command(argv)
    return System(run=run)


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


# ---------------------------------------------------------------------------------------------
# Handler safety (the same rules as files/runner/path_check.c)
# ---------------------------------------------------------------------------------------------

def _owner_mode_problems(st, what, path):
    problems = []
    other = " (or install the handler in a directory that only root owns and can write)" if what == "directory" else ""
    if st.st_uid != 0:
        problems.append("%s %s is owned by uid %d, not root: chown root %s%s"
                        % (what, path, st.st_uid, path, other))
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problems.append("%s %s is writable by group or others (mode %04o): chmod go-w %s%s"
                        % (what, path, stat.S_IMODE(st.st_mode), path, other))
    return problems


def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symlink"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_handler(path, root="", lstat=None):
    """Return the problems of a handler path, each a sentence saying what to fix; [] means safe.

    The rules of the runner (files/runner/path_check.c), which re-checks before every run: the
    path is absolute with no '..'; no component is a symlink (each one is lstat()ed); '/' and
    every directory on the way and the file are owned by root and not writable by group or
    others; the file is a regular file, executable by its owner. The kernel also needs at most
    255 characters and no blanks. root is prepended to every looked-up path (tests); lstat
    defaults to os.lstat.
    """
    lstat = lstat or os.lstat
    root = root.rstrip("/")
    problems = handler_syntax_problems(path)
    if problems and (not isinstance(path, str) or not path.startswith("/") or ".." in path.split("/")):
        return problems

    try:
        st = lstat(root + "/")
    except OSError as exc:
        return problems + ["cannot check /: %s" % exc.strerror]
    problems.extend(_owner_mode_problems(st, "directory", "/"))

    components = [c for c in path.split("/") if c not in ("", ".")]
    if not components:
        return problems + ["handler path %s names no file: give the path of an executable file" % path]
    sofar = ""
    for index, component in enumerate(components):
        sofar += "/" + component
        last = index == len(components) - 1
        try:
            st = lstat(root + sofar)
        except OSError as exc:
            if exc.errno == errno_mod.ENOENT:
                problems.append("%s does not exist: install the handler first" % sofar
                                if last else "directory %s does not exist: install the handler first" % sofar)
            elif exc.errno == errno_mod.ENOTDIR:
                problems.append("%s is not a directory: fix the handler path" % os.path.dirname(sofar))
            else:
                problems.append("cannot check %s: %s" % (sofar, exc.strerror))
            return problems
        if stat.S_ISLNK(st.st_mode):
            real = os.path.realpath(root + path)
            real = real[len(root):] if root and real.startswith(root + "/") else real
            problems.append("%s is a symlink: symlinks are not allowed anywhere on a handler path; use the real "
                            "path (%s)" % (sofar, real))
            return problems
        if not last:
            if not stat.S_ISDIR(st.st_mode):
                problems.append("%s is not a directory: fix the handler path" % sofar)
                return problems
            problems.extend(_owner_mode_problems(st, "directory", sofar))
            continue
        if not stat.S_ISREG(st.st_mode):
            problems.append("handler %s is %s, not a regular file: give the path of an executable file"
                            % (sofar, _kind(st.st_mode)))
            return problems
        problems.extend(_owner_mode_problems(st, "handler", sofar))
        if not st.st_mode & stat.S_IXUSR:
            problems.append("handler %s is not executable: chmod u+x %s" % (sofar, sofar))
    return problems


# ---------------------------------------------------------------------------------------------
# Selectors
# ---------------------------------------------------------------------------------------------

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
        argv = ["systemctl", "show", "-p", "MainPID", "--value", value]
        rc, out, err = system.run(argv)
        if rc != 0:
            raise RegistryError("'%s' failed (rc %d): %s" % (" ".join(argv), rc, (err or out).strip()))
        out = out.strip()
        if not re.match(r"^[0-9]+$", out):
            raise RegistryError("'%s' printed %r, not a PID" % (" ".join(argv), out))
        if out == "0":
            rc, out, err = system.run(["systemctl", "show", "-p", "LoadState", "-p", "ActiveState", value])
            states = " ".join(sorted(line.strip() for line in out.split("\n") if line.strip())) if rc == 0 else ""
            return [], "service %s has no main process (MainPID=0%s): start it, or use allow_missing" % (
                value, "; " + states if states else "")
        return _one(system, int(out), "service %s has MainPID %s, but" % (value, out))
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


# ---------------------------------------------------------------------------------------------
# Declarations and systemd drop-ins
# ---------------------------------------------------------------------------------------------

def validate_name(name):
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise RegistryError("registration name %r is invalid: 1 to 64 characters, letters, digits and _.- , "
                            "starting with a letter or digit" % (name,))
    return name


def declaration_path(name, system=None):
    system = system or System()
    return os.path.join(system.declaration_dir, validate_name(name) + ".json")


def make_declaration(name, selector, handler, timeout_ms, signal=None, reserve_kb=0):
    """The declaration dict of a registration. A pid selector cannot be declared."""
    validate_name(name)
    kind, value = normalize_selector(selector)
    if kind == "pid":
        raise SelectorError("a pid selector is never persisted (a PID does not survive a restart): use pidfile, "
                            "service, exe or comm")
    _check_options(timeout_ms, signal, reserve_kb)
    problems = handler_syntax_problems(handler)
    if problems:
        raise RegistryError("; ".join(problems))
    declaration = {"name": name, "selector": {kind: value}, "handler": handler, "timeout_ms": timeout_ms}
    if signal is not None:
        declaration["signal"] = signal
    if reserve_kb:
        declaration["reserve_kb"] = reserve_kb
    return declaration


def declaration_entry(declaration, pid):
    """The Entry that a declaration asks for, for one of its processes."""
    return Entry(pid, declaration["handler"], declaration["timeout_ms"], declaration.get("signal"),
                 declaration.get("reserve_kb", 0))


def dump_declaration(declaration):
    """The file text of a declaration: JSON, sorted keys, indent 2, final newline."""
    return json.dumps(declaration, sort_keys=True, indent=2) + "\n"


def parse_declaration(text, name=None):
    """Parse and check the text of a declaration file; name is the file's NAME (NAME.json)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError("not valid JSON: %s" % exc)
    if not isinstance(data, dict):
        raise ParseError("expected a JSON object with %s" % ", ".join(DECLARATION_KEYS))
    missing = [k for k in DECLARATION_KEYS if k not in data]
    unknown = sorted(k for k in data if k not in DECLARATION_KEYS + DECLARATION_OPTIONAL_KEYS)
    if missing or unknown:
        raise ParseError("expected the keys %s, optionally %s (missing: %s; unknown: %s)"
                         % (", ".join(DECLARATION_KEYS), ", ".join(DECLARATION_OPTIONAL_KEYS),
                            ", ".join(missing) or "none", ", ".join(unknown) or "none"))
    if name is not None and data["name"] != name:
        raise ParseError("it declares name %r but the file is named %s.json" % (data["name"], name))
    try:
        return make_declaration(data["name"], data["selector"], data["handler"], data["timeout_ms"],
                                data.get("signal"), data.get("reserve_kb", 0))
    except RegistryError as exc:
        raise ParseError(str(exc))


def read_declaration(name, system=None):
    """The declaration NAME, or None when its file does not exist. Raises ParseError when invalid."""
    path = declaration_path(name, system)
    try:
        text = _read(path)
    except (OSError, IOError) as exc:
        if exc.errno == errno_mod.ENOENT:
            return None
        raise RegistryError("cannot read %s: %s" % (path, exc.strerror))
    try:
        return parse_declaration(text, name)
    except ParseError as exc:
        raise ParseError("%s: %s" % (path, exc))


def load_declarations(system=None):
    """Every declaration file, sorted by name: (declarations, errors), errors being sentences."""
    system = system or System()
    try:
        files = sorted(os.listdir(system.declaration_dir))
    except OSError as exc:
        if exc.errno == errno_mod.ENOENT:
            return [], []
        return [], ["cannot list %s: %s" % (system.declaration_dir, exc.strerror)]
    declarations, errors = [], []
    for filename in files:
        if not filename.endswith(".json") or filename.startswith("."):
            continue
        name = filename[:-len(".json")]
        if not NAME_RE.match(name):
            errors.append("%s: %r is not a valid registration name; rename or remove the file"
                          % (os.path.join(system.declaration_dir, filename), name))
            continue
        try:
            declarations.append(read_declaration(name, system))
        except RegistryError as exc:
            errors.append(str(exc))
    return declarations, errors


def dropin_path(unit, name, system=None):
    system = system or System()
    return os.path.join(system.path(SYSTEMD_DIR), unit + ".d", "50-graceful-shutdown-%s.conf" % validate_name(name))


def dropin_text(name):
    """The drop-in that re-registers the service's main process every time it starts."""
    validate_name(name)
    return ("# Managed by oom.graceful_shutdown (registration %s). Do not edit.\n"
            "[Unit]\n"
            "After=systemd-modules-load.service\n"
            "Wants=systemd-modules-load.service\n"
            "\n"
            "[Service]\n"
            "ExecStartPost=-+%s apply --name %s --pid $MAINPID\n" % (name, CLI, name))


def find_dropins(name, system=None):
    """Every drop-in of registration NAME, whatever unit it is under."""
    system = system or System()
    pattern = os.path.join(system.path(SYSTEMD_DIR), "*.d", "50-graceful-shutdown-%s.conf" % validate_name(name))
    return sorted(glob.glob(pattern))


def read_text(path):
    """The text of a file, or None when it does not exist."""
    try:
        return _read(path)
    except (OSError, IOError) as exc:
        if exc.errno == errno_mod.ENOENT:
            return None
        raise RegistryError("cannot read %s: %s" % (path, exc.strerror))


def write_file_atomic(path, text, mode):
    """Write text to path through a temporary file in the same directory and os.replace()."""
    directory = os.path.dirname(path)
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise RegistryError("cannot create %s: %s" % (path, exc.strerror))
    try:
        try:
            os.fchmod(fd, mode)
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise RegistryError("cannot write %s: %s" % (path, exc.strerror))


def remove_file(path):
    """Remove path (and its directory when that is a now empty *.d); True when it existed."""
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno == errno_mod.ENOENT:
            return False
        raise RegistryError("cannot remove %s: %s" % (path, exc.strerror))
    directory = os.path.dirname(path)
    if directory.endswith(".d"):
        try:
            os.rmdir(directory)
        except OSError:
            pass
    return True


def daemon_reload(system=None):
    system = system or System()
    rc, out, err = system.run(["systemctl", "daemon-reload"])
    if rc != 0:
        raise RegistryError("'systemctl daemon-reload' failed (rc %d): %s" % (rc, (err or out).strip()))


# ---------------------------------------------------------------------------------------------
# Planning and writing
# ---------------------------------------------------------------------------------------------

def plan(desired, current, unregister=()):
    """Compare the wanted registrations with the live ones.

    desired: Entry-like (pid, handler, timeout_ms[, signal, reserve_kb]) that must be live;
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
        _check_options(entry.timeout_ms, entry.signal, entry.reserve_kb)
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
