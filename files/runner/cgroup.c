// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CGROUP_MOUNT "/sys/fs/cgroup"
#define FILEID_KERNFS 0xfe

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

void cgroup_path_of_id(uint64_t id, char *out, size_t len)
{
	union {
		struct file_handle fh;
		char bytes[sizeof(struct file_handle) + sizeof(uint64_t)];
	} handle;
	char link[64];
	ssize_t n;
	int mount_fd, fd;

	out[0] = '\0';
	if (!id)
		return;
	handle.fh.handle_bytes = sizeof(id);
	handle.fh.handle_type = FILEID_KERNFS;
	memcpy(handle.fh.f_handle, &id, sizeof(id));
	mount_fd = open(CGROUP_MOUNT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mount_fd < 0)
		return;
	fd = open_by_handle_at(mount_fd, &handle.fh, O_RDONLY | O_CLOEXEC);
	close(mount_fd);
	if (fd < 0)
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, out, len - 1);
	close(fd);
	out[n > 0 ? n : 0] = '\0';
}
