#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: registration
short_description: Register a graceful-shutdown handler for a process with /proc/graceful_shutdown
version_added: 0.1.0
author: oom.graceful_shutdown contributors (!UNKNOWN)
description:
  - Registers the handler program that runs when the OOM killer picks a process, with the kernel
    module C(graceful_shutdown) (C(/proc/graceful_shutdown)). The handler runs in user space, through
    the runner of role C(oom.graceful_shutdown.daemon), before the kill (memory cgroup OOM on a patched
    kernel) or right after it.
  - The process is found by exactly one selector, O(pid), O(pidfile), O(service), O(exe) or O(comm). O(exe)
    and O(comm) may match several processes; all of them are registered. Kernel threads and the module's
    own process never match.
  - A O(service) is registered whole by default (O(scope=service)), as its cgroup (C(cgroup=CGROUP) in
    C(/proc/graceful_shutdown)), so that an OOM victim anywhere in it, the main process or any worker, gets
    the grace and the service's handler runs with that victim's PID. O(scope=main) registers the main process
    only.
  - With O(persist=true) the registration is also declared in
    C(/etc/graceful_shutdown/registrations.d/NAME.json), so that C(/usr/sbin/oomgs-register) (role
    C(oom.graceful_shutdown.registrations)) re-registers it after a restart of the process, after an OOM kill
    used it up, after the kernel module was reloaded and after a reboot. For a O(service) a systemd drop-in
    C(/etc/systemd/system/UNIT.d/50-graceful-shutdown-NAME.conf) re-registers the service (its cgroup, or its
    main process with O(scope=main)) from C(ExecStartPost) every time the service starts.
  - A O(pid) selector is never persisted, since a PID does not survive a restart.
  - The handler must be safe to run, with the rules the runner checks again before every run (see O(handler));
    every problem found is listed in the failure message.
  - The handler runs as the owner of the registered process, or as O(user) and O(group), and with no
    capabilities unless O(capabilities) lists some, even as root.
  - All registrations of one run are written in one C(write()) to C(/proc/graceful_shutdown), which the kernel
    applies all or nothing.
