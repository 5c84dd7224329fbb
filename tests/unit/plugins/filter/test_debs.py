# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.oom.graceful_shutdown.plugins.filter.debs import debs_not_installed, dpkg_query_argv

KERNEL = "/cache/k/linux-image-6.1.192-oomgs_6.1.192-oomgs-1_amd64.deb"
MODULE = "/cache/m/graceful-shutdown-module-6.1.192-oomgs_0.1.0+0123abcd_amd64.deb"
RUNNER = "/cache/r/oomgs-runner_0.1.0+89ef_amd64.deb"


def test_the_query_names_the_packages_of_the_file_names():
    argv = dpkg_query_argv([KERNEL, MODULE, RUNNER])
    assert argv[:2] == ["dpkg-query", "--show"]
    assert argv[3:] == ["linux-image-6.1.192-oomgs", "graceful-shutdown-module-6.1.192-oomgs", "oomgs-runner"]


def test_the_query_prints_what_the_reader_reads():
    # the format as dpkg-query prints it for an installed runner, fed back to the reader
    fmt = dpkg_query_argv([RUNNER])[2].split("=", 1)[1].replace("\\n", "")
    line = fmt.replace("${db:Status-Abbrev}", "ii ").replace("${Package}", "oomgs-runner").replace(
        "${Version}", "0.1.0+89ef")
    assert debs_not_installed([RUNNER], [line]) == []


def test_a_file_name_of_another_form_is_an_error():
    with pytest.raises(AnsibleFilterError, match="NAME_VERSION_ARCH.deb: /tmp/runner.deb"):
        dpkg_query_argv(["/tmp/runner.deb"])


def test_only_packages_installed_in_that_version_are_left_out():
    lines = [
        "ii |linux-image-6.1.192-oomgs|6.1.192-oomgs-1",  # installed, same version
        "ii |graceful-shutdown-module-6.1.192-oomgs|0.1.0+ffff",  # another version
        "rc |oomgs-runner|0.1.0+89ef",  # removed, its configuration left
    ]
    assert debs_not_installed([KERNEL, MODULE, RUNNER], lines) == [MODULE, RUNNER]


def test_held_packages_count_as_installed_and_epochs_are_ignored():
    lines = ["hi |linux-image-6.1.192-oomgs|6.1.192-oomgs-1", "ii |oomgs-runner|1:0.1.0+89ef"]
    assert debs_not_installed([KERNEL, RUNNER], lines) == []


def test_nothing_installed():
    assert debs_not_installed([KERNEL], []) == [KERNEL]
