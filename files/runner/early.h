/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Early mode (docs/early-mode.md): for a registration with early=PCT on a
 * kernel without a grace period, set memory.high of the process's cgroup
 * (v2) to PCT percent of its memory limit, wake on memory.events when the
 * kernel throttles it there, run the handler while the process lives, then
 * apply the registration's policy (then=kill, term or continue).
 */
#ifndef OOMGS_EARLY_H
#define OOMGS_EARLY_H

#include <stdint.h>

#include "event.h"
#include "listing.h"

#define EARLY_MAX 32

struct early {
	int active;
	struct registration reg;
	int pidfd;			/* the registered process: readable when it has exited */
	int events_fd;			/* its cgroup's memory.events: POLLPRI on a change */
	char cgroup[512];		/* its cgroup directory */
	uint64_t cgroup_id;
	uint64_t limit;			/* the lowest memory.max from its cgroup up */
	uint64_t high;			/* memory.high as armed */
	char high_before[64];		/* memory.high before arming, put back when disarmed */
	int wrote_high;			/* 0: an existing memory.high was lower, kept */
	uint64_t high_count;		/* memory.events "high" when last read */
	uint64_t quiet_until_ns;	/* then=continue: no new run before (CLOCK_BOOTTIME) */
	uint64_t checked_ns;		/* memory.high last checked */
	int running;			/* its handler runs */
	int policy_applied;		/* kill or term sent: waiting for the exit */
	int seen;			/* listed in the last sync */
};

extern struct early earlies[EARLY_MAX];

/*
 * Read the registration listing again: arm the early registrations that are
 * new (or changed), disarm those that are gone. Where the module's status says
 * backend=hook (the kernel has a grace), or cannot be read, nothing is armed
 * and everything is disarmed.
 */
void early_sync(const char *listing_path, const char *status_path, uint64_t now);

/* Its memory.events changed: 1 if the high boundary was crossed and a handler should run now. */
int early_crossed(struct early *e, uint64_t now);

/* The event its handler runs for (phase early, id a runner-local count). */
void early_event(const struct early *e, uint64_t id, uint64_t now, struct event *ev);

/* Its handler ended (or ran out of time): apply then=. */
void early_handler_ended(long pid, uint64_t now);

/* Its queued handler run was dropped (the runner stops): no then=, watch again. */
void early_run_dropped(long pid);

/* Put memory.high back if someone (systemd at a daemon-reload) reset it; at most every 5 s. */
void early_recheck(struct early *e, uint64_t now);

/* Stop watching: put memory.high back, close the files. */
void early_disarm(struct early *e, const char *why);

#endif
