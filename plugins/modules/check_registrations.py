#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: check_registrations
short_description: Check declared graceful-shutdown registrations before any device changes
version_added: 0.1.0
author: oom.graceful_shutdown contributors (!UNKNOWN)
description:
  - Checks a list of registrations as an inventory declares them (C(graceful_shutdown_registrations), the
    entries of the role C(oom.graceful_shutdown.registrations)) by the rules of
    M(oom.graceful_shutdown.registration) and of the kernel module, and fails with every problem at once,
    each naming the host, the entry (index and name) and the key (see the sample of RV(problems)).
  - Checks the declaration only (keys, exactly one selector, an absolute handler path, timeout_ms, signal,
    reserve_kb, mode, early_threshold and then within the kernel's bounds, unique names, the form of user and
    group and group only with user, capabilities a list of known names, scope V(service) or V(main) with a
    service only and not V(service) with mode V(early)); whether the handler exists and is safe, whether the
    user and group exist and whether the device has cgroup v2 for a whole service, is checked on the device
    when the registration is applied.
  - Runs on the controller and never connects to the host, so C(playbooks/site.yml) runs it for every host
    first, with C(any_errors_fatal), and a bad declaration stops the rollout before any device changed.
options:
  registrations:
    description: The list of registrations to check.
    type: raw
    required: true
  variable:
    description: The name the messages give the list.
    type: str
    default: graceful_shutdown_registrations
attributes:
  check_mode:
    support: full
    description: Only reads its arguments; it runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing.
  platform:
    platforms: all
    support: full
    description: An action that runs on the controller only and never connects to the host.
notes:
  - The entry keys are those of the role C(oom.graceful_shutdown.registrations) (name, service, pidfile, exe,
    comm, pid, scope, handler, timeout_ms, signal, reserve_kb, mode, early_threshold, then, user, group,
    capabilities, allow_missing, persist, state).
"""

EXAMPLES = r"""
- name: Check this host's registrations before anything changes
  oom.graceful_shutdown.check_registrations:
    registrations: "{{ graceful_shutdown_registrations | default([]) }}"
"""

RETURN = r"""
problems:
  description: Every problem found, each starting with the host, the entry and its name.
  returned: always
  type: list
  elements: str
  sample: ["sensor-17: graceful_shutdown_registrations[0] (data-logger): unknown key 'handlr' (did you mean 'handler'?)"]
count:
  description: How many registrations the list has.
  returned: always
  type: int
  sample: 1
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    # The work is done by the action plugin of the same name, on the controller.
    module = AnsibleModule(
        argument_spec=dict(registrations=dict(type="raw", required=True),
                           variable=dict(type="str", default="graceful_shutdown_registrations")),
        supports_check_mode=True,
    )
    module.fail_json(msg="oom.graceful_shutdown.check_registrations runs as an action on the controller only")


if __name__ == "__main__":
    main()
