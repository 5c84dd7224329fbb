# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Registrations of graceful-shutdown handlers with /proc/graceful_shutdown: the library's API.

The library knows the /proc format, the handler safety rules, the process selectors and the
declaration files, one job per file:

    registry_errors.py        the errors (str() says what is wrong and what to do)
    registry_system.py        System: where the library looks (root, /proc, commands, lstat)
    registry_options.py       the options of a registration line, their limits and checks
    registry_proc.py          the /proc/graceful_shutdown format: PID and cgroup= lines, the status
    registry_io.py            reading and writing /proc/graceful_shutdown and its status, errnos
    registry_identity.py      the handler's user, group and capabilities
    registry_handler.py       handler paths: what /proc carries and the runner's safety rules
    registry_service.py       systemd units (MainPID, ControlGroup), a service's scope, cgroup v2
    registry_selectors.py     pid, pidfile, service, exe and comm selectors, and what they register
    registry_declarations.py  declaration files and systemd drop-ins
    registry_plan.py          plan and apply a set of registrations

It uses the Python standard library only: the modules oom.graceful_shutdown.registration and
registration_info import this file as module_utils, and the role
oom.graceful_shutdown.registrations installs the same files on devices as the Python package
/usr/lib/oomgs/oomgs_registry/ (in the Debian package oomgs-registrations), where the CLI
/usr/sbin/oomgs-register imports it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# pylint: disable=unused-import
from .registry_declarations import (  # noqa: F401
    CLI_HINT, DECLARATION_KEYS, DECLARATION_OPTIONAL_KEYS, NAME_RE, daemon_reload, declaration_entry,
    declaration_path, declaration_targets, dropin_path, dropin_text, dump_declaration, find_dropins,
    load_declarations, make_declaration, parse_declaration, read_declaration, read_text, remove_file, validate_name,
    write_file_atomic)
from .registry_errors import (  # noqa: F401
    NoCgroup2Error, NotLoadedError, ParseError, RegistryError, SelectorError, WriteError)
from .registry_handler import PATH_MAX_LEN, check_handler, handler_syntax_problems  # noqa: F401
from .registry_identity import (  # noqa: F401
    CAP_LAST, CAPABILITIES, ID_MAX, capability_mask, capability_names, capability_problems, identity_problems,
    normalize_id, resolve_user)
from .registry_io import (  # noqa: F401
    ERRNO_MEANING, NOT_LOADED_HINT, describe_errno, read_listing, read_status, write_lines)
from .registry_options import (  # noqa: F401
    EARLY_DEFAULT, EARLY_MAX, EARLY_MIN, RESERVE_MAX_KB, SIGNALS, THEN, THEN_DEFAULT, TIMEOUT_DEFAULT, TIMEOUT_MAX,
    TIMEOUT_MIN, option_fields)
from .registry_plan import Plan, apply, plan, plan_lines, target_problem  # noqa: F401
from .registry_proc import (  # noqa: F401
    CGROUP_MAX_LEN, LINE_MAX_LEN, WRITE_MAX_BYTES, WRITE_MAX_LINES, Entry, cgroup_problem, check_entry,
    describe_target, entry_for, format_line, format_unregister, make_entry, parse_listing, parse_status, target_key,
    target_of)
from .registry_selectors import (  # noqa: F401
    COMM_MAX_LEN, INIT_PID, PF_KTHREAD, SELECTOR_KEYS, UNIT_RE, UNIT_SUFFIXES, comm_of, describe_selector,
    normalize_selector, process_problem, resolve, resolve_detail, resolve_targets)
from .registry_service import (  # noqa: F401
    CGROUP2_MOUNTS, SCOPE_LEGACY, SCOPE_MAIN, SCOPE_SERVICE, SCOPES, cgroup2_root, cgroup_exists, default_scope,
    normalize_scope, scope_problem, service_cgroup, unit_properties)
from .registry_system import (  # noqa: F401
    CLI, DECLARATION_DIR, PROC, REGISTRY_NAME, STATUS_NAME, SYSTEMD_DIR, System,
    system_for_ansible_module)
