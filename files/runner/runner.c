// SPDX-License-Identifier: GPL-2.0
/*
 * oomgs-runner: runs the graceful-shutdown handlers of OOM victims.
 *
 * Waits on /proc/graceful_shutdown_events (module graceful_shutdown), checks
 * each event's handler (path_check.c), runs it with no shell in its own leaf
 * of the handlers' cgroup (cgroup.c) with the victim's context in its
 * environment, bounds it by its timeout (and, for a victim in grace, by the
 * grace left), logs to stderr (the journal), and writes "done ID" when the
 * handler has ended so the kernel kills the victim at once.
 *
 * Early mode (early.c): where the kernel has no grace period, registrations
 * with early=PCT get memory.high below their cgroup's limit, and their handler
 * runs when the kernel throttles them there, before any OOM kill. The module
 * says "registrations" on the event channel when they change.
 *
 * The runner locks its memory and sets its OOM score to -1000; handlers get
 * score 0 and are bounded by the handlers' memory.max instead. Everything the
 * event loop uses is allocated up front.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "early.h"
#include "event.h"
#include "handler_sandbox.h"
#include "path_check.h"
#include "pending.h"
#include "say.h"
#include "spawn.h"

#define MAX_HANDLERS 16
#define GRACE_SYSCTL "/proc/sys/vm/oom_victim_grace_max_ms"

struct run {
	int active;
	struct event ev;
	pid_t pid;
	int pidfd;
	uint64_t started_ns;	/* CLOCK_BOOTTIME */
	uint64_t deadline_ns;
	int timed_out;		/* killed: by its budget, a stop, or a closed channel */
	unsigned int channel;	/* events_channel when it started */
	char leaf[600];
};

static struct run runs[MAX_HANDLERS];
/*
 * Counts the closes of the event channel. A handler started on an earlier
 * channel answers an event of a module that is gone (or reloaded, with new
 * event IDs): it is killed, and its "done" is never written to a newer one.
 */
static unsigned int events_channel;
/* Events read, waiting for a free slot: started most urgent first. */
static struct pending pending;
/* Counts the runs of early mode's handlers (their events have no module ID). */
static uint64_t early_runs;
/* SIGTERM or SIGINT came: handlers are ended, early mode applies no then=. */
static int stopping;
static struct {
	const char *events_path;
	const char *listing_path;
	const char *status_path;
	const char *cgroup_base;
	const char *memory_min;
	const char *memory_max;
	int use_cgroup;
	int use_clone3;
} opt = {
	.events_path = "/proc/graceful_shutdown_events",
	.listing_path = "/proc/graceful_shutdown",
	.status_path = "/proc/graceful_shutdown_status",
	.memory_min = "16M",
	.memory_max = "128M",
	.use_clone3 = 1,
};

