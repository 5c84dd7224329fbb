// SPDX-License-Identifier: GPL-2.0
/* Early mode: arm memory.high below the limit, watch memory.events, apply then= (early.h). */
#define _GNU_SOURCE
#include "early.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "say.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
/*
 * memory.high as it was before arming, per cgroup (by inode number), kept until disarmed: a runner
 * that restarts after a crash finds its own value in memory.high and must still put back the one
 * from before.
 */
#define STATE_DIR "/run/oomgs-runner/early"
#define RECHECK_NS (5ull * 1000000000ull)
#define LISTING_MAX 65536

struct early earlies[EARLY_MAX];

static ssize_t read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* Write @text to @path: a cgroup file (@flags 0) or a state file (O_CREAT | O_TRUNC, mode 0600). */
static int write_small(const char *path, const char *text, int flags)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | flags, 0600);
	ssize_t n, len = (ssize_t)strlen(text);

	if (fd < 0)
		return -1;
	n = write(fd, text, len);
	close(fd);
	return n == len ? 0 : -1;
}

/* "max" (UINT64_MAX) or a number of bytes; -1 if neither. */
static int parse_limit(const char *s, uint64_t *out)
{
	char *end;

	if (!strncmp(s, "max", 3)) {
		*out = UINT64_MAX;
		return 0;
	}
	errno = 0;
	*out = strtoull(s, &end, 10);
	return (errno || end == s || (*end && *end != '\n')) ? -1 : 0;
}

/* The "high" count of a memory.events text. */
static uint64_t high_count_of(const char *text)
{
	const char *p = strstr(text, "\nhigh ");

	if (!strncmp(text, "high ", 5))
		p = text;
	else if (p)
		p++;
	return p ? strtoull(p + 5, NULL, 10) : 0;
}

