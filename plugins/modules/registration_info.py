#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: registration_info
short_description: Read the graceful-shutdown registrations, declarations and kernel module status of a device
version_added: 0.1.0
author: oom.graceful_shutdown contributors (!UNKNOWN)
description:
  - Reads C(/proc/graceful_shutdown) (live registrations), C(/proc/graceful_shutdown_status) (the kernel module's
    backend and counters) and the declarations in C(/etc/graceful_shutdown/registrations.d).
  - Each declaration is resolved now, so that every live registration can be matched to the declaration it
    belongs to; live registrations that belong to none are listed in RV(undeclared_pids) and
    RV(undeclared_cgroups).
  - A registration of a whole service (C(cgroup=CGROUP) in C(/proc/graceful_shutdown)) has its C(cgroup) set and
    C(pid) null.
  - Works when the kernel module is not loaded; RV(module_loaded) is then false and RV(registrations),
    RV(undeclared_pids) and RV(undeclared_cgroups) are empty.
options: {}
notes:
  - Reading C(/proc/graceful_shutdown) needs root (O(ignore:become=true)).
  - Invalid declaration files are skipped with a warning.
seealso:
  - module: oom.graceful_shutdown.registration
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: The module changes nothing.
  platform:
    platforms: posix
    support: full
    description: Linux with the C(graceful_shutdown) kernel module.
"""

EXAMPLES = r"""
- name: Read the registrations
  oom.graceful_shutdown.registration_info:
  become: true
  register: gs

- name: Say whether handlers run before the kill
  ansible.builtin.debug:
    msg: "handlers run {{ gs.handlers_run | replace('_', ' ') }}"

- name: Fail when a live registration belongs to no declaration
  ansible.builtin.assert:
    that: gs.undeclared_pids | length == 0
"""

RETURN = r"""
module_loaded:
  description: Whether the kernel module C(graceful_shutdown) is loaded (C(/proc/graceful_shutdown) exists).
  returned: always
  type: bool
  sample: true
backend:
  description:
    - The module's backend, null when the module is not loaded.
    - V(hook) on a patched kernel, V(notify) on a stock kernel with the C(oom:mark_victim) tracepoint, V(none) on
      a kernel with neither.
  returned: always
  type: str
  sample: hook
hook_api:
  description: C(OOM_VICTIM_OPS_VERSION) of the kernel hook, 0 for backends V(notify) and V(none); null when the module is not loaded.
  returned: always
  type: int
  sample: 1
kernel_support:
  description: True when the backend is V(hook), that is the kernel is patched and handlers of memory cgroup OOM victims run before the kill.
  returned: always
  type: bool
  sample: true
handlers_run:
  description:
    - When a registered process's handler runs at its OOM kill, from the backend.
    - V(before_kill) (V(hook); memory cgroup OOMs, other OOMs after the kill), V(after_kill) (V(notify)),
      V(never) (V(none), or the module not loaded).
  returned: always
  type: str
  sample: before_kill
  version_added: 0.1.0
status:
  description:
    - Every C(key=value) of C(/proc/graceful_shutdown_status); values made of digits are integers.
    - Empty when the module is not loaded.
  returned: always
  type: dict
  sample: {"backend": "hook", "hook_api": 1, "version": "0.1.0", "runner": 1, "registrations": 2,
           "registrations_max": 128, "events_total": 5, "events_dropped": 0}
registrations:
  description: The live registrations, those of processes sorted by PID, then those of cgroups sorted by path.
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: Process ID; null for a registration of a cgroup (see RV(registrations[].cgroup)).
      type: int
      sample: 1234
    cgroup:
      description:
        - The cgroup of a registration of a whole service (scope V(service)), its path from the cgroup2 root as
          systemd's C(ControlGroup) gives it; null for a registration of a process.
        - It covers every process of that cgroup and of its descendants that has no registration of its own.
      type: str
      sample: /system.slice/telemetry.service
    handler:
      description: Handler path.
      type: str
      sample: /usr/local/lib/telemetry/flush-and-notify
    timeout_ms:
      description: Handler time limit and grace in ms.
      type: int
      sample: 3000
    signal:
      description: Signal sent to the process when its grace starts; null for none.
      type: str
      sample: TERM
    reserve_kb:
      description: Memory in kB the process may charge over its memory cgroup's limit during its grace.
      type: int
      sample: 0
    mode:
      description:
        - C(early) when the registration asks for early mode (the runner arms it where the kernel has no grace,
          see docs/early-mode.md), else C(grace).
      type: str
      sample: grace
    early_threshold:
      description: With mode C(early), C(memory.high) in percent of the cgroup's memory limit; null otherwise.
      type: int
      sample: 90
    then:
      description: With mode C(early), what the runner does once the handler has ended; null otherwise.
      type: str
      sample: kill
    uid:
      description:
        - The user ID the handler runs as (C(user=) of the listing); null when the registration gave none, and the
          handler runs as the owner of the process. 0 is root.
      type: int
      sample: 998
    gid:
      description: The group ID the handler runs as; null when the registration gave no user.
      type: int
      sample: 998
    capabilities:
      description: The capabilities the handler keeps, by name in kernel order; empty for none.
      type: list
      elements: str
      sample: [CAP_KILL]
    comm:
      description: The process's command name (C(/proc/PID/comm)); null if it exited meanwhile, and for a cgroup.
      type: str
      sample: telemetry
    declared_name:
      description: Name of the declaration that matches this PID or cgroup now; null when none does.
      type: str
      sample: telemetry
