// SPDX-License-Identifier: GPL-2.0
/*
 * Why clone3: a child that moves itself into its leaf (a write to
 * cgroup.procs) takes cgroup_threadgroup_rwsem for writing, which waits for
 * an RCU grace period, on the path of every handler start. A child created
 * in the leaf (CLONE_INTO_CGROUP, Linux 5.7) only takes it for reading, like
 * any fork.
 */
#define _GNU_SOURCE
#include "spawn.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SPAWN_CLONE_PIDFD	0x00001000ULL
#define SPAWN_CLONE_INTO_CGROUP	0x200000000ULL

/* struct clone_args of <linux/sched.h> (CLONE_ARGS_SIZE_VER2), named here to keep clear of glibc's sched.h */
struct spawn_clone_args {
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
	uint64_t stack_size;
	uint64_t tls;
	uint64_t set_tid;
	uint64_t set_tid_size;
	uint64_t cgroup;
};

pid_t spawn_into_cgroup(int cgroup_fd, int use_clone3, int *pidfd, int *in_cgroup)
{
	struct spawn_clone_args args = {
		.flags = SPAWN_CLONE_PIDFD | (cgroup_fd >= 0 ? SPAWN_CLONE_INTO_CGROUP : 0),
		.pidfd = (uint64_t)(uintptr_t)pidfd,
		.exit_signal = SIGCHLD,
		.cgroup = cgroup_fd >= 0 ? (uint64_t)cgroup_fd : 0,
	};
	pid_t pid;

	*pidfd = -1;
	*in_cgroup = cgroup_fd >= 0;
	if (use_clone3) {
		pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
		if (pid >= 0 || (errno != ENOSYS && errno != EPERM && errno != E2BIG))
			return pid;
	}
	*in_cgroup = 0;
	pid = fork();
	if (pid > 0)
		*pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	return pid;
}
