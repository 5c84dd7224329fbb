# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Which of the collection's .deb files a device still needs.

The roles install packages they built (kernel, module, runner) with apt, which opens its whole
cache for each package it is asked about: seconds each on a small device, on every rerun. One
dpkg-query per role says which exact versions are installed, and only the others are copied and
installed. The query (dpkg_query_argv) and the reading of its answer (debs_not_installed) are
both here, so the format is written once:

    dpkg-query --show --showformat='${db:Status-Abbrev}|${Package}|${Version}\\n' NAMES...
"""

from __future__ import annotations

import os
import re

from ansible.errors import AnsibleFilterError

_SHOWFORMAT = "--showformat=${db:Status-Abbrev}|${Package}|${Version}\\n"

# dpkg-deb names a package file NAME_VERSION_ARCH.deb (the version without its epoch).
_DEB_FILE = re.compile(r"^(?P<name>[^_/]+)_(?P<version>[^_/]+)_(?P<arch>[^_/]+)\.deb$")


def _name_and_version(path):
    found = _DEB_FILE.match(os.path.basename(str(path)))
    if not found:
        raise AnsibleFilterError(f"not a package file named NAME_VERSION_ARCH.deb: {path}")
    return found.group("name"), found.group("version")


def dpkg_query_argv(debs):
    """The dpkg-query command line (argv) that lists these .deb files' packages as installed.

    dpkg-query exits 1 when one of the packages is not installed at all; it still lists the others.
    """
    return ["dpkg-query", "--show", _SHOWFORMAT] + [_name_and_version(path)[0] for path in debs]


def debs_not_installed(debs, dpkg_query_lines):
    """The .deb files whose package is not installed in that very version.

    dpkg_query_lines: the lines that the command of dpkg_query_argv printed; the second letter of the status
    is the current state (i: installed; "hi" is installed and held).
    """
    installed = set()
    for line in dpkg_query_lines:
        fields = str(line).split("|")
        if len(fields) == 3 and len(fields[0]) >= 2 and fields[0][1] == "i":
            # an epoch ("1:") is not in the file name
            installed.add((fields[1], fields[2].split(":", 1)[-1]))
    return [path for path in debs if _name_and_version(path) not in installed]


class FilterModule:
    def filters(self):
        return {
            "dpkg_query_argv": dpkg_query_argv,
            "debs_not_installed": debs_not_installed,
        }
