/* SPDX-License-Identifier: GPL-2.0 */
/* Start a child process directly inside a cgroup (clone3 CLONE_INTO_CGROUP). */
#ifndef OOMGS_SPAWN_H
#define OOMGS_SPAWN_H

#include <sys/types.h>

/*
 * Like fork(), but the child starts in the cgroup whose directory CGROUP_FD
 * is open (-1: the caller's cgroup), and *PIDFD gets a pidfd of the child
 * (-1 if none). Returns the child's pid in the parent, 0 in the child, -1
 * with errno on failure. *IN_CGROUP says whether the child is in the cgroup
 * already: on a kernel or seccomp filter without clone3, or with USE_CLONE3
 * 0 (the benchmark's comparison), it is plain fork(), and the child moves
 * itself.
 */
pid_t spawn_into_cgroup(int cgroup_fd, int use_clone3, int *pidfd, int *in_cgroup);

#endif
