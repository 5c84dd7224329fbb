/* SPDX-License-Identifier: GPL-2.0 */
/* One line of /proc/graceful_shutdown, the module's registration listing, parsed (docs/lkm.md). */
#ifndef OOMGS_LISTING_H
#define OOMGS_LISTING_H

#include <stdint.h>

#include "event.h"

/* then=: what early mode does to the process once its handler has ended or run out of time. */
enum early_then { THEN_KILL, THEN_TERM, THEN_CONTINUE };

struct registration {
	long pid;
	char handler[EVENT_PATH_MAX];
	uint64_t timeout_ms;
	unsigned int early_pct;		/* memory.high in percent of the limit; 0: not early */
	enum early_then then;
};

/*
 * Parse "PID PATH timeout_ms=N [signal=NAME] [reserve_kb=N] [early=PCT then=POLICY]"
 * (trailing newline allowed). Returns 0, or -1 with *why set.
 */
int listing_parse(const char *line, struct registration *reg, const char **why);

const char *then_name(enum early_then then);

#endif
