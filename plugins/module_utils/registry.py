# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Registrations of graceful-shutdown handlers with /proc/graceful_shutdown: the library's API.

The library knows the /proc format, the handler safety rules, the process selectors and the
declaration files, one job per file:

    registry_errors.py        the errors (str() says what is wrong and what to do)
    registry_system.py        System: where the library looks (root, /proc, commands, lstat)
    registry_proc.py          the /proc/graceful_shutdown format, its limits and errnos
    registry_handler.py       handler paths: what /proc carries and the runner's safety rules
    registry_selectors.py     pid, pidfile, service, exe and comm selectors
    registry_declarations.py  declaration files and systemd drop-ins
    registry_plan.py          plan and apply a set of registrations

It uses the Python standard library only: the modules oom.graceful_shutdown.registration and
registration_info import this file as module_utils, and the role
oom.graceful_shutdown.registrations copies the same files to devices as the package
/usr/local/lib/oomgs/oomgs_registry/, where the CLI /usr/local/sbin/oomgs-register imports it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# pylint: disable=unused-import
from .registry_declarations import (  # noqa: F401
    CLI_HINT, DECLARATION_KEYS, DECLARATION_OPTIONAL_KEYS, NAME_RE, daemon_reload, declaration_entry,
    declaration_path, dropin_path, dropin_text, dump_declaration, find_dropins, load_declarations,
    make_declaration, parse_declaration, read_declaration, read_text, remove_file, validate_name,
    write_file_atomic)
from .registry_errors import NotLoadedError, ParseError, RegistryError, SelectorError, WriteError  # noqa: F401
from .registry_handler import PATH_MAX_LEN, check_handler, handler_syntax_problems  # noqa: F401
from .registry_plan import Plan, apply, plan, plan_lines  # noqa: F401
from .registry_proc import (  # noqa: F401
    EARLY_DEFAULT, EARLY_MAX, EARLY_MIN, ERRNO_MEANING, LINE_MAX_LEN, NOT_LOADED_HINT, RESERVE_MAX_KB, SIGNALS,
    THEN, THEN_DEFAULT, TIMEOUT_DEFAULT, TIMEOUT_MAX,
    TIMEOUT_MIN, WRITE_MAX_BYTES, WRITE_MAX_LINES, Entry, describe_errno, format_line, format_unregister,
    option_fields, parse_listing, parse_status, read_listing, read_status, write_lines)
from .registry_selectors import (  # noqa: F401
    COMM_MAX_LEN, INIT_PID, PF_KTHREAD, SELECTOR_KEYS, UNIT_RE, UNIT_SUFFIXES, comm_of, describe_selector,
    normalize_selector, process_problem, resolve, resolve_detail)
from .registry_system import (  # noqa: F401
    CLI, DECLARATION_DIR, PROC, REGISTRY_NAME, STATUS_NAME, SYSTEMD_DIR, System,
    system_for_ansible_module)