declarations:
  description: The declaration files, sorted by name, each resolved now.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the registration.
      type: str
      sample: telemetry
    selector:
      description: The selector, one of C(pidfile), C(service), C(exe), C(comm) (C(pid) is never declared).
      type: dict
      sample: {"service": "telemetry.service"}
    handler:
      description: Handler path.
      type: str
      sample: /usr/local/lib/telemetry/flush-and-notify
    timeout_ms:
      description: Handler time limit and grace in ms.
      type: int
      sample: 3000
    signal:
      description: Signal sent to the process when its grace starts; absent for none.
      type: str
      returned: when declared
      sample: TERM
    reserve_kb:
      description: Memory in kB the process may charge over its memory cgroup's limit during its grace.
      type: int
      returned: when declared
      sample: 32768
    early:
      description: Early mode's threshold in percent of the cgroup's memory limit.
      type: int
      returned: when declared
      sample: 90
    then:
      description: Early mode's policy once the handler has ended.
      type: str
      returned: when declared
      sample: kill
    user:
      description: The user the handler runs as, a name or a number, as declared (resolved when applied).
      type: raw
      returned: when declared
      sample: data-logger
    group:
      description: The group the handler runs as, a name or a number, as declared.
      type: raw
      returned: when declared
      sample: data-logger
    capabilities:
      description: The capabilities the handler keeps, by name in kernel order.
      type: list
      elements: str
      returned: when declared
      sample: [CAP_KILL]
    scope:
      description:
        - For a service, V(service) (its whole cgroup) or V(main) (its main process). A declaration written before
          scopes existed has none in its file and is returned with V(main), which is what it registers.
      type: str
      returned: for a service
      sample: service
    path:
      description: The declaration file.
      type: str
      sample: /etc/graceful_shutdown/registrations.d/telemetry.json
    dropin:
      description: The systemd drop-in of a service declaration, null for other selectors.
      type: str
      sample: /etc/systemd/system/telemetry.service.d/50-graceful-shutdown-telemetry.conf
    pids:
      description: The processes the declaration registers now (by PID; empty for a service with scope V(service)).
      type: list
      elements: int
      sample: [1234]
    cgroups:
      description: The cgroup the declaration registers now (a service with scope V(service) that runs), or empty.
      type: list
      elements: str
      sample: ["/system.slice/telemetry.service"]
undeclared_pids:
  description: PIDs of live registrations that belong to no declaration (registered by PID, or by hand), sorted.
  returned: always
  type: list
  elements: int
  sample: [4242]
undeclared_cgroups:
  description:
    - Cgroups of live registrations that belong to no declaration (written by hand, or left by a declaration
      that was removed while its module was not loaded), sorted.
  returned: always
  type: list
  elements: str
  sample: ["/system.slice/old.service"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oom.graceful_shutdown.plugins.module_utils import registry


def _system(module):
    """The System the module works on; unit tests replace this function."""
    return registry.system_for_ansible_module(module)


def gather(module, system):
    loaded = system.module_loaded()
    status = registry.read_status(system) if loaded else {}
    declarations, errors = registry.load_declarations(system)
    for error in errors:
        module.warn("ignoring a declaration: %s" % error)

    owners = {}
    described = []
    for declaration in declarations:
        try:
            targets = registry.declaration_targets(declaration, system)[0]
        except registry.RegistryError as exc:
            module.warn("cannot resolve declaration %s: %s" % (declaration["name"], exc))
            targets = []
        for target in targets:
            owners.setdefault(target, declaration["name"])
        service = declaration["selector"].get("service")
        item = dict(declaration)
        item.update(path=registry.declaration_path(declaration["name"], system),
                    dropin=registry.dropin_path(service, declaration["name"], system) if service else None,
                    pids=[t for t in targets if not isinstance(t, str)],
                    cgroups=[t for t in targets if isinstance(t, str)])
        described.append(item)

    registrations = []
    if loaded:
        listing = registry.read_listing(system)
        for entry in sorted(listing, key=lambda e: registry.target_key(registry.target_of(e))):
            registrations.append(dict(pid=entry.pid, cgroup=entry.cgroup, handler=entry.handler,
                                      timeout_ms=entry.timeout_ms, signal=entry.signal, reserve_kb=entry.reserve_kb,
                                      mode="early" if entry.early else "grace",
                                      early_threshold=entry.early or None,
                                      then=entry.then if entry.early else None,
                                      uid=entry.user[0] if entry.user else None,
                                      gid=entry.user[1] if entry.user else None,
                                      capabilities=registry.capability_names(entry.caps),
                                      comm=registry.comm_of(entry.pid, system) if entry.pid else None,
                                      declared_name=owners.get(registry.target_of(entry))))
    backend = status.get("backend")
    undeclared = [r for r in registrations if r["declared_name"] is None]
    return dict(
        changed=False,
        module_loaded=loaded,
        backend=backend,
        hook_api=status.get("hook_api"),
        kernel_support=backend == "hook",
        handlers_run={"hook": "before_kill", "notify": "after_kill"}.get(backend, "never"),
        status=status,
        registrations=registrations,
        declarations=described,
        undeclared_pids=[r["pid"] for r in undeclared if r["cgroup"] is None],
        undeclared_cgroups=[r["cgroup"] for r in undeclared if r["cgroup"] is not None],
    )


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    try:
        result = gather(module, _system(module))
    except registry.RegistryError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
