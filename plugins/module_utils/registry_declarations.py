# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Declarations (/etc/graceful_shutdown/registrations.d/NAME.json) and the systemd drop-ins that
re-register a service (its cgroup, or with scope main its main process) each time it starts,
written atomically."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno as errno_mod
import glob
import json
import os
import re
import tempfile

from .registry_errors import ParseError, RegistryError, SelectorError
from .registry_handler import handler_syntax_problems
from .registry_identity import capability_mask, identity_problems, normalize_id, resolve_user, sorted_capabilities
from .registry_options import THEN_DEFAULT, _check_options
from .registry_proc import entry_for
from .registry_selectors import _read, normalize_selector, resolve_targets
from .registry_service import SCOPE_LEGACY, normalize_scope
from .registry_system import CLI, SYSTEMD_DIR, System

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DECLARATION_KEYS = ("handler", "name", "selector", "timeout_ms")
# Keys a declaration may have; left out when they are at their defaults (no signal, no reserve,
# no early mode: early is early mode's threshold in percent, then its policy; no user: the
# handler runs as the process's owner; no capabilities). user and group are kept as declared
# (a name or a number) and resolved on the device each time the declaration is applied. scope:
# a service's always (service: its whole cgroup, main: its main process), no other selector's; a
# service's declaration without one was written before scopes existed, and means main.
DECLARATION_OPTIONAL_KEYS = ("signal", "reserve_kb", "early", "then", "user", "group", "capabilities", "scope")
CLI_HINT = "apply role oom.graceful_shutdown.registrations"


def validate_name(name):
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise RegistryError("registration name %r is invalid: 1 to 64 characters, letters, digits and _.- , "
                            "starting with a letter or digit" % (name,))
    return name


def declaration_path(name, system=None):
    system = system or System()
    return os.path.join(system.declaration_dir, validate_name(name) + ".json")


def make_declaration(name, selector, handler, timeout_ms, signal=None, reserve_kb=0, early=0, then=THEN_DEFAULT,
                     user=None, group=None, capabilities=None, scope=None):
    """The declaration dict of a registration. A pid selector cannot be declared. A service's scope
    is always kept (None: its default, service, or main with early mode)."""
    validate_name(name)
    kind, value = normalize_selector(selector)
    if kind == "pid":
        raise SelectorError("a pid selector is never persisted (a PID does not survive a restart): use pidfile, "
                            "service, exe or comm")
    _check_options(timeout_ms, signal, reserve_kb, early, then)
    scope = normalize_scope(kind, scope, early)
    problems = handler_syntax_problems(handler) + identity_problems(user, group, capabilities)
    if problems:
        raise RegistryError("; ".join(problems))
    declaration = {"name": name, "selector": {kind: value}, "handler": handler, "timeout_ms": timeout_ms}
    if signal is not None:
        declaration["signal"] = signal
    if reserve_kb:
        declaration["reserve_kb"] = reserve_kb
    if early:
        declaration["early"] = early
        declaration["then"] = then
    if user is not None:
        declaration["user"] = normalize_id(user)
    if group is not None:
        declaration["group"] = normalize_id(group)
    if capabilities:
        declaration["capabilities"] = sorted_capabilities(capabilities)
    if scope is not None:
        declaration["scope"] = scope
    return declaration


def declaration_entry(declaration, target, system=None):
    """The Entry that a declaration asks for, for one of its targets (a PID, or the cgroup of a
    service with scope service): its user and group resolved on the device (system). Raises
    RegistryError when they do not exist there."""
    return entry_for(target, declaration["handler"], declaration["timeout_ms"], declaration.get("signal"),
                     declaration.get("reserve_kb", 0), declaration.get("early", 0),
                     declaration.get("then", THEN_DEFAULT),
                     resolve_user(declaration.get("user"), declaration.get("group"), system or System()),
                     capability_mask(declaration.get("capabilities")))


def declaration_targets(declaration, system=None):
    """(targets, reason) of a declaration now: its PIDs, or its service's cgroup (registry_selectors.resolve_targets)."""
    return resolve_targets(declaration["selector"], declaration.get("scope"), system)


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
    legacy = SCOPE_LEGACY if isinstance(data["selector"], dict) and data["selector"].get("service") else None
    try:
        return make_declaration(data["name"], data["selector"], data["handler"], data["timeout_ms"],
                                data.get("signal"), data.get("reserve_kb", 0), data.get("early", 0),
                                data.get("then", THEN_DEFAULT), data.get("user"), data.get("group"),
                                data.get("capabilities"), data.get("scope", legacy))
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
    """The drop-in that re-registers the service every time it starts: its cgroup (scope service:
    $MAINPID is then only a hint, the CLI asks systemd for the cgroup) or its main process."""
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
