// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CGROUP_MOUNT "/sys/fs/cgroup"

static char handlers_dir[512];

static int write_file(const char *dir, const char *name, const char *value)
{
	char path[640];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

int cgroup_own(char *out, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int ret = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, len, "%s%s", CGROUP_MOUNT, strcmp(line + 3, "/") ? line + 3 : "");
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

int cgroup_setup(const char *base, const char *memory_min, const char *memory_max,
		 char *why, size_t why_len)
{
	char runner_dir[512];

	snprintf(runner_dir, sizeof(runner_dir), "%s/runner", base);
	snprintf(handlers_dir, sizeof(handlers_dir), "%s/handlers", base);
	if ((mkdir(runner_dir, 0755) && errno != EEXIST) ||
	    (mkdir(handlers_dir, 0755) && errno != EEXIST)) {
		snprintf(why, why_len, "cannot create cgroups under %s: %s", base, strerror(errno));
		goto fail;
	}
	if (write_file(runner_dir, "cgroup.procs", "0")) {
		snprintf(why, why_len, "cannot move the runner into %s: %s", runner_dir, strerror(errno));
		goto fail;
	}
	if (write_file(base, "cgroup.subtree_control", "+memory")) {
		snprintf(why, why_len, "cannot enable the memory controller in %s: %s", base,
			 strerror(errno));
		goto fail;
	}
	if (write_file(handlers_dir, "memory.min", memory_min) ||
	    write_file(handlers_dir, "memory.max", memory_max)) {
		snprintf(why, why_len, "cannot set memory.min/memory.max of %s: %s", handlers_dir,
			 strerror(errno));
		goto fail;
	}
	/* absent without swap accounting; handlers must not swap where it exists */
	write_file(handlers_dir, "memory.swap.max", "0");
	return 0;
fail:
	handlers_dir[0] = '\0';
	return -1;
}

int cgroup_leaf_create(const char *kind, uint64_t id, char *out, size_t len)
{
	if (!handlers_dir[0])
		return -1;
	/* A leaf that exists belongs to someone else (a handler left from before): never share it. */
	snprintf(out, len, "%s/%s-%llu", handlers_dir, kind, (unsigned long long)id);
	for (int n = 2; mkdir(out, 0755); n++) {
		if (errno != EEXIST || n > 9)
			return -1;
		snprintf(out, len, "%s/%s-%llu.%d", handlers_dir, kind, (unsigned long long)id, n);
	}
	return 0;
}

int cgroup_leaf_open(const char *leaf)
{
	return open(leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int cgroup_leaf_enter(const char *leaf)
{
	return write_file(leaf, "cgroup.procs", "0");
}

int cgroup_leaf_kill(const char *leaf)
{
	return write_file(leaf, "cgroup.kill", "1");
}

int cgroup_leaf_remove(const char *leaf)
{
	struct timespec pause = { 0, 10 * 1000 * 1000 };
	int i;

	for (i = 0; i < 100; i++) {
		if (!rmdir(leaf) || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -1;
		nanosleep(&pause, NULL);
	}
	return -1;
}

/* @dir (NUL-terminated in a buffer of @len) or one of its ancestors is cgroup @id: cut it there. */
static int cut_to_ancestor(char *dir, uint64_t id)
{
	struct stat st;
	char *slash;

	for (;;) {
		if (!stat(dir, &st) && (uint64_t)st.st_ino == id)
			return 0;
		slash = strrchr(dir, '/');
		if (!slash || slash - dir < (ptrdiff_t)strlen(CGROUP_MOUNT))
			return -1;
		*slash = '\0';
	}
}

/* Depth-first search under @dir (a buffer of @len) for the directory of cgroup @id. */
static int find_below(char *dir, size_t len, uint64_t id, int depth)
{
	size_t end = strlen(dir);
	struct dirent *d;
	DIR *dh;
	int found = -1;

	if (depth > 16 || !(dh = opendir(dir)))
		return -1;
	while (found && (d = readdir(dh))) {
		struct stat st;

		if (d->d_type != DT_DIR || d->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(dir + end, len - end, "/%s", d->d_name) >= len - end)
			continue;
		if (!stat(dir, &st) && (uint64_t)st.st_ino == id)
			found = 0;
		else
			found = find_below(dir, len, id, depth + 1);
		if (found)
			dir[end] = '\0';
	}
	closedir(dh);
	return found;
}

void cgroup_dir_of_pid(long pid, char *out, size_t len)
{
	char path[64], line[512];
	FILE *f;
	int hit;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%ld/cgroup", pid);
	f = pid > 0 ? fopen(path, "re") : NULL;
	if (!f)
		return;
	hit = fgets(line, sizeof(line), f) && !strncmp(line, "0::/", 4);
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	if (!hit || (size_t)snprintf(out, len, "%s%s", CGROUP_MOUNT, line + 3) >= len)
		out[0] = '\0';
}

/*
 * A cgroup's directory from its ID, which is its inode number in cgroupfs
 * (64-bit). open_by_handle_at() would need CAP_DAC_READ_SEARCH, which the
 * sandboxed runner does not have: @near and its ancestors are tried first,
 * then the whole tree.
 */
void cgroup_path_of_id(uint64_t id, const char *near, char *out, size_t len)
{
	out[0] = '\0';
	if (!id || len < sizeof(CGROUP_MOUNT) + 1)
		return;
	if (near[0] && (size_t)snprintf(out, len, "%s", near) < len && !cut_to_ancestor(out, id))
		return;
	snprintf(out, len, "%s", CGROUP_MOUNT);
	if (find_below(out, len, id, 0))
		out[0] = '\0';
}