static int read_high_count(struct early *e, uint64_t *count)
{
	char buf[512];
	ssize_t n = pread(e->events_fd, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		return -1;
	buf[n] = '\0';
	*count = high_count_of(buf);
	return 0;
}

/* The cgroup v2 directory of @pid under /sys/fs/cgroup; -1 with @why if it has none. */
static int cgroup_of(long pid, char *out, size_t len, const char **why)
{
	char path[64], buf[2048], *line;
	struct stat st;

	if (stat(CGROUP_ROOT "/cgroup.controllers", &st)) {
		*why = "early mode needs the unified cgroup v2 hierarchy";
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%ld/cgroup", pid);
	if (read_small(path, buf, sizeof(buf)) < 0) {
		*why = "cannot read its /proc/PID/cgroup (gone?)";
		return -1;
	}
	line = strstr(buf, "0::/");
	if (!line || (line != buf && line[-1] != '\n')) {
		*why = "it is in no cgroup v2 group";
		return -1;
	}
	line[strcspn(line, "\n")] = '\0';
	if (!strcmp(line, "0::/")) {
		*why = "it is in the root cgroup, which has no memory limit";
		return -1;
	}
	if ((size_t)snprintf(out, len, "%s%s", CGROUP_ROOT, line + 3) >= len) {
		*why = "its cgroup path is too long";
		return -1;
	}
	return 0;
}

/* The lowest memory.max from @dir up to (not including) the root; UINT64_MAX if none. */
static uint64_t limit_above(const char *dir)
{
	char path[600], buf[64], cur[512];
	uint64_t limit = UINT64_MAX, v;

	snprintf(cur, sizeof(cur), "%s", dir);
	while (strlen(cur) > strlen(CGROUP_ROOT)) {
		snprintf(path, sizeof(path), "%s/memory.max", cur);
		if (read_small(path, buf, sizeof(buf)) > 0 && !parse_limit(buf, &v) && v < limit)
			limit = v;
		*strrchr(cur, '/') = '\0';
	}
	return limit;
}

static void close_fds(struct early *e)
{
	if (e->events_fd >= 0)
		close(e->events_fd);
	if (e->pidfd >= 0)
		close(e->pidfd);
	e->events_fd = e->pidfd = -1;
}

/*
 * memory.high of its cgroup now, as a number (UINT64_MAX for "max") and, if @text, as written
 * there; -1 if the cgroup has none (the memory controller is not enabled for it).
 */
static int read_high(const struct early *e, uint64_t *value, char *text, size_t len)
{
	char path[600], buf[64];

	snprintf(path, sizeof(path), "%s/memory.high", e->cgroup);
	if (read_small(path, buf, sizeof(buf)) <= 0 || parse_limit(buf, value))
		return -1;
	if (text)
		snprintf(text, len, "%.*s", (int)strcspn(buf, "\n"), buf);
	return 0;
}

/* Write our memory.high, @now_high being what it is now (a lower one stays). */
static int apply_high(struct early *e, uint64_t now_high, const char **why)
{
	char path[600], text[32];

	if (now_high <= e->high) {
		/* ours (an earlier runner's, see remember_high_before) or a lower one, which stays */
		e->wrote_high = now_high == e->high;
		return 0;
	}
	snprintf(path, sizeof(path), "%s/memory.high", e->cgroup);
	snprintf(text, sizeof(text), "%llu", (unsigned long long)e->high);
	if (write_small(path, text, 0)) {
		*why = "cannot write its memory.high";
		return -1;
	}
	e->wrote_high = 1;
	return 0;
}

static void state_path(const struct early *e, char *out, size_t len)
{
	snprintf(out, len, STATE_DIR "/%llu", (unsigned long long)e->cgroup_id);
}

/* Keep high_before in the state file, or take it from there if an earlier runner armed this cgroup. */
static void remember_high_before(struct early *e)
{
	char path[128], buf[64];

	if (!e->cgroup_id)
		return;
	state_path(e, path, sizeof(path));
	if (read_small(path, buf, sizeof(buf)) > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		if (strcmp(buf, e->high_before))
			say(5, "early pid %ld: memory.high of %s was %s before an earlier runner armed it",
			    e->reg.pid, e->cgroup, buf);
		snprintf(e->high_before, sizeof(e->high_before), "%s", buf);
		return;
	}
	mkdir("/run/oomgs-runner", 0700);
	mkdir(STATE_DIR, 0700);
	if (write_small(path, e->high_before, O_CREAT | O_TRUNC))
		say(4, "early pid %ld: cannot keep %s: %s", e->reg.pid, path, strerror(errno));
}

static void forget_high_before(const struct early *e)
{
	char path[128];

	if (!e->cgroup_id)
		return;
	state_path(e, path, sizeof(path));
	unlink(path);
}

static int arm(struct early *e, const struct registration *reg, uint64_t now, const char **why)
{
	char path[600];
	uint64_t now_high;
	struct stat st;

	memset(e, 0, sizeof(*e));
	e->events_fd = e->pidfd = -1;
	e->reg = *reg;
	e->pidfd = (int)syscall(SYS_pidfd_open, (pid_t)reg->pid, 0);
	if (e->pidfd < 0) {
		*why = "the process is gone";
		return -1;
	}
	if (cgroup_of(reg->pid, e->cgroup, sizeof(e->cgroup), why))
		goto fail;
	e->limit = limit_above(e->cgroup);
	if (e->limit == UINT64_MAX) {
		*why = "no memory.max limits its cgroup or any above it (the cgroups role sets one)";
		goto fail;
	}
	e->high = e->limit / 100 * reg->early_pct;
	e->high -= e->high % 4096;
	if (read_high(e, &now_high, e->high_before, sizeof(e->high_before))) {
		*why = "its cgroup has no memory.high (memory controller not enabled for it)";
		goto fail;
	}
	if (stat(e->cgroup, &st) == 0)
		e->cgroup_id = st.st_ino;
	remember_high_before(e);
	snprintf(path, sizeof(path), "%s/memory.events", e->cgroup);
	e->events_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (e->events_fd < 0 || read_high_count(e, &e->high_count)) {
		*why = "cannot read its memory.events";
		goto fail;
	}
	if (apply_high(e, now_high, why))
		goto fail;
	e->checked_ns = now;
	e->active = 1;
	return 0;
fail:
	forget_high_before(e);
	close_fds(e);
	return -1;
}

void early_disarm(struct early *e, const char *why)
{
	char path[600];
	uint64_t now_high;

	if (!e->active)
		return;
	snprintf(path, sizeof(path), "%s/memory.high", e->cgroup);
	/* only our own value is put back: a later writer's stays */
	if (e->wrote_high && !read_high(e, &now_high, NULL, 0) && now_high == e->high &&
	    write_small(path, e->high_before, 0))
		say(4, "early pid %ld: cannot put memory.high of %s back to %s", e->reg.pid, e->cgroup,
		    e->high_before);
	say(6, "early pid %ld: disarmed (%s)%s", e->reg.pid, why,
	    e->wrote_high ? "; memory.high put back" : "");
	forget_high_before(e);
	close_fds(e);
	e->active = 0;
}

static int same_request(const struct registration *a, const struct registration *b)
{
	return a->pid == b->pid && a->timeout_ms == b->timeout_ms && a->early_pct == b->early_pct &&
	       a->then == b->then && !strcmp(a->handler, b->handler);
}

static struct early *find(long pid)
{
	for (int i = 0; i < EARLY_MAX; i++)
		if (earlies[i].active && earlies[i].reg.pid == pid)
			return &earlies[i];
	return NULL;
}

static void sync_one(const struct registration *reg, uint64_t now)
{
	struct early *e = find(reg->pid), *slot = NULL;
	const char *why = "";

	if (e && same_request(&e->reg, reg)) {
		e->seen = 1;
		return;
	}
	if (e) {
		if (e->running) {	/* changed while its handler runs: takes effect after */
			e->seen = 1;
			return;
		}
		early_disarm(e, "registration changed");
	}
	for (int i = 0; i < EARLY_MAX && !slot; i++)
		if (!earlies[i].active)
			slot = &earlies[i];
	if (!slot) {
		say(4, "early pid %ld: not armed: more than %d registrations in early mode", reg->pid,
		    EARLY_MAX);
		return;
	}
	if (arm(slot, reg, now, &why)) {
		say(4, "early pid %ld: not armed: %s; its handler %s runs after an OOM kill only",
		    reg->pid, why, reg->handler);
		return;
	}
	slot->seen = 1;
	say(6, "early pid %ld: armed: memory.high of %s %s %llu (%u%% of the limit %llu), handler %s, then=%s",
	    reg->pid, slot->cgroup, slot->wrote_high ? "set to" : "already at or below",
	    (unsigned long long)slot->high, reg->early_pct, (unsigned long long)slot->limit,
	    reg->handler, then_name(reg->then));
}

/* Early mode only where the kernel has no grace: the module's backend is not "hook". */
static int enabled_by(const char *status_path)
{
	char status[2048];

	return read_small(status_path, status, sizeof(status)) > 0 &&
	       !strstr(status, "backend=hook\n");
}

void early_sync(const char *listing_path, const char *status_path, uint64_t now)
{
	static char text[LISTING_MAX];
	int enabled = enabled_by(status_path);
	struct registration reg;
	const char *why;
	char *line, *next;

	for (int i = 0; i < EARLY_MAX; i++)
		earlies[i].seen = 0;
	if (enabled && read_small(listing_path, text, sizeof(text)) >= 0) {
		for (line = text; *line; line = next) {
			next = line + strcspn(line, "\n");
			if (*next)
				*next++ = '\0';
			if (listing_parse(line, &reg, &why))
				say(4, "registration listing: ignoring a line (%s): %s", why, line);
			else if (reg.early_pct && reg.pid)
				sync_one(&reg, now);
		}
	}
	for (int i = 0; i < EARLY_MAX; i++)
		if (earlies[i].active && !earlies[i].seen && !earlies[i].running)
			early_disarm(&earlies[i], enabled ? "unregistered" : "the kernel offers a grace");
}

int early_crossed(struct early *e, uint64_t now)
{
	uint64_t count;

	if (read_high_count(e, &count))
		return 0;
	if (count == e->high_count)
		return 0;
	e->high_count = count;
	return !e->running && !e->policy_applied && now >= e->quiet_until_ns;
}

/* The real uid and gid of a process, from /proc/PID/status. Returns 0, or -1. */
static int owner_of(long pid, uint32_t *uid, uint32_t *gid)
{
	char path[64], buf[2048];
	unsigned int u, g;
	const char *p, *q;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return -1;
	p = strstr(buf, "\nUid:\t");
	q = strstr(buf, "\nGid:\t");
	if (!p || !q || sscanf(p + 6, "%u", &u) != 1 || sscanf(q + 6, "%u", &g) != 1)
		return -1;
	*uid = u;
	*gid = g;
	return 0;
}

void early_event(const struct early *e, uint64_t id, uint64_t now, struct event *ev)
{
	char path[64];

	memset(ev, 0, sizeof(*ev));
	ev->id = id;
	ev->phase = PHASE_EARLY;
	ev->pid = e->reg.pid;
	snprintf(path, sizeof(path), "/proc/%ld/comm", e->reg.pid);
	if (read_small(path, ev->comm, sizeof(ev->comm)) <= 0)
		snprintf(ev->comm, sizeof(ev->comm), "?");
	ev->comm[strcspn(ev->comm, "\n")] = '\0';
	ev->cgroup_id = e->cgroup_id;
	ev->oom_cgroup_id = e->cgroup_id;
	snprintf(ev->reason, sizeof(ev->reason), "high");
	ev->ts_ms = now / 1000000ull;
	ev->deadline_ms = e->reg.timeout_ms;
	ev->timeout_ms = e->reg.timeout_ms;
	snprintf(ev->handler, sizeof(ev->handler), "%s", e->reg.handler);
	ev->caps = e->reg.caps;
	ev->has_user = 1;
	if (e->reg.has_user) {
		ev->uid = e->reg.uid;
		ev->gid = e->reg.gid;
	} else if (owner_of(e->reg.pid, &ev->uid, &ev->gid)) {
		/* gone or unreadable: the handler runs as nobody rather than as root */
		ev->uid = 65534;
		ev->gid = 65534;
	}
}

void early_handler_ended(long pid, uint64_t now)
{
	struct early *e = find(pid);
	int sig = 0;

	if (!e)
		return;
	e->running = 0;
	if (e->reg.then == THEN_KILL)
		sig = SIGKILL;
	else if (e->reg.then == THEN_TERM)
		sig = SIGTERM;
	if (!sig) {
		/* one run per crossing: the next one no sooner than a timeout after this one */
		e->quiet_until_ns = now + e->reg.timeout_ms * 1000000ull;
		say(6, "early pid %ld: then=continue: the process keeps running, throttled above %llu bytes",
		    pid, (unsigned long long)e->high);
		return;
	}
	if (syscall(SYS_pidfd_send_signal, e->pidfd, sig, NULL, 0)) {
		say(4, "early pid %ld: then=%s: %s", pid, then_name(e->reg.then), strerror(errno));
		return;
	}
	e->policy_applied = 1;
	say(5, "early pid %ld: then=%s: %s sent", pid, then_name(e->reg.then),
	    sig == SIGKILL ? "SIGKILL" : "SIGTERM");
}

void early_run_dropped(long pid)
{
	struct early *e = find(pid);

	if (e)
		e->running = 0;
}

void early_recheck(struct early *e, uint64_t now)
{
	const char *why = "";
	uint64_t now_high;

	if (!e->wrote_high || now < e->checked_ns + RECHECK_NS)
		return;
	e->checked_ns = now;
	if (read_high(e, &now_high, NULL, 0) || now_high <= e->high)
		return;
	if (apply_high(e, now_high, &why))
		say(4, "early pid %ld: memory.high was reset and cannot be set again: %s", e->reg.pid,
		    why);
	else
		say(5, "early pid %ld: memory.high was reset (a daemon-reload?): set to %llu again",
		    e->reg.pid, (unsigned long long)e->high);
}
