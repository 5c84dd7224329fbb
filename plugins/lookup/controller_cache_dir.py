# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
from __future__ import annotations

DOCUMENTATION = r"""
name: controller_cache_dir
version_added: 0.1.0
short_description: The controller's cache folder of oom.graceful_shutdown
description:
  - The folder where the roles keep what they build on the controller (kernel and module packages,
    the runner's package, the registrations package).
  - C(/var/cache/oom-graceful-shutdown) when the playbook runs as root, otherwise
    C($XDG_CACHE_HOME/oom-graceful-shutdown) (C(~/.cache/oom-graceful-shutdown) without
    C(XDG_CACHE_HOME)), so that a build never needs root for its cache.
  - The roles' defaults (C(kernel_cache_dir), C(kernel_controller_deb_dir), C(daemon_package_cache_dir),
    C(registrations_package_cache_dir)) are built on it; set those to put the cache elsewhere.
options: {}
"""

EXAMPLES = r"""
- name: Show where the packages are cached
  ansible.builtin.debug:
    msg: "{{ lookup('oom.graceful_shutdown.controller_cache_dir') }}"
"""

RETURN = r"""
_raw:
  description: One element, the absolute path of the folder (it need not exist yet).
  type: list
  elements: path
"""

import os

from ansible.plugins.lookup import LookupBase

SYSTEM_CACHE = "/var/cache/oom-graceful-shutdown"


def controller_cache_dir(uid, environ):
    if uid == 0:
        return SYSTEM_CACHE
    base = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME", "/"), ".cache")
    return os.path.join(base, "oom-graceful-shutdown")


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [controller_cache_dir(os.geteuid(), os.environ)]
