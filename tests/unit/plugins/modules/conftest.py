# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""The fixture that runs a module on the fake device (module_harness.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.oom.graceful_shutdown.tests.unit.plugins.modules.module_harness import module_runner


@pytest.fixture
def run_module(world, monkeypatch):
    """run_module(module, check_mode=False, diff=False, **args) -> the result of module.main()."""
    return module_runner(world, monkeypatch)
