# -*- coding: utf-8 -*-
# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
# SPDX-License-Identifier: GPL-2.0-only
"""Handler paths: what /proc/graceful_shutdown can carry, and the runner's safety rules
(files/runner/path_check.c), each problem a sentence saying what to fix."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno as errno_mod
import os
import re
import stat

PATH_MAX_LEN = 255


def handler_syntax_problems(path):
    """Problems of the handler path as text (what the kernel's parser rejects, and '..')."""
    problems = []
    if not isinstance(path, str) or not path:
        return ["the handler path is empty: give the absolute path of an executable file"]
    if not path.startswith("/"):
        problems.append("handler path %s is not absolute: give the full path, starting with /" % path)
    if len(path.encode("utf-8", "surrogateescape")) > PATH_MAX_LEN:
        problems.append("handler path %s is longer than %d characters: install the handler at a shorter path"
                        % (path, PATH_MAX_LEN))
    if re.search(r"[\s\x00-\x1f\x7f]", path):
        problems.append("handler path %r contains blanks or control characters, which /proc/graceful_shutdown "
                        "cannot carry: rename it" % path)
    if ".." in path.split("/"):
        problems.append("handler path %s has a '..' component: give the path without '..'" % path)
    return problems


def _owner_mode_problems(st, what, path):
    problems = []
    other = " (or install the handler in a directory that only root owns and can write)" if what == "directory" else ""
    if st.st_uid != 0:
        problems.append("%s %s is owned by uid %d, not root: chown root %s%s"
                        % (what, path, st.st_uid, path, other))
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problems.append("%s %s is writable by group or others (mode %04o): chmod go-w %s%s"
                        % (what, path, stat.S_IMODE(st.st_mode), path, other))
    return problems


def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symlink"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_handler(path, root="", lstat=None):
    """Return the problems of a handler path, each a sentence saying what to fix; [] means safe.

    The rules of the runner (files/runner/path_check.c), which re-checks before every run: the
    path is absolute with no '..'; no component is a symlink (each one is lstat()ed); '/' and
    every directory on the way and the file are owned by root and not writable by group or
    others; the file is a regular file, executable by its owner. The kernel also needs at most
    255 characters and no blanks. root is prepended to every looked-up path (tests); lstat
    defaults to os.lstat.
    """
    lstat = lstat or os.lstat
    root = root.rstrip("/")
    problems = handler_syntax_problems(path)
    if problems and (not isinstance(path, str) or not path.startswith("/") or ".." in path.split("/")):
        return problems

    try:
        st = lstat(root + "/")
    except OSError as exc:
        return problems + ["cannot check /: %s" % exc.strerror]
    problems.extend(_owner_mode_problems(st, "directory", "/"))

    components = [c for c in path.split("/") if c not in ("", ".")]
    if not components:
        return problems + ["handler path %s names no file: give the path of an executable file" % path]
    sofar = ""
    for index, component in enumerate(components):
        sofar += "/" + component
        last = index == len(components) - 1
        try:
            st = lstat(root + sofar)
        except OSError as exc:
            if exc.errno == errno_mod.ENOENT:
                problems.append("%s does not exist: install the handler first" % sofar
                                if last else "directory %s does not exist: install the handler first" % sofar)
            elif exc.errno == errno_mod.ENOTDIR:
                problems.append("%s is not a directory: fix the handler path" % os.path.dirname(sofar))
            else:
                problems.append("cannot check %s: %s" % (sofar, exc.strerror))
            return problems
        if stat.S_ISLNK(st.st_mode):
            real = os.path.realpath(root + path)
            real = real[len(root):] if root and real.startswith(root + "/") else real
            problems.append("%s is a symlink: symlinks are not allowed anywhere on a handler path; use the real "
                            "path (%s)" % (sofar, real))
            return problems
        if not last:
            if not stat.S_ISDIR(st.st_mode):
                problems.append("%s is not a directory: fix the handler path" % sofar)
                return problems
            problems.extend(_owner_mode_problems(st, "directory", sofar))
            continue
        if not stat.S_ISREG(st.st_mode):
            problems.append("handler %s is %s, not a regular file: give the path of an executable file"
                            % (sofar, _kind(st.st_mode)))
            return problems
        problems.extend(_owner_mode_problems(st, "handler", sofar))
        if not st.st_mode & stat.S_IXUSR:
            problems.append("handler %s is not executable: chmod u+x %s" % (sofar, sofar))
    return problems
