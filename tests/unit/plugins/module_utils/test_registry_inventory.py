# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""plugins/module_utils/registry_inventory.py: the controller-side checks of declared registrations."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.oom.graceful_shutdown.plugins.module_utils.registry_inventory import inventory_problems

GOOD = {"name": "data-logger", "service": "data-logger.service", "handler": "/usr/local/lib/data-logger/save-buffer",
        "timeout_ms": 3000}


def test_valid_entries_have_no_problem():
    assert inventory_problems([GOOD, dict(GOOD, name="b", service=None, comm="b", signal="TERM", reserve_kb=4096)]) == []
    assert inventory_problems([]) == [] and inventory_problems(None) == []
    assert inventory_problems([{"name": "gone", "state": "absent"}]) == []
    assert inventory_problems([dict(GOOD, timeout_ms="1500")]) == []  # as the module's int option takes it


def test_a_typo_names_the_entry_and_the_key_and_suggests():
    typo = dict(GOOD)
    typo["handlr"] = typo.pop("handler")
    problems = inventory_problems([GOOD, dict(GOOD, name="other"), typo])
    assert len(problems) == 3, problems
    assert problems[0] == ("graceful_shutdown_registrations[2] (data-logger): name 'data-logger' is used by "
                           "graceful_shutdown_registrations[0] too: each name must appear once")
    assert problems[1].startswith("graceful_shutdown_registrations[2] (data-logger): unknown key 'handlr' "
                                  "(did you mean 'handler'?)")
    assert problems[2].startswith("graceful_shutdown_registrations[2] (data-logger): handler is missing")


def test_every_problem_at_once():
    problems = inventory_problems([
        {"name": "two", "service": "a", "comm": "b", "handler": "relative/path", "timeout_ms": 999999},
        {"name": "none", "handler": "/h"},
        {"name": "bad/name", "pid": 5, "handler": "/h"},
        {"name": "sig", "comm": "x", "handler": "/h", "signal": "KILL", "reserve_kb": -1, "persist": "yes"},
        "just a string",
    ], variable="registrations_list")
    text = "\n".join(problems)
    assert "registrations_list[0] (two): give exactly one of pid, pidfile, service, exe, comm" in text
    assert "registrations_list[0] (two): handler: handler path relative/path is not absolute" in text
    assert "registrations_list[0] (two): timeout_ms must be an integer from 1 to 60000, got 999999" in text
    assert "registrations_list[1] (none): give exactly one of" in text
    assert "registrations_list[2] (bad/name): name 'bad/name' is invalid" in text
    assert "registrations_list[2] (bad/name): a pid selector cannot be persisted" in text
    assert "registrations_list[3] (sig): signal must be one of" in text
    assert "registrations_list[3] (sig): reserve_kb must be an integer from 0" in text
    assert "registrations_list[3] (sig): persist is 'yes': use true or false" in text
    assert "registrations_list[4]: is 'just a string', not a mapping" in text


def test_not_a_list():
    assert inventory_problems({"name": "x"}) == ["graceful_shutdown_registrations must be a list of registrations, not dict"]


def test_a_pid_that_is_not_persisted_is_fine():
    assert inventory_problems([{"name": "now", "pid": 1234, "persist": False, "handler": "/h"}]) == []


def test_early_mode_keys():
    early = dict(GOOD, mode="early", early_threshold=85, then="continue")
    assert inventory_problems([early, dict(GOOD, name="b", mode="early"), dict(GOOD, name="c", mode="grace")]) == []
    problems = inventory_problems([
        dict(GOOD, name="m", mode="soon"),
        dict(GOOD, name="t", mode="early", early_threshold=100, then="stop"),
        dict(GOOD, name="g", early_threshold=90, then="term"),
    ])
    text = "\n".join(problems)
    assert "graceful_shutdown_registrations[0] (m): mode is 'soon': use grace or early" in text
    assert "[1] (t): early_threshold is 100: use a percentage of the cgroup's memory limit from 50 to 99" in text
    assert "[1] (t): then is 'stop': use kill, term, continue" in text
    assert "[2] (g): early_threshold is early mode's: set mode: early too, or remove it" in text
    assert "[2] (g): then is early mode's: set mode: early too, or remove it" in text
    assert len(problems) == 5, problems


def test_scope():
    assert inventory_problems([dict(GOOD, scope="service"), dict(GOOD, name="m", scope="main"),
                               dict(GOOD, name="e", mode="early"), dict(GOOD, name="em", mode="early", scope="main"),
                               {"name": "gone", "service": "x", "scope": "main", "state": "absent"}]) == []
    problems = inventory_problems([
        dict(GOOD, name="e", mode="early", scope="service"),
        dict(GOOD, name="c", service=None, comm="logger", scope="main"),
        dict(GOOD, name="u", scope="unit"),
        {"name": "a", "scope": "main", "state": "absent"},
        dict(GOOD, name="two", comm="x", scope="sevice"),
    ])
    assert problems == [
        "graceful_shutdown_registrations[0] (e): scope: service registers the unit's whole cgroup, and mode: early "
        "covers one process: use scope: main (the default with mode: early), or mode: grace",
        "graceful_shutdown_registrations[1] (c): scope is for the service selector only (the unit's whole cgroup or "
        "its main process), not for comm: remove it",
        "graceful_shutdown_registrations[2] (u): scope is 'unit': use service (the unit's whole cgroup) or main (its "
        "main process only)",
        "graceful_shutdown_registrations[3] (a): scope goes with a service selector: give service too, or leave "
        "scope out",
        "graceful_shutdown_registrations[4] (two): give exactly one of pid, pidfile, service, exe, comm to find the "
        "process (given: service, comm)",
        "graceful_shutdown_registrations[4] (two): scope is 'sevice': use service (the unit's whole cgroup) or main "
        "(its main process only)",
    ]
