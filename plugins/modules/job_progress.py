#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: job_progress
short_description: Wait for a background (async) task and show how far it is at every check
version_added: 0.1.0
author: oom.graceful_shutdown contributors (!UNKNOWN)
description:
  - Waits for a task started with C(async) and C(poll=0) to finish, like M(ansible.builtin.async_status)
    in an C(until) loop, but instead of a line "FAILED - RETRYING" per check it prints one progress line
    per check, with the time waited and the last line that O(progress_command) printed on the same host.
  - Returns the finished task's result (for a command C(rc), C(stdout) and C(stderr)) and fails when the task
    failed or did not finish within O(timeout) seconds.
  - Runs as an action on the controller; the checks and the progress command run on the task's host (its
    C(delegate_to) host, if any), with the task's C(become) settings.
options:
  jid:
    description: The C(ansible_job_id) of the background task.
    type: str
    required: true
  progress_command:
    description:
      - Command (argument list, no shell) run on the host at every check; the last line of its output is shown.
      - Nothing but the time waited is shown when it is empty.
    type: list
    elements: str
    default: []
  interval:
    description: Seconds between checks.
    type: int
    default: 30
  timeout:
    description: Seconds to wait in all before failing.
    type: int
    default: 3600
attributes:
  check_mode:
    support: full
    description: Only reads; in check mode no background task was started, so skip this task there.
  diff_mode:
    support: none
    description: Changes nothing.
  platform:
    platforms: posix
    support: full
    description: Any host that runs background tasks.
seealso:
  - module: ansible.builtin.async_status
"""

EXAMPLES = r"""
- name: Start a long build in the background
  ansible.builtin.command: make -C /usr/src/project
  async: 3600
  poll: 0
  register: build_job

- name: Wait for it, showing the last line of its log every minute
  oom.graceful_shutdown.job_progress:
    jid: "{{ build_job.ansible_job_id }}"
    progress_command: [tail, -n, "1", /usr/src/project/build.log]
    interval: 60
    timeout: 3600
"""

RETURN = r"""
finished:
  description: Whether the background task finished.
  returned: always
  type: bool
  sample: true
waited:
  description: Seconds waited.
  returned: always
  type: int
  sample: 540
rc:
  description: Exit code of the background command, when it was a command.
  returned: when the background task returned it
  type: int
  sample: 0
stdout:
  description: Output of the background command, when it was a command.
  returned: when the background task returned it
  type: str
  sample: /var/cache/oom-graceful-shutdown/kernel/0123456789abcdef
"""
