# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
from __future__ import annotations

from ansible_collections.oom.graceful_shutdown.plugins.lookup.controller_cache_dir import controller_cache_dir


def test_root_uses_the_system_cache():
    assert controller_cache_dir(0, {"HOME": "/root", "XDG_CACHE_HOME": "/x"}) == "/var/cache/oom-graceful-shutdown"


def test_a_user_uses_xdg_cache_home():
    assert controller_cache_dir(1000, {"HOME": "/home/a", "XDG_CACHE_HOME": "/tmp/c"}) == "/tmp/c/oom-graceful-shutdown"


def test_a_user_without_xdg_cache_home_uses_home():
    assert controller_cache_dir(1000, {"HOME": "/home/a"}) == "/home/a/.cache/oom-graceful-shutdown"
    assert controller_cache_dir(1000, {"HOME": "/home/a", "XDG_CACHE_HOME": ""}) == "/home/a/.cache/oom-graceful-shutdown"
