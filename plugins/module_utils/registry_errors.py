# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""The errors of the registration library: each str() says what is wrong and what to do."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class RegistryError(Exception):
    """Any error of this library; str() is a sentence saying what is wrong and what to do."""


class ParseError(RegistryError):
    """Text read from /proc or a declaration file that this library does not understand."""


class SelectorError(RegistryError):
    """An invalid selector (not a missing process: that is an empty resolve() result)."""


class NotLoadedError(RegistryError):
    """/proc/graceful_shutdown does not exist."""


class NoCgroup2Error(RegistryError):
    """A whole service (its cgroup) on a device without a cgroup v2 hierarchy; cgroup is the service's."""

    def __init__(self, message, cgroup):
        super(NoCgroup2Error, self).__init__(message)
        self.cgroup = cgroup


class WriteError(RegistryError):
    """A write to /proc/graceful_shutdown failed; nothing of that write was applied."""

    def __init__(self, message, errno=None, errno_name=None, lines=None):
        super(WriteError, self).__init__(message)
        self.errno = errno
        self.errno_name = errno_name
        self.lines = list(lines or [])
