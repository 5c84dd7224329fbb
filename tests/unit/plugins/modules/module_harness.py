# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Runs a module's main() against the fake device of ../conftest.py, as Ansible would: the
arguments as module args, exit_json and fail_json turned into exceptions that carry the result.
The fixture run_module (conftest.py) hands it to the tests."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ModuleExit(Exception):
    """main() ended with exit_json; args[0] is the result."""


class ModuleFail(Exception):
    """main() ended with fail_json; args[0] is the result, with its msg."""


def module_runner(world, monkeypatch):
    """A function run(module, check_mode=False, diff=False, **args) -> the result of module.main();
    it raises ModuleFail when the module fails. The module's registry.System is the fake device's."""
    warnings = []

    def exit_json(self, **kwargs):
        kwargs.setdefault("changed", False)
        kwargs["warnings"] = list(warnings)
        raise ModuleExit(kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs["msg"] = msg
        raise ModuleFail(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, warning, **kwargs: warnings.append(warning))

    def runner(module, check_mode=False, diff=False, **args):
        monkeypatch.setattr(module, "_system", lambda ansible_module: world.system())
        del warnings[:]
        if check_mode:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        with patch_module_args(args):
            with pytest.raises(ModuleExit) as result:
                module.main()
        return result.value.args[0]
    return runner


def failure(run, **args):
    """The message of a module run that must fail (run: a test's run fixture)."""
    with pytest.raises(ModuleFail) as info:
        run(**args)
    return info.value.args[0]
