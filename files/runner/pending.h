/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Events read but not started yet, started most urgent first: a grace
 * event is due at the end of its grace, a killed event its timeout after
 * it was read. Fixed size, no allocation.
 */
#ifndef OOMGS_PENDING_H
#define OOMGS_PENDING_H

#include <stdint.h>

#include "event.h"

/* As many as the module's event ring holds (GS_MAX_EVENTS). */
#define PENDING_MAX 64

struct pending_event {
	struct event ev;
	uint64_t due_ns;	/* CLOCK_BOOTTIME */
};

struct pending {
	struct pending_event items[PENDING_MAX];
	unsigned int n;
};

/* Add EV, read at READ_NS. Returns 0, or -1 if the queue is full. */
int pending_add(struct pending *q, const struct event *ev, uint64_t read_ns);

/* Take the event due first (the lower ID on a tie) into *OUT. Returns 0, or -1 if empty. */
int pending_take(struct pending *q, struct pending_event *out);

#endif
