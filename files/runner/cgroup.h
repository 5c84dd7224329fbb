/* SPDX-License-Identifier: GPL-2.0 */
/* The handlers' cgroup (v2): reserved memory, a memory cap, one leaf per handler run. */
#ifndef OOMGS_CGROUP_H
#define OOMGS_CGROUP_H

#include <stddef.h>
#include <stdint.h>

/*
 * Set up BASE (the runner's delegated cgroup, or the one given): move the
 * runner into BASE/runner, create BASE/handlers with memory.min and
 * memory.max. Returns 0, or -1 with a reason in why (then handlers run
 * without a cgroup, bounded by their process group only).
 */
int cgroup_setup(const char *base, const char *memory_min, const char *memory_max,
		 char *why, size_t why_len);

/* The cgroup v2 directory the runner is in now (from /proc/self/cgroup). */
int cgroup_own(char *out, size_t len);

/* Create a new leaf BASE/handlers/KIND-ID (KIND-ID.N if that exists); its path goes to out. */
int cgroup_leaf_create(const char *kind, uint64_t id, char *out, size_t len);

/* Open the leaf's directory, for spawn_into_cgroup() (-1 on failure). */
int cgroup_leaf_open(const char *leaf);

/* Move the calling process into the leaf (call in the child before exec, if not spawned into it). */
int cgroup_leaf_enter(const char *leaf);

/* Kill every process of the leaf (cgroup.kill). */
int cgroup_leaf_kill(const char *leaf);

/* Remove the leaf once it is empty (waits up to about a second). */
int cgroup_leaf_remove(const char *leaf);

/* The cgroup directory of process PID under /sys/fs/cgroup (cgroup v2; "" if unknown). */
void cgroup_dir_of_pid(long pid, char *out, size_t len);

/*
 * Resolve a cgroup id (a kernfs inode number) to its path under /sys/fs/cgroup ("" if unknown);
 * NEAR: a cgroup directory that is that cgroup or below it ("" if none), tried first with its
 * ancestors.
 */
void cgroup_path_of_id(uint64_t id, const char *near, char *out, size_t len);

#endif
