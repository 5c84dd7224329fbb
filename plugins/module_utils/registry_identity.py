# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Who a handler runs as: the user, group and capabilities a registration declares, their checks,
the capability names and masks of /proc/graceful_shutdown (user=UID:GID, caps=HEX), and the
names resolved on the device (passwd and group database, through the System)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import re

from .registry_errors import RegistryError

# The capabilities in kernel order: bit N of caps= is capability number N (capability(7)).
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
    "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE")
CAP_LAST = len(CAPABILITIES) - 1  # 40, CAP_CHECKPOINT_RESTORE
CAPS_MASK_MAX = (1 << len(CAPABILITIES)) - 1
ID_MAX = 4294967294  # (uid_t)-1 is no user
# A user or group name: what useradd and systemd accept, and more (NSS, LDAP), but never a
# number (that is an ID), a blank, ':' or '/'.
ID_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,255}\$?$")


def _is_id(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= ID_MAX


def check_user(user):
    """Raise RegistryError unless user is None or a (UID, GID) pair the kernel module accepts."""
    if user is None:
        return
    if not isinstance(user, (tuple, list)) or len(user) != 2 or not all(_is_id(v) for v in user):
        raise RegistryError("user must be a (UID, GID) pair of integers from 0 to %d, got %r" % (ID_MAX, user))


def check_caps(caps):
    """Raise RegistryError unless caps is a capability mask (0 for none) the kernel module accepts."""
    if isinstance(caps, bool) or not isinstance(caps, int) or not 0 <= caps <= CAPS_MASK_MAX:
        raise RegistryError("caps must be a mask of capability numbers 0 to %d (0 for none), got %r" % (CAP_LAST, caps))


def normalize_id(value):
    """A user or group as declared: an int for a number (also given as a string of digits), else the name."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def id_problem(key, value):
    """What is wrong with a declared user or group (a name or a number), or None."""
    value = normalize_id(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return "%s is %r: give a %s name or number" % (key, value, key)
    if isinstance(value, int):
        if not _is_id(value):
            return "%s is %d: a %s ID is from 0 to %d" % (key, value, key, ID_MAX)
        return None
    if not ID_NAME_RE.match(value):
        return ("%s is %r: a %s name is letters, digits and _.@- (at most 256, no blanks, ':' or '/'), or give "
                "its number" % (key, value, key))
    return None


def capability_problems(capabilities, key="capabilities"):
    """What is wrong with declared capabilities (a list of names such as CAP_KILL), each a sentence."""
    if capabilities is None:
        return []
    if not isinstance(capabilities, (list, tuple)):
        return ["%s is %r: give a list of capability names, e.g. [CAP_KILL]" % (key, capabilities)]
    problems = []
    for name in capabilities:
        if name in CAPABILITIES:
            continue
        text = str(name).upper()
        text = text if text.startswith("CAP_") else "CAP_" + text
        close = [text] if text in CAPABILITIES else difflib.get_close_matches(text, CAPABILITIES, n=1, cutoff=0.6)
        problems.append("%s: unknown capability %r%s; the names are those of capabilities(7), CAP_CHOWN to %s"
                        % (key, name, " (did you mean %r?)" % close[0] if close else "", CAPABILITIES[-1]))
    return problems


def capability_mask(capabilities):
    """The caps= mask of a list of capability names; raises RegistryError on an unknown name."""
    problems = capability_problems(capabilities)
    if problems:
        raise RegistryError("; ".join(problems))
    mask = 0
    for name in capabilities or ():
        mask |= 1 << CAPABILITIES.index(name)
    return mask


def capability_names(mask):
    """The names of a caps= mask, in kernel order."""
    return [name for number, name in enumerate(CAPABILITIES) if mask >> number & 1]


def sorted_capabilities(capabilities):
    """The names once each, in kernel order (how a declaration keeps them)."""
    return capability_names(capability_mask(capabilities))


def identity_problems(user, group, capabilities):
    """Every problem of a declared user, group and capabilities, each a sentence naming the key."""
    problems = [p for p in (id_problem("user", user) if user is not None else None,
                            id_problem("group", group) if group is not None else None) if p]
    if group is not None and user is None:
        problems.append("group needs user: give the user the handler runs as too (without user the handler runs "
                        "as the owner of the registered process, with that owner's group)")
    return problems + capability_problems(capabilities)


def resolve_user(user, group, system):
    """The (UID, GID) the handler runs as, from a declared user and group; None without a user.

    Names are looked up on the device (system.pwd and system.grp: the passwd and group
    database). Without a group, the user's primary group; a user given by number needs a
    passwd entry for that, or a group. Raises RegistryError saying what to fix.
    """
    problems = identity_problems(user, group, None)
    if problems:
        raise RegistryError("; ".join(problems))
    if user is None:
        return None
    user, group = normalize_id(user), normalize_id(group)
    try:
        entry = system.pwd.getpwuid(user) if isinstance(user, int) else system.pwd.getpwnam(user)
    except KeyError:
        entry = None
    if entry is None and (isinstance(user, str) or group is None):
        if isinstance(user, str):
            raise RegistryError("user %r does not exist on this device (no passwd entry): create it first, or "
                                "give another user" % user)
        raise RegistryError("user %d has no passwd entry, so it has no primary group: give group too" % user)
    uid = user if isinstance(user, int) else entry.pw_uid
    if group is None:
        return uid, entry.pw_gid
    if isinstance(group, int):
        return uid, group
    try:
        return uid, system.grp.getgrnam(group).gr_gid
    except KeyError:
        raise RegistryError("group %r does not exist on this device (no group entry): create it first, or give "
                            "another group" % group)
