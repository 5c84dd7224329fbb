/* SPDX-License-Identifier: GPL-2.0 */
/* One line of /proc/graceful_shutdown, the module's registration listing, parsed (docs/lkm.md). */
#ifndef OOMGS_LISTING_H
#define OOMGS_LISTING_H

#include <stdint.h>

#include "event.h"

/* then=: what early mode does to the process once its handler has ended or run out of time. */
enum early_then { THEN_KILL, THEN_TERM, THEN_CONTINUE };

struct registration {
	long pid;			/* 0 for a cgroup's registration (cgroup=CGROUP) */
	char handler[EVENT_PATH_MAX];
	uint64_t timeout_ms;
	unsigned int early_pct;		/* memory.high in percent of the limit; 0: not early */
	enum early_then then;
	int has_user;			/* user=UID:GID listed; else the process's owner */
	uint32_t uid;
	uint32_t gid;
	uint64_t caps;			/* caps=HEX, 0: none */
};

/*
 * Parse "PID PATH timeout_ms=N [signal=NAME] [reserve_kb=N] [early=PCT then=POLICY]
 * [user=UID:GID] [caps=HEX]", PID also "cgroup=CGROUP"
 * (trailing newline allowed). Returns 0, or -1 with *why set.
 */
int listing_parse(const char *line, struct registration *reg, const char **why);

const char *then_name(enum early_then then);

#endif
