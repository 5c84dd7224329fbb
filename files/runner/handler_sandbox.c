// SPDX-License-Identifier: GPL-2.0
/*
 * The handler's sandbox, made by its child between clone and execve: the
 * runner needs CAP_SYS_ADMIN (the module's event file), CAP_SYS_CHROOT
 * (setns into a mount namespace), CAP_SETUID, CAP_SETGID and CAP_SETPCAP
 * for this, and nothing of it reaches the handler unless it is asked for.
 */
#define _GNU_SOURCE
#include "handler_sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "say.h"

static const struct {
	const char *name;
	int type;
} host_ns[] = {
	{ "mnt", CLONE_NEWNS },
	{ "net", CLONE_NEWNET },
	{ "ipc", CLONE_NEWIPC },
};

static int host_ns_fd[sizeof(host_ns) / sizeof(host_ns[0])] = { -1, -1, -1 };

void host_namespaces_open(void)
{
	char own[64], init[64];
	struct stat a, b;
	char kept[64] = "";

	for (unsigned int i = 0; i < sizeof(host_ns) / sizeof(host_ns[0]); i++) {
		snprintf(own, sizeof(own), "/proc/self/ns/%s", host_ns[i].name);
		snprintf(init, sizeof(init), "/proc/1/ns/%s", host_ns[i].name);
		if (stat(own, &a) || stat(init, &b)) {
			say(4, "cannot compare the %s namespace with PID 1's: %s", host_ns[i].name,
			    strerror(errno));
			continue;
		}
		if (a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			continue;
		host_ns_fd[i] = open(init, O_RDONLY | O_CLOEXEC);
		if (host_ns_fd[i] < 0) {
			say(4, "cannot open %s: %s; handlers stay in the runner's", init, strerror(errno));
			continue;
		}
		strcat(kept, kept[0] ? ", " : "");
		strcat(kept, host_ns[i].name);
	}
	if (kept[0])
		say(6, "handlers run in the host's namespaces (%s), not in the runner's sandbox", kept);
}

static int private_tmp(const char *dir, char *why, size_t size)
{
	if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")) {
		snprintf(why, size, "mounting a private %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int drop_privileges(uint32_t uid, uint32_t gid, uint64_t caps, char *why, size_t size)
{
	struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	gid_t group = gid;

	/* root gets no capabilities from execve; setresuid keeps them: capset decides */
	if (prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP |
		  SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED)) {
		snprintf(why, size, "securebits: %s", strerror(errno));
		return -1;
	}
	for (int cap = 0; cap < 64; cap++)
		if (!(caps & (1ull << cap)) && prctl(PR_CAPBSET_DROP, cap) && errno != EINVAL) {
			snprintf(why, size, "dropping capability %d from the bounding set: %s", cap,
				 strerror(errno));
			return -1;
		}
	if (setgroups(1, &group) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) {
		snprintf(why, size, "taking uid %u gid %u: %s", uid, gid, strerror(errno));
		return -1;
	}
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = data[0].inheritable = (uint32_t)caps;
	data[1].effective = data[1].permitted = data[1].inheritable = (uint32_t)(caps >> 32);
	if (syscall(SYS_capset, &head, data)) {
		snprintf(why, size, "capabilities %llx: %s", (unsigned long long)caps, strerror(errno));
		return -1;
	}
	for (int cap = 0; cap < 64; cap++)
		if ((caps & (1ull << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0)) {
			snprintf(why, size, "ambient capability %d: %s (not in the runner's bounding set?)",
				 cap, strerror(errno));
			return -1;
		}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		snprintf(why, size, "no_new_privs: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int handler_sandbox_enter(uint32_t uid, uint32_t gid, uint64_t caps, char *why, size_t size)
{
	for (unsigned int i = 0; i < sizeof(host_ns) / sizeof(host_ns[0]); i++)
		if (host_ns_fd[i] >= 0 && setns(host_ns_fd[i], host_ns[i].type)) {
			snprintf(why, size, "entering the host's %s namespace: %s", host_ns[i].name,
				 strerror(errno));
			return -1;
		}
	/* a mount namespace of its own: host mounts reach it, its /tmp reaches nobody */
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL)) {
		snprintf(why, size, "a mount namespace for the private /tmp: %s", strerror(errno));
		return -1;
	}
	if (private_tmp("/tmp", why, size) || private_tmp("/var/tmp", why, size))
		return -1;
	if (chdir("/")) {
		snprintf(why, size, "chdir /: %s", strerror(errno));
		return -1;
	}
	return drop_privileges(uid, gid, caps, why, size);
}