void say(int prio, const char *fmt, ...)
{
	char line[1400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* "<N>" is read by the journal as the priority of the line */
	fprintf(stderr, "<%d>%s\n", prio, line);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t grace_cap_ms(void)
{
	char buf[32] = "";
	int fd = open(GRACE_SYSCTL, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtoull(buf, NULL, 10) : 0;
}

static void protect_self(void)
{
	int fd;

	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		say(4, "mlockall failed: %s (running unlocked)", strerror(errno));
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "-1000", 5) != 5)
		say(4, "cannot set oom_score_adj -1000: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
}

static int open_events(void)
{
	static int said;
	int fd = open(opt.events_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 && !said) {
		say(4, "cannot open %s: %s; retrying every second (is the graceful_shutdown module loaded?)",
		    opt.events_path, strerror(errno));
		said = 1;
	} else if (fd >= 0) {
		say(6, "listening on %s", opt.events_path);
		said = 0;
	}
	return fd;
}

static const char *phase_name(enum event_phase phase)
{
	return phase == PHASE_GRACE ? "grace" : phase == PHASE_KILLED ? "killed" : "early";
}

static void send_done(int events_fd, const struct event *ev)
{
	char cmd[48];
	int len = snprintf(cmd, sizeof(cmd), "done %llu\n", (unsigned long long)ev->id);

	if (ev->phase == PHASE_EARLY) {	/* no grace to end: apply then= instead */
		if (stopping)
			early_run_dropped(ev->pid);
		else
			early_handler_ended(ev->pid, now_ns());
		return;
	}
	if (events_fd >= 0 && write(events_fd, cmd, len) != len && errno != ENOENT)
		say(4, "event %llu: writing done failed: %s", (unsigned long long)ev->id,
		    strerror(errno));
}

static void child_exec(const struct run *r, uint64_t budget_ms, int in_cgroup)
{
	char env[12][400];
	char *envp[13], *argv[2];
	char victim_dir[300], cgroup[300], oom_cgroup[300], why[300];
	sigset_t none;
	int fd, i = 0;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setsid();
	if (r->leaf[0] && !in_cgroup && cgroup_leaf_enter(r->leaf))
		_exit(126);
	/* handlers are ordinary OOM citizens, bounded by the handlers' memory.max */
	fd = open("/proc/self/oom_score_adj", O_WRONLY);
	if (fd < 0 || write(fd, "0", 1) != 1)
		_exit(126);
	close(fd);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	/* a module older than the runner names no user: root, without capabilities */
	if (handler_sandbox_enter(r->ev.uid, r->ev.gid, r->ev.caps, why, sizeof(why))) {
		say(3, "event %s%llu: handler %s not run: %s", r->ev.phase == PHASE_EARLY ? "early-" : "",
		    (unsigned long long)r->ev.id, r->ev.handler, why);
		_exit(126);
	}
	/* the victim's cgroup, and the OOM's (the same or an ancestor), from one read of /proc */
	cgroup_dir_of_pid(r->ev.pid, victim_dir, sizeof(victim_dir));
	cgroup_path_of_id(r->ev.cgroup_id, victim_dir, cgroup, sizeof(cgroup));
	cgroup_path_of_id(r->ev.oom_cgroup_id, victim_dir, oom_cgroup, sizeof(oom_cgroup));
	snprintf(env[i++], sizeof(env[0]), "OOMGS_EVENT_ID=%s%llu",
		 r->ev.phase == PHASE_EARLY ? "early-" : "", (unsigned long long)r->ev.id);
	snprintf(env[i++], sizeof(env[0]), "OOMGS_PHASE=%s", phase_name(r->ev.phase));
	snprintf(env[i++], sizeof(env[0]), "OOMGS_VICTIM_PID=%ld", r->ev.pid);
	snprintf(env[i++], sizeof(env[0]), "OOMGS_VICTIM_COMM=%s", r->ev.comm);
	snprintf(env[i++], sizeof(env[0]), "OOMGS_VICTIM_CGROUP=%s", cgroup);
	snprintf(env[i++], sizeof(env[0]), "OOMGS_OOM_CGROUP=%s", oom_cgroup);
	snprintf(env[i++], sizeof(env[0]), "OOMGS_REASON=%s", r->ev.reason);
	snprintf(env[i++], sizeof(env[0]), "OOMGS_DEADLINE_MS=%llu", (unsigned long long)budget_ms);
	snprintf(env[i++], sizeof(env[0]), "OOMGS_CHOSEN_BOOTTIME_MS=%llu",
		 (unsigned long long)r->ev.ts_ms);
	snprintf(env[i++], sizeof(env[0]), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	snprintf(env[i++], sizeof(env[0]), "LANG=C.UTF-8");
	snprintf(env[i++], sizeof(env[0]), "HOME=/");
	for (int k = 0; k < i; k++)
		envp[k] = env[k];
	envp[i] = NULL;
	argv[0] = (char *)r->ev.handler;
	argv[1] = NULL;
	execve(r->ev.handler, argv, envp);
	_exit(127);
}

static void start_handler(int events_fd, const struct event *ev)
{
	char why[400];
	struct run *r = NULL;
	uint64_t budget_ms = ev->timeout_ms;
	uint64_t cap;
	int leaf_fd = -1, in_cgroup;

	for (int i = 0; i < MAX_HANDLERS; i++)
		if (!runs[i].active) {
			r = &runs[i];
			break;
		}
	if (ev->phase == PHASE_GRACE) {
		if (ev->deadline_ms < budget_ms)
			budget_ms = ev->deadline_ms;
		cap = grace_cap_ms();
		if (cap && cap < budget_ms)
			budget_ms = cap;
	}
	say(5, "event %llu %s: victim pid=%ld comm=%s reason=%s, handler %s as uid %u gid %u caps %llx, budget %llu ms",
	    (unsigned long long)ev->id, phase_name(ev->phase), ev->pid,
	    ev->comm, ev->reason, ev->handler, ev->uid, ev->gid, (unsigned long long)ev->caps,
	    (unsigned long long)budget_ms);
	if (handler_path_safe(ev->handler, why, sizeof(why))) {
		say(3, "event %llu: refusing to run the handler: %s", (unsigned long long)ev->id, why);
		send_done(events_fd, ev);
		return;
	}
	if (!r) {	/* cannot happen: the loop reads no event without a free slot */
		send_done(events_fd, ev);
		return;
	}
	memset(r, 0, sizeof(*r));
	r->ev = *ev;
	if (opt.use_cgroup &&
	    cgroup_leaf_create(ev->phase == PHASE_EARLY ? "early" : "event", ev->id, r->leaf,
			       sizeof(r->leaf))) {
		say(4, "event %llu: no cgroup leaf (%s); running without one",
		    (unsigned long long)ev->id, strerror(errno));
		r->leaf[0] = '\0';
	}
	if (r->leaf[0])
		leaf_fd = cgroup_leaf_open(r->leaf);
	r->channel = events_channel;
	r->started_ns = now_ns();
	r->deadline_ns = r->started_ns + budget_ms * 1000000ull;
	r->pid = spawn_into_cgroup(leaf_fd, opt.use_clone3, &r->pidfd, &in_cgroup);
	if (r->pid == 0)
		child_exec(r, budget_ms, in_cgroup);
	if (leaf_fd >= 0)
		close(leaf_fd);
	if (r->pid < 0) {
		say(3, "event %llu: fork failed: %s", (unsigned long long)ev->id, strerror(errno));
		if (r->leaf[0])
			cgroup_leaf_remove(r->leaf);
		send_done(events_fd, ev);
		return;
	}
	r->active = 1;
	say(6, "event %llu: handler started (pid %d), %lld ms after the victim was chosen",
	    (unsigned long long)ev->id, (int)r->pid,
	    (long long)(r->started_ns / 1000000ull) - (long long)ev->ts_ms);
}

static void finish_handler(int events_fd, struct run *r)
{
	uint64_t end = now_ns();
	int status = 0, retired = r->channel != events_channel;
	char outcome[64];

	waitpid(r->pid, &status, 0);
	if (r->leaf[0]) {
		cgroup_leaf_kill(r->leaf);	/* whatever the handler left behind */
		if (cgroup_leaf_remove(r->leaf))
			say(4, "event %llu: cannot remove %s", (unsigned long long)r->ev.id, r->leaf);
	} else {
		kill(-r->pid, SIGKILL);
	}
	if (!retired || r->ev.phase == PHASE_EARLY)
		send_done(events_fd, &r->ev);
	if (retired)
		snprintf(outcome, sizeof(outcome), "retired (its event channel closed)");
	else if (r->timed_out)
		snprintf(outcome, sizeof(outcome), "killed after its time budget");
	else if (WIFEXITED(status))
		snprintf(outcome, sizeof(outcome), "exited %d", WEXITSTATUS(status));
	else
		snprintf(outcome, sizeof(outcome), "died of signal %d", WTERMSIG(status));
	say(r->timed_out || !WIFEXITED(status) || WEXITSTATUS(status) ? 4 : 6,
	    "event %llu: handler %s %s; ran %.3f ms; victim chosen to handler end %lld ms; %s",
	    (unsigned long long)r->ev.id, r->ev.handler, outcome, (end - r->started_ns) / 1e6,
	    (long long)(end / 1000000ull) - (long long)r->ev.ts_ms,
	    r->ev.phase == PHASE_EARLY ? "then= applied" :
	    retired ? "no done (channel closed)" : "done sent");
	if (r->pidfd >= 0)
		close(r->pidfd);
	r->active = 0;
}

/* Kill the handler and whatever it left in its leaf; its budget is watched no more. */
static void kill_handler(struct run *r)
{
	r->timed_out = 1;
	if (!r->leaf[0] || cgroup_leaf_kill(r->leaf))
		kill(-r->pid, SIGKILL);
}

static void expire(struct run *r)
{
	say(4, "event %llu: handler %s exceeded its budget; killing it", (unsigned long long)r->ev.id,
	    r->ev.handler);
	kill_handler(r);
}

/*
 * Forget the events that wait for a slot, saying why each handler is not
 * started; with @keep_early, early mode's runs stay queued (they do not
 * depend on the event channel).
 */
static void drop_pending(const char *why, int keep_early)
{
	struct event kept[PENDING_MAX];
	unsigned int n = 0;

	for (struct pending_event p; !pending_take(&pending, &p);) {
		if (p.ev.phase == PHASE_EARLY && keep_early) {
			kept[n++] = p.ev;
			continue;
		}
		say(4, "event %llu %s: handler not started: %s", (unsigned long long)p.ev.id,
		    phase_name(p.ev.phase), why);
		if (p.ev.phase == PHASE_EARLY)
			early_run_dropped(p.ev.pid);
	}
	for (unsigned int i = 0; i < n; i++)
		pending_add(&pending, &kept[i], now_ns());
}

/* The event channel closed (module unloaded or reloaded): retire its handlers. */
static void close_events(int *events_fd, const char *why)
{
	say(4, "event channel closed (%s); retiring the handlers of its events, reopening", why);
	close(*events_fd);
	*events_fd = -1;
	events_channel++;
	drop_pending("its event channel closed", 1);
	/* every running handler started on the closed channel (or an older one) */
	for (int i = 0; i < MAX_HANDLERS; i++)
		if (runs[i].active && runs[i].ev.phase != PHASE_EARLY)
			kill_handler(&runs[i]);
	/* the registrations went with the module; the next open brings them back */
	for (int i = 0; i < EARLY_MAX; i++)
		if (earlies[i].active && !earlies[i].running)
			early_disarm(&earlies[i], "the event channel closed");
}

/* A registration in early mode crossed its memory.high: run its handler now (or next). */
static void early_start(struct early *e, uint64_t now)
{
	struct event ev;

	early_event(e, ++early_runs, now, &ev);
	e->running = 1;
	say(5, "early pid %ld: memory.high %llu of %s crossed (memory.events high=%llu)", e->reg.pid,
	    (unsigned long long)e->high, e->cgroup, (unsigned long long)e->high_count);
	if (pending_add(&pending, &ev, now)) {
		say(4, "early pid %ld: no room to queue its handler", e->reg.pid);
		early_handler_ended(e->reg.pid, now);
	}
}

/* Read every queued event (as many as there is room for) into the pending queue. */
static void read_events(int *events_fd)
{
	char line[EVENT_LINE_MAX];
	struct event ev;
	const char *why;

	while (*events_fd >= 0 && pending.n < PENDING_MAX) {
		ssize_t n = read(*events_fd, line, sizeof(line) - 1);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				close_events(events_fd, strerror(errno));
			return;
		}
		line[n] = '\0';
		if (!strcmp(line, "registrations\n"))
			early_sync(opt.listing_path, opt.status_path, now_ns());
		else if (event_parse(line, &ev, &why))
			say(3, "ignoring malformed event (%s): %s", why, line);
		else
			pending_add(&pending, &ev, now_ns());
	}
}

/*
 * Start pending handlers while slots are free, the one due first first. A
 * grace that ended while its event waited is not started: too late.
 */
static void start_pending(int events_fd)
{
	struct pending_event p;
	int free_slots = 0;

	for (int i = 0; i < MAX_HANDLERS; i++)
		free_slots += !runs[i].active;
	while (free_slots > 0 && !pending_take(&pending, &p)) {
		uint64_t now = now_ns();

		if (p.ev.phase == PHASE_GRACE) {
			if (now >= p.due_ns) {
				say(4, "event %llu: handler %s not started: too late, its grace ended %llu ms before a slot was free",
				    (unsigned long long)p.ev.id, p.ev.handler,
				    (unsigned long long)((now - p.due_ns) / 1000000ull));
				send_done(events_fd, &p.ev);
				continue;
			}
			p.ev.deadline_ms = (p.due_ns - now) / 1000000ull;
		}
		start_handler(events_fd, &p.ev);
		free_slots--;
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: oomgs-runner [--events PATH] [--cgroup DIR | --no-cgroup]\n"
		"                    [--handler-memory-min SIZE] [--handler-memory-max SIZE]\n"
		"  --cgroup DIR  cgroup v2 directory to manage (default: the runner's own,\n"
		"                delegated by systemd with Delegate=yes)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "events", required_argument, NULL, 'e' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "no-cgroup", no_argument, NULL, 'n' },
		{ "handler-memory-min", required_argument, NULL, 'm' },
		{ "handler-memory-max", required_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	static char own_cgroup[512];
	const char *spawn;
	char why[600];
	sigset_t mask;
	int sfd, events_fd = -1, c, no_cgroup = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': opt.events_path = optarg; break;
		case 'c': opt.cgroup_base = optarg; break;
		case 'n': no_cgroup = 1; break;
		case 'm': opt.memory_min = optarg; break;
		case 'M': opt.memory_max = optarg; break;
		default: usage();
		}
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	protect_self();
	host_namespaces_open();
	/* benchmarks/handler_latency.py compares both ways of starting a handler */
	spawn = getenv("OOMGS_RUNNER_SPAWN");
	if (spawn && !strcmp(spawn, "fork")) {
		opt.use_clone3 = 0;
		say(5, "OOMGS_RUNNER_SPAWN=fork: handlers start by fork() and move to their leaf");
	}
	if (!no_cgroup) {
		if (!opt.cgroup_base && !cgroup_own(own_cgroup, sizeof(own_cgroup)))
			opt.cgroup_base = own_cgroup;
		if (opt.cgroup_base &&
		    !cgroup_setup(opt.cgroup_base, opt.memory_min, opt.memory_max, why, sizeof(why))) {
			opt.use_cgroup = 1;
			say(6, "handlers run in %s/handlers (memory.min %s, memory.max %s)",
			    opt.cgroup_base, opt.memory_min, opt.memory_max);
		} else {
			say(4, "no handler cgroup: %s", opt.cgroup_base ? why : "own cgroup unknown");
		}
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	for (;;) {
		/* what each pollfd is: a handler's run, the events, the signals, an early watch */
		enum { RUN, EVENTS, SIGNALS, EARLY_EVENTS, EARLY_EXIT } kind[3 + MAX_HANDLERS + 2 * EARLY_MAX];
		struct pollfd fds[3 + MAX_HANDLERS + 2 * EARLY_MAX];
		int index[3 + MAX_HANDLERS + 2 * EARLY_MAX];
		int nfds = 0, busy = 0, timeout = 1000;
		uint64_t now = now_ns();

		for (int i = 0; i < MAX_HANDLERS; i++) {
			struct run *r = &runs[i];

			if (!r->active)
				continue;
			busy++;
			if (!r->timed_out && now >= r->deadline_ns)
				expire(r);
			if (!r->timed_out) {
				uint64_t left = (r->deadline_ns - now) / 1000000ull + 1;

				if (left < (uint64_t)timeout)
					timeout = (int)left;
			}
			fds[nfds].fd = r->pidfd;
			fds[nfds].events = POLLIN;
			kind[nfds] = RUN;
			index[nfds++] = i;
		}
		if (stopping && !busy)
			break;
		if (events_fd < 0 && !stopping)
			events_fd = open_events();
		if (events_fd >= 0 && pending.n < PENDING_MAX && !stopping) {
			fds[nfds].fd = events_fd;
			fds[nfds].events = POLLIN;
			kind[nfds++] = EVENTS;
		}
		fds[nfds].fd = sfd;
		fds[nfds].events = POLLIN;
		kind[nfds++] = SIGNALS;
		/* not while its handler runs: a crossing then changes nothing, an exit waits for it */
		for (int i = 0; i < EARLY_MAX && !stopping; i++) {
			struct early *e = &earlies[i];

			if (!e->active || e->running)
				continue;
			early_recheck(e, now);
			fds[nfds].fd = e->events_fd;
			fds[nfds].events = POLLPRI;
			kind[nfds] = EARLY_EVENTS;
			index[nfds++] = i;
			fds[nfds].fd = e->pidfd;
			fds[nfds].events = POLLIN;
			kind[nfds] = EARLY_EXIT;
			index[nfds++] = i;
		}

		if (poll(fds, nfds, timeout) < 0 && errno != EINTR) {
			say(3, "poll failed: %s", strerror(errno));
			return 1;
		}
		now = now_ns();
		for (int k = 0; k < nfds; k++) {
			struct early *e = &earlies[kind[k] >= EARLY_EVENTS ? index[k] : 0];

			if (!fds[k].revents)
				continue;
			if (kind[k] == RUN) {
				finish_handler(events_fd, &runs[index[k]]);
			} else if (kind[k] == EVENTS) {
				if (fds[k].revents & (POLLHUP | POLLERR | POLLNVAL))
					close_events(&events_fd, "module unloaded?");
				else
					read_events(&events_fd);
			} else if (kind[k] == EARLY_EVENTS) {
				if (e->active && early_crossed(e, now))
					early_start(e, now);
			} else if (kind[k] == EARLY_EXIT) {
				if (e->active && !e->running)
					early_disarm(e, "the process exited");
			} else {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) == sizeof(si) && !stopping) {
					say(6, "signal %u: stopping; ending running handlers", si.ssi_signo);
					stopping = 1;
					for (int i = 0; i < MAX_HANDLERS; i++)
						if (runs[i].active && !runs[i].timed_out)
							expire(&runs[i]);
					drop_pending("the runner is stopping", 0);
				}
			}
		}
		if (!stopping)
			start_pending(events_fd);
	}
	for (int i = 0; i < EARLY_MAX; i++) {
		earlies[i].running = 0;
		early_disarm(&earlies[i], "the runner stopped");
	}
	say(6, "stopped");
	return 0;
}
