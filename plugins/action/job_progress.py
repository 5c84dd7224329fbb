# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Action of oom.graceful_shutdown.job_progress: wait for an async job, one progress line per check."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

ARGUMENT_SPEC = {
    "jid": {"type": "str", "required": True},
    "progress_command": {"type": "list", "elements": "str", "default": []},
    "interval": {"type": "int", "default": 30},
    "timeout": {"type": "int", "default": 3600},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def _status(self, jid, task_vars, mode="status"):
        # As ansible.builtin.async_status's own action does: the job files' folder of the shell.
        async_dir = self._remote_expand_user(self.get_shell_option("async_dir", default="~/.ansible_async"))
        return self._execute_module(
            module_name="ansible.legacy.async_status",
            module_args={"jid": jid, "mode": mode, "_async_dir": async_dir},
            task_vars=task_vars,
        )

    def _progress_line(self, command, task_vars):
        if not command:
            return ""
        result = self._execute_module(
            module_name="ansible.builtin.command", module_args={"argv": command}, task_vars=task_vars
        )
        lines = (result.get("stdout") or result.get("stderr") or result.get("msg") or "").strip().splitlines()
        return lines[-1] if lines else ""

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        interval = max(1, args["interval"])
        host = task_vars.get("inventory_hostname", "?") if task_vars else "?"
        name = self._task.get_name()
        started = time.monotonic()
        try:
            while True:
                status = self._status(args["jid"], task_vars)
                waited = int(time.monotonic() - started)
                if status.get("finished") or status.get("failed"):
                    break
                if waited >= args["timeout"]:
                    result.update(failed=True, finished=False, waited=waited,
                                  msg="the background task did not finish within %d s" % args["timeout"])
                    return result
                line = self._progress_line(args["progress_command"], task_vars)
                display.display("[%s] %s: %d min %02d s%s" % (
                    host, name, waited // 60, waited % 60, (": " + line) if line else ""))
                time.sleep(min(interval, max(1, args["timeout"] - waited)))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        self._status(args["jid"], task_vars, mode="cleanup")
        for key in ("rc", "stdout", "stderr", "stdout_lines", "stderr_lines", "cmd", "msg", "failed"):
            if key in status:
                result[key] = status[key]
        result["finished"] = bool(status.get("finished"))
        result["waited"] = waited
        if status.get("failed") and "msg" not in result:
            result["msg"] = "the background task failed"
        return result
