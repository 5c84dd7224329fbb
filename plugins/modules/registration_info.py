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
    belongs to; live registrations that belong to none are listed in RV(undeclared_pids).
  - Works when the kernel module is not loaded; RV(module_loaded) is then false and RV(registrations) and
    RV(undeclared_pids) are empty.
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
  description: The live registrations, sorted by PID.
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: Process ID.
      type: int
      sample: 1234
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
    comm:
      description: The process's command name (C(/proc/PID/comm)); null if it exited meanwhile.
      type: str
      sample: telemetry
    declared_name:
      description: Name of the declaration whose selector matches this PID now; null when none does.
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
    path:
      description: The declaration file.
      type: str
      sample: /etc/graceful_shutdown/registrations.d/telemetry.json
    dropin:
      description: The systemd drop-in of a service declaration, null for other selectors.
      type: str
      sample: /etc/systemd/system/telemetry.service.d/50-graceful-shutdown-telemetry.conf
    pids:
      description: The processes the selector matches now.
      type: list
      elements: int
      sample: [1234]
undeclared_pids:
  description: PIDs of live registrations that belong to no declaration (registered by PID, or by hand), sorted.
  returned: always
  type: list
  elements: int
  sample: [4242]
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
            pids = registry.resolve(declaration["selector"], system)
        except registry.RegistryError as exc:
            module.warn("cannot resolve declaration %s: %s" % (declaration["name"], exc))
            pids = []
        for pid in pids:
            owners.setdefault(pid, declaration["name"])
        service = declaration["selector"].get("service")
        item = dict(declaration)
        item.update(path=registry.declaration_path(declaration["name"], system),
                    dropin=registry.dropin_path(service, declaration["name"], system) if service else None,
                    pids=pids)
        described.append(item)

    registrations = []
    if loaded:
        for entry in sorted(registry.read_listing(system)):
            registrations.append(dict(pid=entry.pid, handler=entry.handler, timeout_ms=entry.timeout_ms,
                                      signal=entry.signal, reserve_kb=entry.reserve_kb,
                                      mode="early" if entry.early else "grace",
                                      early_threshold=entry.early or None,
                                      then=entry.then if entry.early else None,
                                      comm=registry.comm_of(entry.pid, system), declared_name=owners.get(entry.pid)))
    backend = status.get("backend")
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
        undeclared_pids=[r["pid"] for r in registrations if r["declared_name"] is None],
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
