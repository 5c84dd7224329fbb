/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a handler runs with: the host's namespaces whatever the runner's own
 * sandbox, a private /tmp and /var/tmp, the user and group of its
 * registration, and only the capabilities the registration asks for.
 */
#ifndef OOMGS_HANDLER_SANDBOX_H
#define OOMGS_HANDLER_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

/*
 * In the runner, once at start: keep the mount, network and IPC namespaces
 * of PID 1 where they differ from the runner's (systemd's PrivateTmp=,
 * PrivateNetwork=, ... give the runner its own). Says what it keeps.
 */
void host_namespaces_open(void);

/*
 * In a handler's child, before execve: enter the host's namespaces, mount
 * a private /tmp and /var/tmp, take UID and GID (no supplementary groups)
 * and keep only CAPS (a mask of capability numbers, as ambient
 * capabilities), with no way to gain privileges by execve. Returns 0, or
 * -1 with @why set (the child must not run the handler then).
 */
int handler_sandbox_enter(uint32_t uid, uint32_t gid, uint64_t caps, char *why, size_t size);

#endif