options:
  name:
    description:
      - Name of the registration. It names the declaration file and the systemd drop-in.
      - 1 to 64 characters, letters, digits, C(_), C(.) and C(-), starting with a letter or digit.
    type: str
    required: true
  pid:
    description:
      - The process ID of one process (a process, not a thread ID).
      - Never persisted, whatever O(persist) says.
      - With O(state=absent) and no declaration O(name), unregisters just that PID (for live registrations that
        belong to no declaration, see M(oom.graceful_shutdown.registration_info)).
    type: int
  pidfile:
    description:
      - Absolute path of a file holding the process ID, read every time the registration is applied.
    type: path
  service:
    description:
      - A systemd service. By default its whole cgroup (C(systemctl show -p ControlGroup)) is registered, with
        O(scope=main) its main process only (C(MainPID)). C(.service) is added when the name has no unit type.
        Templates need an instance (C(foo@bar.service)).
      - A service that is not running (no C(ControlGroup), or C(MainPID) 0 with O(scope=main)) matches nothing.
      - With O(persist=true) a drop-in re-registers the service each time it starts; this needs
        C(/usr/sbin/oomgs-register) from role C(oom.graceful_shutdown.registrations).
    type: str
  scope:
    description:
      - What of a O(service) is registered, so only with O(service).
      - V(service) registers the unit's cgroup (systemd's C(ControlGroup), C(cgroup=CGROUP)). It covers every
        process of the service and of its sub-cgroups that has no registration of its own, the main process and
        every worker. The OOM victim, wherever it is in the service, gets the grace, and the handler runs with its
        PID in C(OOMGS_VICTIM_PID), before the kill on a patched kernel, so before systemd's C(OOMPolicy=stop)
        stops the unit. One registration, one grace; the drop-in registers it again at the next start of the
        service, the timer of role C(oom.graceful_shutdown.registrations) within one interval when the service
        lived on. Needs cgroup v2.
      - V(main) registers the main process only (C(MainPID)); a worker that is the OOM victim is then killed
        without a handler (and, under C(OOMPolicy=stop), the main process with the unit, without one either).
      - Default V(service), but V(main) with O(mode=early), which covers one process; O(scope=service) with
        O(mode=early) is an error.
    type: str
    choices: [service, main]
  cgroup:
    description:
      - With O(state=absent) and no selector, unregisters the registration of this cgroup (a path as listed in
        C(/proc/graceful_shutdown), for example C(/system.slice/app.service)), as O(pid) does for a process; for
        live registrations that belong to no declaration (RV(oom.graceful_shutdown.registration_info#module:undeclared_cgroups)).
      - Not with O(state=present) (register a service with O(service)).
    type: str
  exe:
    description:
      - Absolute path of an executable; every process whose C(/proc/PID/exe) is this file (or the file a symlink
        given here points to) is registered. A process whose executable was replaced or deleted since it started
        (C(/proc/PID/exe) ends in C( (deleted))) still matches.
    type: path
  comm:
    description:
      - Command name; every process whose C(/proc/PID/comm) is exactly this is registered. At most 15 characters,
        as the kernel keeps no more.
    type: str
  handler:
    description:
      - Absolute path of the handler program. Required with O(state=present).
      - No C(..) component and no symlink in any component; C(/), every directory on the path and the file
        owned by root and not writable by group or others; the file a regular file executable by its owner;
        at most 255 characters and no blanks.
    type: path
  timeout_ms:
    description:
      - Time limit of the handler in milliseconds, and the grace the kernel gives the victim, 1 to 60000.
    type: int
    default: 3000
  signal:
    description:
      - A signal the kernel module sends to the process when its grace starts, so that it can run its own shutdown
        code (save its state, close its files) while its handler runs. Without it the process only learns of the
        OOM from its handler.
      - Needs a grace, that is the patched kernel (backend C(hook)); the write is refused with EOPNOTSUPP otherwise.
      - A process that handles the signal usually needs memory for that as well, see O(reserve_kb).
    type: str
    choices: [HUP, INT, QUIT, USR1, USR2, TERM]
  reserve_kb:
    description:
      - Memory in kB the process may charge over its memory cgroup's limit during its grace (0 to 1048576; the kernel
        caps it by C(vm.oom_victim_reserve_max_kb), role variable C(daemon_reserve_max_kb)). Without a reserve its
        next charge over the limit waits for the end of the grace, so it cannot run its shutdown code.
      - Needs a patched kernel with patch 0005 (oom_victim_ops v3); the write is refused with EOPNOTSUPP otherwise.
    type: int
    default: 0
  mode:
    description:
      - V(grace) (the default) asks for a grace period before the kill; only a patched kernel (backend C(hook))
        has one, and on a stock kernel the handler runs right after the kill (backend C(notify)).
      - V(early) asks in addition for early mode where the kernel has no grace (a stock kernel). The runner sets
        C(memory.high) of the process's cgroup (cgroup v2) to O(early_threshold) percent of its memory limit, runs
        the handler when the kernel throttles the process there, while it is still alive, and then applies O(then).
        On a patched kernel the grace covers it and early mode stays unarmed. See docs/early-mode.md.
    type: str
    choices: [grace, early]
    default: grace
  early_threshold:
    description:
      - With O(mode=early), C(memory.high) as a percentage of the cgroup's memory limit (the lowest C(memory.max)
        from the process's cgroup up), 50 to 99.
    type: int
    default: 90
  then:
    description:
      - With O(mode=early), what the runner does to the process once its handler has ended or run out of
        O(timeout_ms). V(kill) sends SIGKILL, V(term) sends SIGTERM, V(continue) lets it run on (throttled while
        above the threshold; the handler runs again at the next crossing, no sooner than O(timeout_ms) later).
    type: str
    choices: [kill, term, continue]
    default: kill
  user:
    description:
      - The user the handler runs as, a name or a number (C(user=UID:GID) in C(/proc/graceful_shutdown)). A name
        is looked up on the device each time the registration is applied, so it must exist there; the module fails
        naming the registration otherwise (in check mode it warns).
      - Omitted, the handler runs as the owner of the registered process (its real user and group when it was
        registered). A handler of a process that runs as root thus runs as root, but still with no capabilities
        unless O(capabilities) asks.
      - V(root) (or V(0)) is allowed; the registration then says that its handler runs as root.
    type: raw
  group:
    description:
      - The group the handler runs as, a name or a number; only together with O(user). No supplementary groups.
      - Omitted, the primary group of O(user) (which then needs an entry in the passwd database, even when given as
        a number).
    type: raw
  capabilities:
    description:
      - The capabilities the handler keeps (as ambient capabilities), by their names in capabilities(7), from
        V(CAP_CHOWN) to V(CAP_CHECKPOINT_RESTORE), for example V(CAP_KILL). A close name is suggested for an
        unknown one.
      - Omitted or empty, the handler has none, whatever its user.
      - The runner can grant only capabilities in the bounding set of its unit, which role
        C(oom.graceful_shutdown.daemon) makes from the capabilities of the host's C(graceful_shutdown_registrations).
    type: list
    elements: str
  state:
    description:
      - V(present) registers the matching processes and, with O(persist=true), declares the registration.
      - V(absent) unregisters the processes of this registration (those the selector and the declaration O(name)
        match now; no process is fine), then removes the declaration and the drop-in. Without a selector the
        declaration O(name) says which processes; without either there is nothing to do.
    type: str
    choices: [present, absent]
    default: present
  persist:
    description:
      - Declare the registration so that it survives restarts and reboots (see the description).
      - V(false) registers the live processes only and removes a declaration O(name) left from earlier runs.
      - Ignored for O(pid), which is never persisted.
    type: bool
    default: true
  allow_missing:
    description:
      - Succeed even though no process matches right now; the declaration is still written (with O(persist=true))
        and the process is registered once it starts.
      - Without it, a selector that matches nothing fails and says what was looked at.
    type: bool
    default: false
notes:
  - Needs root (O(ignore:become=true)) on the device and the kernel module loaded (role C(oom.graceful_shutdown.lkm)).
    With O(state=absent) the module need not be loaded; the declaration and drop-in are still removed.
  - A process can have one handler. The module fails when another declaration matches one of the same processes (or
    the same service's cgroup) with another handler, timeout, signal, reserve, mode, user or capabilities, since the
    reconciler would otherwise switch them back and forth. A process's own registration (by O(pid), O(comm), ...)
    wins over its service's cgroup registration.
  - A registration is used up by the OOM kill it fires for; the reconciler re-registers a process that survived,
    and a service's cgroup.
  - When the declaration's selector or scope changes, what only the old one matches (processes, a cgroup) is
    unregistered.
seealso:
  - module: oom.graceful_shutdown.registration_info
  - name: Registrations, persistence and the oomgs-register CLI
    description: docs/registrations.md in the collection.
    link: https://example.invalid/oom/graceful_shutdown/blob/main/docs/registrations.md
attributes:
  check_mode:
    support: full
    description:
      - Reports what would be written and removed, without writing.
      - On a device where the kernel module is not loaded yet (a dry run before the first rollout), the
        registration is planned against an empty table, and a missing C(oomgs-register) is only a warning.
  diff_mode:
    support: full
    description: The declaration file, the drop-in and the live C(/proc/graceful_shutdown) lines of this registration.
  platform:
    platforms: posix
    support: full
    description: Linux with the C(graceful_shutdown) kernel module.
"""

EXAMPLES = r"""
- name: Register the handler of a systemd service, again after every restart and reboot
  oom.graceful_shutdown.registration:
    name: telemetry
    service: telemetry.service
    handler: /usr/local/lib/telemetry/flush-and-notify
    timeout_ms: 3000
  become: true

- name: Register the main process of a service only, not its workers
  oom.graceful_shutdown.registration:
    name: telemetry
    service: telemetry.service
    scope: main
    handler: /usr/local/lib/telemetry/flush-and-notify
  become: true

- name: Register every process running an executable; fine if none runs yet
  oom.graceful_shutdown.registration:
    name: brake
    exe: /opt/vehicle/bin/brake-controller
    handler: /usr/local/sbin/brake
    timeout_ms: 1500
    allow_missing: true
  become: true

- name: Run a handler as its own user, allowed to signal other users' processes
  oom.graceful_shutdown.registration:
    name: data-logger
    service: data-logger.service
    handler: /usr/local/lib/data-logger/save-buffer
    user: data-logger
    capabilities: [CAP_KILL]
  become: true

- name: Register one process by PID, until it exits (never persisted)
  oom.graceful_shutdown.registration:
    name: adhoc
    pid: 4242
    handler: /usr/local/sbin/save-state
  become: true

- name: Remove a registration, its declaration and its drop-in
  oom.graceful_shutdown.registration:
    name: telemetry
    state: absent
  become: true

- name: Unregister a live registration that belongs to no declaration
  oom.graceful_shutdown.registration:
    name: undeclared
    pid: 4242
    state: absent
  become: true

- name: Unregister a live cgroup registration that belongs to no declaration
  oom.graceful_shutdown.registration:
    name: undeclared
    cgroup: /system.slice/app.service
    state: absent
  become: true
"""

RETURN = r"""
pids:
  description:
    - The processes registered by PID that the selector (and with O(state=absent) also the declaration) matches
      now, sorted; empty for a O(service) with O(scope=service), whose cgroup is in RV(cgroups).
    - With O(state=present) they are registered after the run (in check mode, they would be).
  returned: always
  type: list
  elements: int
  sample: [1234]
cgroups:
  description:
    - The cgroups of this registration now, sorted; the service's C(ControlGroup) for a O(service) with
      O(scope=service) that runs, empty otherwise. With O(state=absent) also O(cgroup).
  returned: always
  type: list
  elements: str
  sample: ["/system.slice/telemetry.service"]
scope:
  description: The scope used with a O(service) (V(service) or V(main), the default filled in); null for other selectors.
  returned: always
  type: str
  sample: service
registered:
  description:
    - The lines written (or, in check mode, that would be written) to register or re-register processes and cgroups,
      as C(/proc/graceful_shutdown) then lists them.
  returned: always
  type: list
  elements: str
  sample: ["cgroup=/system.slice/telemetry.service /usr/local/lib/telemetry/flush-and-notify timeout_ms=3000 user=998:998"]
unregistered:
  description: The PIDs unregistered (or, in check mode, that would be).
  returned: always
  type: list
  elements: int
  sample: []
unregistered_cgroups:
  description: The cgroups unregistered (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: []
declaration:
  description:
    - Path of the declaration file after the run; null when the registration is not persisted (O(pid),
      O(persist=false), O(state=absent)).
  returned: always
  type: str
  sample: /etc/graceful_shutdown/registrations.d/telemetry.json
dropin:
  description: Path of the systemd drop-in after the run; null unless a O(service) registration is persisted.
  returned: always
  type: str
  sample: /etc/systemd/system/telemetry.service.d/50-graceful-shutdown-telemetry.conf
persisted:
  description: Whether the registration is declared (survives restarts and reboots). Always false for O(pid).
  returned: always
  type: bool
  sample: true
backend:
  description:
    - The kernel module's backend from C(/proc/graceful_shutdown_status), V(hook) (handler before the kill on a
      patched kernel), V(notify) (handler right after the kill on a stock kernel) or V(none) (registrations are
      kept, but no events are sent); null when the module is not loaded.
  returned: always
  type: str
  sample: hook
selector:
  description: The selector used, normalised (a service name gets C(.service)); empty with O(state=absent) and none given.
  returned: always
  type: dict
  sample: {"service": "telemetry.service"}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oom.graceful_shutdown.plugins.module_utils import registry

SELECTORS = registry.SELECTOR_KEYS


def _system(module):
    """The System the module works on; unit tests replace this function."""
    return registry.system_for_ansible_module(module)


def _section(title, text):
    if text is None:
        return ""
    return "# %s\n%s%s" % (title, text, "" if text.endswith("\n") or not text else "\n")


def _live_text(entries):
    return "".join(registry.format_line(*e) + "\n" for e in entries)


class Registration(object):

    def __init__(self, module, system):
        self.module = module
        self.system = system
        self.params = module.params
        self.name = registry.validate_name(self.params["name"])
        self.selector = dict((k, self.params[k]) for k in SELECTORS if self.params[k] is not None)
        self.result = dict(changed=False, pids=[], cgroups=[], registered=[], unregistered=[], unregistered_cgroups=[],
                           declaration=None, dropin=None, persisted=False, backend=None, selector={}, scope=None)

    # -- helpers ---------------------------------------------------------------------------------

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, **kwargs)

    def other_claims(self, exclude):
        """{target: [(declaration name, Entry)]} of every other declaration, resolved now (a target is a PID,
        or the cgroup of a service with scope service)."""
        declarations, errors = registry.load_declarations(self.system)
        own = registry.declaration_path(exclude, self.system)
        for error in errors:
            if not error.startswith(own + ":"):  # an invalid file of this name is replaced, see old_declaration()
                self.module.warn("ignoring a declaration: %s" % error)
        claims = {}
        for declaration in declarations:
            if declaration["name"] == exclude:
                continue
            try:
                targets = registry.declaration_targets(declaration, self.system)[0]
            except registry.RegistryError as exc:
                self.module.warn("cannot resolve declaration %s: %s" % (declaration["name"], exc))
                continue
            try:
                entries = [registry.declaration_entry(declaration, target, self.system) for target in targets]
            except registry.RegistryError as exc:
                # Its targets are still claimed, but what it wants cannot be compared (None).
                self.module.warn("declaration %s: %s" % (declaration["name"], exc))
                entries = [None] * len(targets)
            for target, entry in zip(targets, entries):
                claims.setdefault(target, []).append((declaration["name"], entry))
        return claims

    def set_targets(self, targets):
        """The result's pids and cgroups."""
        self.result["pids"] = sorted(t for t in targets if not isinstance(t, str))
        self.result["cgroups"] = sorted(t for t in targets if isinstance(t, str))

    def set_unregistered(self, targets):
        self.result["unregistered"] = [t for t in targets if not isinstance(t, str)]
        self.result["unregistered_cgroups"] = [t for t in targets if isinstance(t, str)]

    def handler_ids(self, user, group):
        """The (UID, GID) the handler runs as (None: the process's owner), and whether they are unresolved:
        a user or group missing on the device fails, in check mode it warns (an earlier task may create it)."""
        try:
            return registry.resolve_user(user, group, self.system), False
        except registry.RegistryError as exc:
            if not self.module.check_mode:
                self.fail("registration %s: %s" % (self.name, exc))
            self.module.warn("registration %s: %s; check mode: planned as a change without user=, a real run "
                             "fails unless it exists by then" % (self.name, exc))
            return None, True

    def old_declaration(self):
        path = registry.declaration_path(self.name, self.system)
        text = registry.read_text(path)
        if text is None:
            return path, None, None
        try:
            return path, text, registry.parse_declaration(text, self.name)
        except registry.ParseError as exc:
            self.module.warn("the existing declaration %s is invalid and is replaced or removed: %s" % (path, exc))
            return path, text, None

    def file_changes(self, decl_path, old_text, new_text, unit):
        """[(path, text or None, mode)] to write/remove, and whether a drop-in changes."""
        changes = []
        if new_text != old_text:
            changes.append((decl_path, new_text, 0o600))
        wanted_dropin = registry.dropin_path(unit, self.name, self.system) if unit else None
        dropin_changed = False
        before, after = [], []
        for path in registry.find_dropins(self.name, self.system):
            text = registry.read_text(path)
            before.append((path, text))
            if path != wanted_dropin:
                changes.append((path, None, None))
                dropin_changed = True
        if wanted_dropin:
            text = registry.dropin_text(self.name)
            after.append((wanted_dropin, text))
            if registry.read_text(wanted_dropin) != text:
                changes.append((wanted_dropin, text, 0o644))
                dropin_changed = True
        return changes, dropin_changed, wanted_dropin, before, after

    def apply_files(self, changes, dropin_changed):
        for path, text, mode in changes:
            if text is None:
                registry.remove_file(path)
            else:
                registry.write_file_atomic(path, text, mode)
        if dropin_changed:
            registry.daemon_reload(self.system)

    def diff(self, decl_path, old_text, new_text, dropins_before, dropins_after, live_before, live_after):
        before = _section(decl_path, old_text) + "".join(_section(p, t) for p, t in dropins_before)
        after = _section(decl_path, new_text) + "".join(_section(p, t) for p, t in dropins_after)
        before += _section(self.system.registry_file, _live_text(live_before))
        after += _section(self.system.registry_file, _live_text(live_after))
        return dict(before=before, after=after, before_header=self.name, after_header=self.name)

    # -- state=present ---------------------------------------------------------------------------

    def present(self):
        params = self.params
        handler, timeout_ms = params["handler"], params["timeout_ms"]
        signal, reserve_kb = params["signal"], params["reserve_kb"]
        early = params["early_threshold"] if params["mode"] == "early" else 0
        then = params["then"]
        if params["mode"] != "early" and then != registry.THEN_DEFAULT:
            self.fail("then: %s is early mode's policy: set mode: early as well" % then)
        kind, value = registry.normalize_selector(self.selector)
        selector = {kind: value}
        self.result["selector"] = selector
        scope = registry.normalize_scope(kind, params["scope"], early)
        self.result["scope"] = scope
        if not registry.TIMEOUT_MIN <= timeout_ms <= registry.TIMEOUT_MAX:
            self.fail("timeout_ms must be from %d to %d, got %d" % (registry.TIMEOUT_MIN, registry.TIMEOUT_MAX, timeout_ms))
        if not 0 <= reserve_kb <= registry.RESERVE_MAX_KB:
            self.fail("reserve_kb must be from 0 to %d, got %d" % (registry.RESERVE_MAX_KB, reserve_kb))
        if early and not registry.EARLY_MIN <= early <= registry.EARLY_MAX:
            self.fail("early_threshold must be from %d to %d, got %d" % (registry.EARLY_MIN, registry.EARLY_MAX, early))
        user, group, capabilities = params["user"], params["group"], params["capabilities"]
        problems = registry.identity_problems(user, group, capabilities)
        if problems:
            self.fail("registration %s: %s" % (self.name, "; ".join(problems)), problems=problems)
        caps = registry.capability_mask(capabilities)
        # In check mode on a device that has not had the module yet (the lkm role would load it
        # first), the registration is planned against an empty table.
        loaded = self.system.module_loaded()
        if not loaded and not self.module.check_mode:
            self.fail("the graceful_shutdown kernel module is not loaded (%s is missing): %s"
                      % (self.system.registry_file, registry.NOT_LOADED_HINT))
        problems = registry.check_handler(handler, root=self.system.root, lstat=self.system.lstat)
        if problems:
            self.fail("handler %s is unsafe, the runner would refuse to run it: %s" % (handler, " ".join(
                "(%d) %s." % (i, p) for i, p in enumerate(problems, 1))), problems=problems)
        ids, unresolved = self.handler_ids(user, group)
        persist = params["persist"] and kind != "pid"
        if persist and not os.path.exists(self.system.cli):
            if kind == "service" and not self.module.check_mode:
                self.fail("a persisted service registration needs %s, which its drop-in runs at every start, and it is "
                          "missing: %s first (or set persist: false)" % (registry.CLI, registry.CLI_HINT))
            self.module.warn("%s is missing, so nothing re-applies this declaration after a restart or reboot: %s"
                             % (registry.CLI, registry.CLI_HINT))

        try:
            targets, reason = registry.resolve_targets(selector, scope, self.system)
        except registry.NoCgroup2Error as exc:
            if not self.module.check_mode:
                raise
            # a dry run before the reboot that switches the device to cgroup v2
            self.module.warn("%s; check mode: planned as if the device had cgroup v2, a real run fails unless it "
                             "has by then" % exc)
            targets, reason = [exc.cgroup], None
        self.set_targets(targets)
        if not targets and not params["allow_missing"]:
            self.fail("process missing: %s. Start it first, fix the selector, or set allow_missing: true to declare "
                      "the registration anyway" % reason, selector=selector)

        claims = self.other_claims(self.name)
        conflicts = []
        desired = [registry.entry_for(t, handler, timeout_ms, signal, reserve_kb, early, then, ids, caps)
                   for t in targets]
        for wanted in desired:
            target = registry.target_of(wanted)
            for other, other_entry in claims.get(target, []):
                if other_entry is not None and other_entry != wanted and not unresolved:
                    conflicts.append("%s is also matched by declaration %s (%s)"
                                     % (registry.describe_target(target), other, _describe(other_entry)))
        if conflicts:
            self.fail("a process can have one handler: %s. Narrow the selectors, or give both the same handler, "
                      "timeout, signal, reserve, mode, user and capabilities" % "; ".join(conflicts),
                      conflicts=conflicts)

        decl_path, old_text, old = self.old_declaration()
        stale = []
        if old is not None and (old["selector"] != selector or old.get("scope") != scope):
            try:
                stale = sorted(set(registry.declaration_targets(old, self.system)[0]) - set(targets) - set(claims),
                               key=registry.target_key)
            except registry.RegistryError as exc:
                self.module.warn("cannot resolve the old selector of %s: %s" % (self.name, exc))

        new_text = None
        if persist:
            new_text = registry.dump_declaration(registry.make_declaration(
                self.name, selector, handler, timeout_ms, signal, reserve_kb, early, then, user, group, capabilities,
                scope))
        unit = value if persist and kind == "service" else None
        changes, dropin_changed, dropin, dropins_before, dropins_after = self.file_changes(
            decl_path, old_text, new_text, unit)

        status = registry.read_status(self.system) if loaded else {}
        self.result["backend"] = status.get("backend")
        current = registry.read_listing(self.system) if loaded else []
        the_plan = registry.plan(desired, current, stale)
        if unresolved:  # check mode only: the user= to write is not known, count every process as a change
            the_plan = the_plan._replace(register=desired, unchanged=[])
        live_before = [e for e in current if registry.target_of(e) in set(targets) | set(stale)]
        live_after = desired

        changed = bool(the_plan.register or the_plan.unregister or changes)
        if changed and not self.module.check_mode:
            the_plan = registry.apply(desired, stale, self.system)
            self.apply_files(changes, dropin_changed)
        self.result.update(
            changed=changed,
            registered=[registry.format_line(*e) for e in the_plan.register],
            declaration=decl_path if persist else None,
            dropin=dropin,
            persisted=persist,
        )
        self.set_unregistered(the_plan.unregister)
        if self.module._diff:
            self.result["diff"] = self.diff(decl_path, old_text, new_text, dropins_before, dropins_after,
                                            live_before, live_after)
        if not loaded:
            self.result["msg"] = ("check mode: the graceful_shutdown kernel module is not loaded yet (%s is missing): "
                                  "the registration is planned against an empty table" % self.system.registry_file)
        elif not targets:
            self.result["msg"] = "no process matches now (%s); %s" % (
                reason, "declared: it is registered when it starts" if persist else "nothing registered")
        elif kind == "pid":
            self.result["msg"] = "PID %d registered; a pid registration is never persisted" % value

    # -- state=absent ----------------------------------------------------------------------------

    def absent(self):
        selector = None
        targets = set()
        if self.selector:
            kind, value = registry.normalize_selector(self.selector)
            selector = {kind: value}
            self.result["selector"] = selector
            scope = registry.normalize_scope(kind, self.params["scope"], self.params["mode"] == "early")
            self.result["scope"] = scope
            if kind == "pid":
                targets.add(value)
            else:
                targets.update(registry.resolve_targets(selector, scope, self.system)[0])
        elif self.params["scope"] is not None:
            self.fail("scope goes with a service selector: give service too, or leave scope out")
        if self.params["cgroup"] is not None:
            problem = registry.cgroup_problem(self.params["cgroup"])
            if problem:
                self.fail(problem)
            targets.add(self.params["cgroup"])
        decl_path, old_text, old = self.old_declaration()
        dropins = registry.find_dropins(self.name, self.system)
        dropins_before = [(path, registry.read_text(path)) for path in dropins]
        if old is not None:
            targets.update(registry.declaration_targets(old, self.system)[0])
        self.set_targets(targets)

        live_before = []
        the_plan = registry.Plan([], [], [])
        loaded = self.system.module_loaded()
        if loaded and targets:
            claims = self.other_claims(self.name)
            for target in sorted(targets & set(claims), key=registry.target_key):
                self.module.warn("%s is left registered: it belongs to declaration(s) %s; remove those instead"
                                 % (registry.describe_target(target), ", ".join(c[0] for c in claims[target])))
            targets -= set(claims)
            current = registry.read_listing(self.system)
            live_before = [e for e in current if registry.target_of(e) in targets]
            the_plan = registry.plan([], current, targets)
        if loaded:
            self.result["backend"] = registry.read_status(self.system).get("backend")

        changes = []
        if old_text is not None:
            changes.append((decl_path, None, None))
        changes.extend((path, None, None) for path in dropins)
        changed = bool(the_plan.unregister or changes)
        if changed and not self.module.check_mode:
            if the_plan.unregister:
                the_plan = registry.apply([], targets, self.system)
            self.apply_files(changes, bool(dropins))
        self.result.update(changed=changed)
        self.set_unregistered(the_plan.unregister)
        if self.module._diff:
            self.result["diff"] = self.diff(decl_path, old_text, None, dropins_before, [], live_before, [])


def _describe(entry):
    """'handler H, timeout_ms=N' and the options that are set, of an Entry."""
    return ", ".join(["handler %s" % entry.handler] + registry.option_fields(entry))


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        pid=dict(type="int"),
        pidfile=dict(type="path"),
        service=dict(type="str"),
        exe=dict(type="path"),
        comm=dict(type="str"),
        scope=dict(type="str", choices=list(registry.SCOPES)),
        cgroup=dict(type="str"),
        handler=dict(type="path"),
        timeout_ms=dict(type="int", default=registry.TIMEOUT_DEFAULT),
        signal=dict(type="str", choices=list(registry.SIGNALS)),
        reserve_kb=dict(type="int", default=0),
        mode=dict(type="str", choices=["grace", "early"], default="grace"),
        early_threshold=dict(type="int", default=registry.EARLY_DEFAULT),
        then=dict(type="str", choices=list(registry.THEN), default=registry.THEN_DEFAULT),
        user=dict(type="raw"),
        group=dict(type="raw"),
        capabilities=dict(type="list", elements="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        persist=dict(type="bool", default=True),
        allow_missing=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[list(SELECTORS) + ["cgroup"]],
        required_if=[
            ("state", "present", list(SELECTORS), True),
            ("state", "present", ["handler"]),
        ],
        supports_check_mode=True,
    )
    try:
        registration = Registration(module, _system(module))
        if module.params["state"] == "present":
            registration.present()
        else:
            registration.absent()
    except registry.WriteError as exc:
        module.fail_json(msg=str(exc), errno=exc.errno_name, lines=exc.lines)
    except registry.RegistryError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**registration.result)


if __name__ == "__main__":
    main()
