# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/gpl-2.0.txt)
"""Print how long each playbook run took, so that the logs of Molecule's converge and
idempotence steps give the converge time of a fresh device and of a rerun."""

from __future__ import annotations

import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: elapsed
type: aggregate
short_description: print the wall time of each playbook run
description:
  - At the end of a playbook run, prints one line "PLAYBOOK NAME took N s".
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "elapsed"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._started = time.monotonic()
        self._playbook = "playbook"

    def v2_playbook_on_start(self, playbook):
        self._started = time.monotonic()
        self._playbook = playbook._file_name

    def v2_playbook_on_stats(self, stats):
        self._display.display(
            "PLAYBOOK %s took %.0f s" % (self._playbook, time.monotonic() - self._started)
        )
