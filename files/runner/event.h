/* SPDX-License-Identifier: GPL-2.0 */
/* One line of /proc/graceful_shutdown_events, parsed (see docs/lkm.md). */
#ifndef OOMGS_EVENT_H
#define OOMGS_EVENT_H

#include <stddef.h>
#include <stdint.h>

#define EVENT_LINE_MAX 1024
#define EVENT_PATH_MAX 256
#define EVENT_COMM_MAX 64

/* PHASE_EARLY: not from the module, made by the runner's early mode (early.c). */
enum event_phase { PHASE_GRACE, PHASE_KILLED, PHASE_EARLY };

struct event {
	uint64_t id;
	enum event_phase phase;
	long pid;
	char comm[EVENT_COMM_MAX];	/* as sent: non-printable bytes escaped \xHH */
	uint64_t cgroup_id;
	uint64_t oom_cgroup_id;
	char reason[16];		/* memcg, global, sysrq */
	uint64_t ts_ms;			/* CLOCK_BOOTTIME when the victim was chosen */
	uint64_t deadline_ms;		/* grace left when read; 0 for killed */
	uint64_t timeout_ms;
	int has_user;			/* uid= and gid= given (a module older than the runner sends neither) */
	uint32_t uid;			/* the handler's user and group */
	uint32_t gid;
	uint64_t caps;			/* capabilities the handler keeps, a mask of capability numbers */
	char handler[EVENT_PATH_MAX];
};

/* A decimal number spanning exactly s[0..len) (digits only). Returns 0, or -1. */
int parse_u64(const char *s, size_t len, uint64_t *out);

/* A hexadecimal number (lowercase, no 0x) spanning exactly s[0..len). Returns 0, or -1. */
int parse_hex_u64(const char *s, size_t len, uint64_t *out);

/* "UID:GID", two decimal IDs below 4294967295, spanning exactly s[0..len). Returns 0, or -1. */
int parse_user(const char *s, size_t len, uint32_t *uid, uint32_t *gid);

/* Parse a NUL-terminated line (trailing newline allowed). Returns 0 or -1 with *why set. */
int event_parse(const char *line, struct event *ev, const char **why);

#endif
