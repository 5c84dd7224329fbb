// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include "path_check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_LIMIT 256

static int unsafe_owner_or_mode(const struct stat *st, const char *what, const char *path,
				char *why, size_t why_len)
{
	if (st->st_uid != 0) {
		snprintf(why, why_len, "%s %s is owned by uid %u, not root", what, path,
			 (unsigned int)st->st_uid);
		return 1;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, why_len, "%s %s is writable by group or others (mode %04o)", what, path,
			 (unsigned int)(st->st_mode & 07777));
		return 1;
	}
	return 0;
}

int handler_path_safe(const char *path, char *why, size_t why_len)
{
	char copy[PATH_LIMIT], sofar[PATH_LIMIT] = "";
	char *component, *next, *save = NULL;
	struct stat st;
	int dirfd, fd, ret = -1;

	why[0] = '\0';
	if (path[0] != '/') {
		snprintf(why, why_len, "handler path %s is not absolute", path);
		return -1;
	}
	if (strlen(path) >= sizeof(copy)) {
		snprintf(why, why_len, "handler path is longer than %d characters", PATH_LIMIT - 1);
		return -1;
	}
	strcpy(copy, path);
	dirfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || fstat(dirfd, &st) < 0) {
		snprintf(why, why_len, "cannot open /: %s", strerror(errno));
		goto out;
	}
	if (unsafe_owner_or_mode(&st, "directory", "/", why, why_len))
		goto out;

	component = strtok_r(copy, "/", &save);
	while (component) {
		next = strtok_r(NULL, "/", &save);
		if (!strcmp(component, "..")) {
			snprintf(why, why_len, "handler path %s has a '..' component", path);
			goto out;
		}
		if (!strcmp(component, ".")) {
			component = next;
			continue;
		}
		strncat(sofar, "/", sizeof(sofar) - strlen(sofar) - 1);
		strncat(sofar, component, sizeof(sofar) - strlen(sofar) - 1);
		fd = openat(dirfd, component, O_PATH | O_NOFOLLOW | O_CLOEXEC | (next ? O_DIRECTORY : 0));
		if (fd < 0) {
			if (errno == ELOOP || errno == ENOTDIR)
				snprintf(why, why_len, "%s is a symlink or not a directory", sofar);
			else
				snprintf(why, why_len, "cannot open %s: %s", sofar, strerror(errno));
			goto out;
		}
		if (fstat(fd, &st) < 0) {
			snprintf(why, why_len, "cannot stat %s: %s", sofar, strerror(errno));
			close(fd);
			goto out;
		}
		close(dirfd);
		dirfd = fd;
		if (S_ISLNK(st.st_mode)) {
			snprintf(why, why_len, "%s is a symlink", sofar);
			goto out;
		}
		if (next) {
			if (unsafe_owner_or_mode(&st, "directory", sofar, why, why_len))
				goto out;
		} else {
			if (!S_ISREG(st.st_mode)) {
				snprintf(why, why_len, "handler %s is not a regular file", sofar);
				goto out;
			}
			if (unsafe_owner_or_mode(&st, "handler", sofar, why, why_len))
				goto out;
			if (!(st.st_mode & S_IXUSR)) {
				snprintf(why, why_len, "handler %s is not executable", sofar);
				goto out;
			}
			ret = 0;
		}
		component = next;
	}
	if (ret && !why[0])
		snprintf(why, why_len, "handler path %s names no file", path);
out:
	if (dirfd >= 0)
		close(dirfd);
	return ret;
}
