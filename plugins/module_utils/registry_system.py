# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Where the registration library looks: file system root, /proc, commands, lstat, the caller's PID and
the user and group database.

Every function that touches the system takes a System, so unit tests run against temporary
directories and fakes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pwd

PROC = "/proc"
REGISTRY_NAME = "graceful_shutdown"
STATUS_NAME = "graceful_shutdown_status"
DECLARATION_DIR = "/etc/graceful_shutdown/registrations.d"
SYSTEMD_DIR = "/etc/systemd/system"
CLI = "/usr/sbin/oomgs-register"  # from the Debian package oomgs-registrations


def _no_runner(argv):
    """The run of a System made without one: says so (rc 127) instead of running anything. The
    modules run commands through AnsibleModule.run_command (system_for_ansible_module), the
    device CLI through its own runner."""
    return 127, "", "%s: this System has no command runner (System(run=...))" % argv[0]


class System(object):
    """Where the library looks: file system root, /proc, commands, lstat, the caller's PID and users.

    root is a prefix for every file path (declarations, drop-ins, handlers, pidfiles, the CLI);
    proc is the /proc directory (holding graceful_shutdown, graceful_shutdown_status and PID
    directories); run(argv) returns (rc, stdout, stderr); lstat(path) is os.lstat by default;
    pwd and grp answer getpwnam, getpwuid and getgrnam (the modules pwd and grp by default).
    """

    def __init__(self, root="", proc=PROC, run=None, lstat=None, self_pid=None, pwd_db=None, grp_db=None):
        self.root = root.rstrip("/")
        self.proc = proc.rstrip("/") or "/"
        self.run = run or _no_runner
        self.lstat = lstat or os.lstat
        self.self_pid = os.getpid() if self_pid is None else self_pid
        self.pwd = pwd_db or pwd
        self.grp = grp_db or grp

    def path(self, path):
        """The real location of an absolute path under the root."""
        return self.root + path

    @property
    def registry_file(self):
        return os.path.join(self.proc, REGISTRY_NAME)

    @property
    def status_file(self):
        return os.path.join(self.proc, STATUS_NAME)

    @property
    def declaration_dir(self):
        return self.path(DECLARATION_DIR)

    @property
    def cli(self):
        return self.path(CLI)

    def module_loaded(self):
        return os.path.exists(self.registry_file)


def system_for_ansible_module(module):
    """A System whose commands run through an AnsibleModule (run_command; a command that is not
    installed gives rc 127). Duck-typed, so this file still imports nothing from ansible."""
    def run(argv):
        if module.get_bin_path(argv[0]) is None:
            return 127, "", "%s is not installed on the device" % argv[0]
        return module.run_command(argv)
    return System(run=run)
