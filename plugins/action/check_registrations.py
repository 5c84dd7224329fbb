# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Action of oom.graceful_shutdown.check_registrations: check declared registrations on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.oom.graceful_shutdown.plugins.module_utils.registry_inventory import inventory_problems

ARGUMENT_SPEC = {
    "registrations": {"type": "raw", "required": True},
    "variable": {"type": "str", "default": "graceful_shutdown_registrations"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host = (task_vars or {}).get("inventory_hostname", "?")
        problems = inventory_problems(args["registrations"], args["variable"])
        count = len(args["registrations"]) if isinstance(args["registrations"], list) else 0
        result.update(changed=False, problems=["%s: %s" % (host, p) for p in problems], count=count)
        if problems:
            result["failed"] = True
            result["msg"] = "%s: %d problem(s), nothing was changed on any device:\n%s" % (
                host, len(problems), "\n".join(result["problems"]))
        else:
            result["msg"] = "%s: %d registration(s) declared, all valid" % (host, count)
        return result
