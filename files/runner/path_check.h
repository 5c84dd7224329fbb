/* SPDX-License-Identifier: GPL-2.0 */
/* Is a handler path safe to execute as root? */
#ifndef OOMGS_PATH_CHECK_H
#define OOMGS_PATH_CHECK_H

#include <stddef.h>

/*
 * Walk PATH one component at a time with O_NOFOLLOW, so no symlink is
 * followed anywhere, and require: an absolute path without ".." components;
 * every directory on the way owned by root and not writable by group or
 * others; the file itself regular, owned by root, not writable by group or
 * others and executable by its owner. Because only root can then change
 * anything on the way, executing PATH right after the check runs the file
 * that was checked.
 *
 * Returns 0 when safe, -1 otherwise with a reason in why.
 */
int handler_path_safe(const char *path, char *why, size_t why_len);

#endif
