# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/gpl-2.0.txt)
"""Print how long each playbook run took, and where the time went, so that the logs of
Molecule's converge and idempotence steps give the converge time of a fresh device and of
a rerun, and the tasks to make cheaper first."""

from __future__ import annotations

import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: elapsed
type: aggregate
short_description: print the wall time of each playbook run and its slowest tasks
description:
  - At the end of a playbook run, prints one line "PLAYBOOK NAME took N s (T tasks)",
    then the slowest tasks (wall time of each task summed over its runs, all hosts at once).
"""

SLOWEST = 12


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "elapsed"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._started = time.monotonic()
        self._playbook = "playbook"
        self._task = None
        self._task_started = 0.0
        self._task_times = {}
        self._task_runs = 0

    def _close_task(self):
        if self._task is not None:
            spent = time.monotonic() - self._task_started
            self._task_times[self._task] = self._task_times.get(self._task, 0.0) + spent
            self._task = None

    def v2_playbook_on_start(self, playbook):
        self._started = time.monotonic()
        self._playbook = playbook._file_name

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close_task()
        self._task = task.get_name()  # with its role's name in front
        self._task_started = time.monotonic()
        self._task_runs += 1

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_play_start(self, play):
        self._close_task()

    def v2_playbook_on_stats(self, stats):
        self._close_task()
        self._display.display(
            "PLAYBOOK %s took %.0f s (%d tasks)"
            % (self._playbook, time.monotonic() - self._started, self._task_runs)
        )
        slowest = sorted(self._task_times.items(), key=lambda item: item[1], reverse=True)
        for name, spent in slowest[:SLOWEST]:
            self._display.display("  %6.1f s  %s" % (spent, name))
