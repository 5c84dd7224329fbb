// SPDX-License-Identifier: GPL-2.0
/*
 * The event channel to the user-space runner: /proc/graceful_shutdown_events.
 *
 * Mode 0600, CAP_SYS_ADMIN, one opener at a time. read() returns one
 * event per call, one text line; poll() reports EPOLLIN while an event is
 * queued; writing "done ID" ends the grace period of a grace event.
 *
 * Events live in a fixed array allocated with the module. The OOM
 * callbacks (gs_event_selected, gs_event_killed) only take spinlocks,
 * copy into a free slot, take a pid reference (an atomic increment) and
 * wake the reader: they never sleep, allocate or drop a reference. A full
 * ring drops the event and counts it. Slots are recycled in process
 * context: by read (killed events), "done", close, and gs_ev_gc_work.
 * A registration's signal at grace start is sent by gs_ev_signal_work, in
 * process context, because sending a signal may allocate.
 *
 * A read returns the line "registrations" (no event, no slot) when the
 * registrations changed since the runner last read that line, and once
 * after each open: the runner then reads /proc/graceful_shutdown for the
 * registrations in early mode, which it arms itself (docs/early-mode.md).
 * Queued events are returned first.
 *
 * Event IDs are unique within a boot, across loads of the module: each
 * load starts counting at its load time in nanoseconds since boot, past
 * every ID an earlier load can have issued, and "done" is only accepted
 * for an ID of this load.
 *
 * Lock order: gs_reg_lock (registry.c), then gs_ev_lock.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/cgroup.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/fs.h>
#ifdef GS_HAVE_HEX_H
#include <linux/hex.h>		/* hex_asc_*(): no longer in kernel.h on 7.x */
#endif
#include <linux/kernel.h>
#include <linux/math64.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/proc_fs.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "graceful_shutdown.h"

#define GS_PROC_EVENTS	"graceful_shutdown_events"
/* A grace event not answered with "done" is recycled this long after. */
#define GS_EV_SLACK_MS	1000
/* TASK_COMM_LEN - 1 bytes, each at most "\xHH", plus the NUL. */
#define GS_COMM_ESC_LEN	((TASK_COMM_LEN - 1) * 4 + 1)

enum gs_ev_state {
	GS_EV_FREE = 0,
	GS_EV_QUEUED,	/* waiting to be read */
	GS_EV_WAITING,	/* grace event read, waiting for "done" */
	GS_EV_STALE,	/* over, the pid is released in process context */
};

enum gs_phase {
	GS_PHASE_GRACE,		/* victim alive, killed after the grace */
	GS_PHASE_KILLED,	/* victim already sent SIGKILL */
};

enum gs_runner {
	GS_RUNNER_NONE,
	GS_RUNNER_OPEN,
	GS_RUNNER_CLOSING,
};

struct gs_event {
	enum gs_ev_state state;
	enum gs_phase phase;
	enum gs_reason reason;
	u64 id;
	struct pid *pid;		/* victim's thread group, reference held */
	u64 cgroup_id;			/* victim's cgroup v2 id */
	u64 oom_cgroup_id;		/* memcg that ran out of memory, 0 global */
	u64 ts_ns;			/* CLOCK_BOOTTIME when queued */
	unsigned int timeout_ms;
	int signal;			/* to send at grace start, 0: none */
	bool signal_pending;		/* not sent yet (gs_ev_signal_work) */
	u32 uid;			/* the handler's user, group, capabilities */
	u32 gid;
	u64 caps;
	char comm[TASK_COMM_LEN];
	char path[GS_PATH_MAX];
};

/* The victim and its context, passed through gs_registry_visit(). */
struct gs_capture {
	struct task_struct *victim;
	enum gs_phase phase;
	enum gs_reason reason;
	u64 oom_cgroup_id;
	bool queued;
	bool signal;			/* a signal is pending in the event */
	unsigned int reserve_kb;	/* the registration's reserve */
};

static struct gs_event gs_events[GS_MAX_EVENTS];
static DEFINE_SPINLOCK(gs_ev_lock);
static DECLARE_WAIT_QUEUE_HEAD(gs_ev_wq);

/* Protected by gs_ev_lock. */
static enum gs_runner gs_ev_runner;
/* The runner has yet to read the "registrations" line. */
static bool gs_ev_regs_changed;
static bool gs_ev_shutdown;
static u64 gs_ev_first_id;
static u64 gs_ev_next_id;
static u64 gs_ev_total;
static u64 gs_ev_dropped;
static u64 gs_ev_no_runner;
static u64 gs_ev_graces;

/* Callback invocations, counted before any lock. */
static atomic64_t gs_ev_oom_selected = ATOMIC64_INIT(0);
static atomic64_t gs_ev_oom_killed = ATOMIC64_INIT(0);

/* Serialises readers; gs_ev_line is the formatting buffer of read(). */
static DEFINE_MUTEX(gs_ev_read_mutex);
static char gs_ev_line[GS_EVENT_LINE_MAX];

static void gs_ev_gc_fn(struct work_struct *work);
static DECLARE_WORK(gs_ev_gc_work, gs_ev_gc_fn);
static void gs_ev_signal_fn(struct work_struct *work);
static DECLARE_WORK(gs_ev_signal_work, gs_ev_signal_fn);

static const char *const gs_reason_names[] = {
	[GS_REASON_MEMCG]	= "memcg",
	[GS_REASON_GLOBAL]	= "global",
	[GS_REASON_SYSRQ]	= "sysrq",
	[GS_REASON_UNKNOWN]	= "unknown",
};

static const char *const gs_phase_names[] = {
	[GS_PHASE_GRACE]	= "grace",
	[GS_PHASE_KILLED]	= "killed",
};

static u64 gs_now_ms(void)
{
	return div_u64(ktime_get_boottime_ns(), NSEC_PER_MSEC);
}

/* cgroup v2 id of @task; RCU keeps its css_set alive. */
static u64 gs_task_cgroup_id(struct task_struct *task)
{
#ifdef CONFIG_CGROUPS
	u64 id;

	rcu_read_lock();
	id = cgroup_id(task_dfl_cgroup(task));
	rcu_read_unlock();
	return id;
#else
	return 0;
#endif
}

/* gs_ev_lock held: free @ev's slot; its pid reference goes to the caller. */
static struct pid *gs_ev_take_locked(struct gs_event *ev)
{
	struct pid *pid = ev->pid;

	ev->pid = NULL;
	ev->signal_pending = false;
	ev->state = GS_EV_FREE;
	return pid;
}

/* Process context, gs_ev_lock held. */
static void gs_ev_free_locked(struct gs_event *ev)
{
	put_pid(gs_ev_take_locked(ev));
}

/* Process context: recycle stale slots and unanswered expired graces. */
static void gs_ev_reclaim_locked(void)
{
	u64 now = gs_now_ms();
	unsigned int i;

	lockdep_assert_held(&gs_ev_lock);
	for (i = 0; i < GS_MAX_EVENTS; i++) {
		struct gs_event *ev = &gs_events[i];
		u64 end = div_u64(ev->ts_ns, NSEC_PER_MSEC) + ev->timeout_ms +
			  GS_EV_SLACK_MS;

		if (ev->state == GS_EV_STALE ||
		    (ev->state == GS_EV_WAITING && now > end))
			gs_ev_free_locked(ev);
	}
}

static void gs_ev_gc_fn(struct work_struct *work)
{
	spin_lock(&gs_ev_lock);
	gs_ev_reclaim_locked();
	spin_unlock(&gs_ev_lock);
}

/*
 * Process context: send the signals that registrations asked for at the
 * start of their grace (kill_pid() may allocate, the OOM path must not).
 * The event holds the victim's struct pid, so a reused PID never gets it.
 */
static void gs_ev_signal_fn(struct work_struct *work)
{
	for (;;) {
		struct pid *pid = NULL;
		unsigned int i;
		int signal = 0;

		spin_lock(&gs_ev_lock);
		for (i = 0; i < GS_MAX_EVENTS; i++) {
			struct gs_event *ev = &gs_events[i];

			if (ev->state != GS_EV_FREE && ev->signal_pending) {
				ev->signal_pending = false;
				pid = get_pid(ev->pid);
				signal = ev->signal;
				break;
			}
		}
		spin_unlock(&gs_ev_lock);
		if (!pid)
			return;
		kill_pid(pid, signal, 1);
		put_pid(pid);
	}
}

static struct gs_event *gs_ev_oldest_queued_locked(void)
{
	struct gs_event *oldest = NULL;
	unsigned int i;

	for (i = 0; i < GS_MAX_EVENTS; i++) {
		struct gs_event *ev = &gs_events[i];

		if (ev->state == GS_EV_QUEUED && (!oldest || ev->id < oldest->id))
			oldest = ev;
	}
	return oldest;
}

/*
 * OOM callback context, called by gs_registry_visit() with gs_reg_lock
 * held: queue an event for a registered victim if a runner listens.
 * Returns the grace to ask for (the handler's timeout) or 0.
 */
static unsigned int gs_ev_queue(const struct gs_request *req, void *arg)
{
	struct gs_capture *cap = arg;
	struct gs_event *ev = NULL;
	unsigned int i;

	spin_lock(&gs_ev_lock);
	if (gs_ev_runner != GS_RUNNER_OPEN || gs_ev_shutdown) {
		gs_ev_no_runner++;
		spin_unlock(&gs_ev_lock);
		return 0;
	}
	for (i = 0; i < GS_MAX_EVENTS; i++) {
		if (gs_events[i].state == GS_EV_FREE) {
			ev = &gs_events[i];
			break;
		}
	}
	if (!ev) {
		gs_ev_dropped++;
		spin_unlock(&gs_ev_lock);
		/* Recycle expired slots for the next event. */
		schedule_work(&gs_ev_gc_work);
		return 0;
	}
	ev->id = gs_ev_next_id++;
	ev->phase = cap->phase;
	ev->reason = cap->reason;
	ev->pid = get_pid(task_tgid(cap->victim));
	ev->cgroup_id = gs_task_cgroup_id(cap->victim);
	ev->oom_cgroup_id = cap->oom_cgroup_id;
	ev->ts_ns = ktime_get_boottime_ns();
	ev->timeout_ms = req->timeout_ms;
	ev->signal = req->signal;
	ev->uid = req->uid;
	ev->gid = req->gid;
	ev->caps = req->caps;
	ev->signal_pending = cap->phase == GS_PHASE_GRACE && req->signal;
	/* Racy against prctl(PR_SET_NAME) like every comm print: bounded. */
	memcpy(ev->comm, cap->victim->comm, sizeof(ev->comm));
	ev->comm[sizeof(ev->comm) - 1] = '\0';
	strscpy(ev->path, req->path, sizeof(ev->path));
	ev->state = GS_EV_QUEUED;
	gs_ev_total++;
	if (cap->phase == GS_PHASE_GRACE)
		gs_ev_graces++;
	spin_unlock(&gs_ev_lock);
	cap->queued = true;
	cap->signal = ev->signal_pending;
	cap->reserve_kb = req->reserve_kb;
	return req->timeout_ms;
}

/*
 * The OOM killer chose @victim (memcg OOM, oom_lock held). Grace only if
 * the victim is registered, a runner listens and the event was queued;
 * otherwise 0: the kernel kills now, as it always did. With a grace,
 * *@reserve_kb is the registration's reserve, and its signal is on its way.
 */
unsigned int gs_event_selected(struct task_struct *victim,
			       enum gs_reason reason, u64 oom_cgroup_id,
			       unsigned int *reserve_kb)
{
	struct gs_capture cap = {
		.victim = victim,
		.phase = GS_PHASE_GRACE,
		.reason = reason,
		.oom_cgroup_id = oom_cgroup_id,
	};
	unsigned int grace;

	atomic64_inc(&gs_ev_oom_selected);
	/* A global OOM grace freezes the machine: never ask for one. */
	if (reason != GS_REASON_MEMCG)
		return 0;
	*reserve_kb = 0;
	grace = gs_registry_visit(victim, false, gs_ev_queue, &cap);
	if (cap.queued)
		wake_up_interruptible_poll(&gs_ev_wq, EPOLLIN | EPOLLRDNORM);
	if (grace) {
		*reserve_kb = cap.reserve_kb;
		if (cap.signal)
			schedule_work(&gs_ev_signal_work);
	}
	return grace;
}

/*
 * The grace of @tgid is over (it was killed): a grace event not read yet
 * becomes a killed event, one already read is recycled.
 */
static void gs_ev_grace_over(struct pid *tgid)
{
	bool stale = false;
	unsigned int i;

	spin_lock(&gs_ev_lock);
	for (i = 0; i < GS_MAX_EVENTS; i++) {
		struct gs_event *ev = &gs_events[i];

		if (ev->pid != tgid || ev->phase != GS_PHASE_GRACE)
			continue;
		if (ev->state == GS_EV_QUEUED) {
			ev->phase = GS_PHASE_KILLED;
		} else if (ev->state == GS_EV_WAITING) {
			ev->state = GS_EV_STALE;
			stale = true;
		}
	}
	spin_unlock(&gs_ev_lock);
	if (stale)
		schedule_work(&gs_ev_gc_work);
}

/*
 * @victim was just sent SIGKILL by the OOM killer (oom_lock held). If it
 * had no grace, a registered victim gets a killed event: its handler runs
 * after the kill. Either way its registration is used up.
 */
void gs_event_killed(struct task_struct *victim, enum gs_reason reason,
		     u64 oom_cgroup_id, bool graced)
{
	struct gs_capture cap = {
		.victim = victim,
		.phase = GS_PHASE_KILLED,
		.reason = reason,
		.oom_cgroup_id = oom_cgroup_id,
	};
	struct pid *tgid = task_tgid(victim);

	atomic64_inc(&gs_ev_oom_killed);
	if (!graced && gs_registry_recently_graced(victim))
		graced = true;
	if (graced) {
		gs_ev_grace_over(tgid);
		gs_registry_visit(victim, true, NULL, NULL);
		return;
	}
	gs_registry_visit(victim, true, gs_ev_queue, &cap);
	if (cap.queued)
		wake_up_interruptible_poll(&gs_ev_wq, EPOLLIN | EPOLLRDNORM);
}

/* Process context: let the kernel kill the victim of @pid now. */
static void gs_ev_end_grace(struct pid *pid)
{
	struct task_struct *task = get_pid_task(pid, PIDTYPE_TGID);

	if (!task)
		return;
	if (gs_backend_end_grace(task))
		pr_debug("grace of pid %d ended\n", pid_nr(pid));
	put_task_struct(task);
}

/* Process context, no lock held: after gs_ev_take_locked(), end the grace if there was one. */
static void gs_ev_finish(struct pid *pid, bool grace)
{
	if (grace)
		gs_ev_end_grace(pid);
	put_pid(pid);
}

static void gs_escape_comm(const char *comm, char *out, size_t size)
{
	size_t o = 0;

	for (; *comm && o + 5 <= size; comm++) {
		unsigned char c = *comm;

		if (c <= 0x20 || c >= 0x7f || c == '\\') {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex_asc_hi(c);
			out[o++] = hex_asc_lo(c);
		} else {
			out[o++] = c;
		}
	}
	out[o] = '\0';
}

static size_t gs_ev_format_locked(const struct gs_event *ev, char *buf,
				  size_t size)
{
	u64 ts_ms = div_u64(ev->ts_ns, NSEC_PER_MSEC);
	char comm[GS_COMM_ESC_LEN];
	u64 left = 0;

	if (ev->phase == GS_PHASE_GRACE) {
		u64 now = gs_now_ms();

		if (ts_ms + ev->timeout_ms > now)
			left = ts_ms + ev->timeout_ms - now;
	}
	gs_escape_comm(ev->comm, comm, sizeof(comm));
	return scnprintf(buf, size,
			 "id=%llu phase=%s pid=%d comm=%s cgroup_id=%llu oom_cgroup_id=%llu reason=%s ts_ms=%llu deadline_ms=%llu timeout_ms=%u uid=%u gid=%u caps=%llx handler=%s\n",
			 ev->id, gs_phase_names[ev->phase], pid_vnr(ev->pid),
			 comm, ev->cgroup_id, ev->oom_cgroup_id,
			 gs_reason_names[ev->reason], ts_ms, left,
			 ev->timeout_ms, ev->uid, ev->gid, ev->caps, ev->path);
}

static bool gs_ev_readable(void)
{
	bool ret;

	spin_lock(&gs_ev_lock);
	ret = gs_ev_shutdown || gs_ev_oldest_queued_locked() ||
	      gs_ev_regs_changed;
	spin_unlock(&gs_ev_lock);
	return ret;
}

/* Process context (a write to /proc/graceful_shutdown): wake the runner. */
void gs_events_registrations_changed(void)
{
	spin_lock(&gs_ev_lock);
	gs_ev_regs_changed = true;
	spin_unlock(&gs_ev_lock);
	wake_up_interruptible_poll(&gs_ev_wq, EPOLLIN | EPOLLRDNORM);
}

static const char gs_ev_regs_line[] = "registrations\n";

static ssize_t gs_ev_read(struct file *file, char __user *ubuf, size_t count,
			  loff_t *ppos)
{
	struct pid *put = NULL;
	struct gs_event *ev;
	ssize_t ret;
	size_t len;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (mutex_lock_interruptible(&gs_ev_read_mutex))
		return -ERESTARTSYS;
	for (;;) {
		spin_lock(&gs_ev_lock);
		gs_ev_reclaim_locked();
		if (gs_ev_shutdown) {
			spin_unlock(&gs_ev_lock);
			ret = -ENODEV;
			goto out;
		}
		ev = gs_ev_oldest_queued_locked();
		if (ev)
			break;
		if (gs_ev_regs_changed) {
			gs_ev_regs_changed = false;
			spin_unlock(&gs_ev_lock);
			len = sizeof(gs_ev_regs_line) - 1;
			if (len > count)
				ret = -EINVAL;
			else if (copy_to_user(ubuf, gs_ev_regs_line, len))
				ret = -EFAULT;
			else
				ret = len;
			goto out;
		}
		spin_unlock(&gs_ev_lock);
		if (file->f_flags & O_NONBLOCK) {
			ret = -EAGAIN;
			goto out;
		}
		ret = wait_event_interruptible(gs_ev_wq, gs_ev_readable());
		if (ret)
			goto out;
	}
	/* gs_ev_lock held, ev queued. */
	len = gs_ev_format_locked(ev, gs_ev_line, sizeof(gs_ev_line));
	if (len > count) {
		spin_unlock(&gs_ev_lock);
		ret = -EINVAL;	/* buffer too small; the event stays queued */
		goto out;
	}
	if (ev->phase == GS_PHASE_GRACE) {
		ev->state = GS_EV_WAITING;
	} else {
		put = ev->pid;
		ev->pid = NULL;
		ev->state = GS_EV_FREE;
	}
	spin_unlock(&gs_ev_lock);
	put_pid(put);
	ret = copy_to_user(ubuf, gs_ev_line, len) ? -EFAULT : len;
out:
	mutex_unlock(&gs_ev_read_mutex);
	return ret;
}

/* "done ID": the handler of event ID finished, end its grace now. */
static int gs_events_done(u64 id, const char **why)
{
	struct gs_event *ev = NULL;
	struct pid *pid;
	unsigned int i;
	bool grace;

	spin_lock(&gs_ev_lock);
	for (i = 0; i < GS_MAX_EVENTS; i++) {
		if (gs_events[i].state != GS_EV_FREE && gs_events[i].id == id) {
			ev = &gs_events[i];
			break;
		}
	}
	if (!ev || ev->state == GS_EV_QUEUED) {
		/* An event of this load, over by now: nothing to do. */
		bool over = !ev && id >= gs_ev_first_id && id < gs_ev_next_id;

		spin_unlock(&gs_ev_lock);
		if (ev)
			*why = "event not read yet";
		else if (id < gs_ev_first_id)
			*why = "event of an earlier load of the module";
		else
			*why = "no such event";
		return over ? 0 : -ENOENT;
	}
	/*
	 * A victim that was sent a signal is shutting itself down: its grace
	 * lasts until it exits or its timeout, whenever its handler is done.
	 */
	grace = ev->state == GS_EV_WAITING && !ev->signal;
	pid = gs_ev_take_locked(ev);
	spin_unlock(&gs_ev_lock);
	gs_ev_finish(pid, grace);
	return 0;
}

static ssize_t gs_ev_write(struct file *file, const char __user *ubuf,
			   size_t count, loff_t *ppos)
{
	const char *why = "";
	char *buf;
	u64 id = 0;
	int ret;

	if (!capable(CAP_SYS_ADMIN)) {
		why = "writer lacks CAP_SYS_ADMIN";
		ret = -EPERM;
		goto out;
	}
	if (!count)
		return 0;
	if (count > GS_DONE_WRITE_MAX) {
		why = "line too long (expected 'done ID')";
		ret = -EINVAL;
		goto out;
	}
	buf = memdup_user_nul(ubuf, count);
	if (IS_ERR(buf)) {
		why = "cannot copy the write";
		ret = PTR_ERR(buf);
		goto out;
	}
	ret = gs_parse_done(buf, count, &id, &why);
	kfree(buf);
	if (!ret)
		ret = gs_events_done(id, &why);
out:
	if (ret) {
		pr_warn_ratelimited("rejected write to /proc/%s: %s (errno %d)\n",
				    GS_PROC_EVENTS, why, -ret);
		return ret;
	}
	return count;
}

static __poll_t gs_ev_poll(struct file *file, poll_table *wait)
{
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;

	poll_wait(file, &gs_ev_wq, wait);
	spin_lock(&gs_ev_lock);
	if (gs_ev_oldest_queued_locked() || gs_ev_regs_changed)
		mask |= EPOLLIN | EPOLLRDNORM;
	if (gs_ev_shutdown)
		mask |= EPOLLHUP;
	spin_unlock(&gs_ev_lock);
	return mask;
}

static int gs_ev_open(struct inode *inode, struct file *file)
{
	int ret = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	spin_lock(&gs_ev_lock);
	if (gs_ev_shutdown)
		ret = -ENODEV;
	else if (gs_ev_runner != GS_RUNNER_NONE)
		ret = -EBUSY;
	else
		gs_ev_runner = GS_RUNNER_OPEN;
	if (!ret)
		gs_ev_regs_changed = true;	/* a new runner reads them once */
	spin_unlock(&gs_ev_lock);
	if (ret)
		return ret;
	return stream_open(inode, file);
}

/*
 * The runner is gone (close, crash, or module unload running down the
 * open file): no handler will report "done", so every pending grace ends
 * now and the kills go ahead; events never read are counted as dropped.
 */
static int gs_ev_release(struct inode *inode, struct file *file)
{
	unsigned int i;

	spin_lock(&gs_ev_lock);
	gs_ev_runner = GS_RUNNER_CLOSING;
	spin_unlock(&gs_ev_lock);

	for (i = 0; i < GS_MAX_EVENTS; i++) {
		struct gs_event *ev = &gs_events[i];
		struct pid *pid;
		bool grace;

		spin_lock(&gs_ev_lock);
		if (ev->state == GS_EV_FREE) {
			spin_unlock(&gs_ev_lock);
			continue;
		}
		grace = ev->phase == GS_PHASE_GRACE &&
			(ev->state == GS_EV_QUEUED ||
			 ev->state == GS_EV_WAITING);
		if (ev->state == GS_EV_QUEUED)
			gs_ev_dropped++;
		pid = gs_ev_take_locked(ev);
		spin_unlock(&gs_ev_lock);
		gs_ev_finish(pid, grace);
	}

	spin_lock(&gs_ev_lock);
	gs_ev_runner = GS_RUNNER_NONE;
	spin_unlock(&gs_ev_lock);
	return 0;
}

static const struct proc_ops gs_ev_proc_ops = {
	.proc_open	= gs_ev_open,
	.proc_read	= gs_ev_read,
	.proc_write	= gs_ev_write,
	.proc_poll	= gs_ev_poll,
	.proc_release	= gs_ev_release,
};

void gs_events_get_stats(struct gs_stats *st)
{
	unsigned int i;

	memset(st, 0, sizeof(*st));
	spin_lock(&gs_ev_lock);
	st->runner = gs_ev_runner == GS_RUNNER_OPEN;
	for (i = 0; i < GS_MAX_EVENTS; i++) {
		if (gs_events[i].state == GS_EV_QUEUED)
			st->queued++;
		else if (gs_events[i].state == GS_EV_WAITING)
			st->waiting++;
	}
	st->events_total = gs_ev_total;
	st->events_dropped = gs_ev_dropped;
	st->events_no_runner = gs_ev_no_runner;
	st->graces = gs_ev_graces;
	spin_unlock(&gs_ev_lock);
	st->oom_selected = atomic64_read(&gs_ev_oom_selected);
	st->oom_killed = atomic64_read(&gs_ev_oom_killed);
}

int gs_events_init(void)
{
	/* Before the file exists: nothing reads the counters yet. */
	gs_ev_first_id = ktime_get_boottime_ns();
	gs_ev_next_id = gs_ev_first_id;
	if (!proc_create(GS_PROC_EVENTS, 0600, NULL, &gs_ev_proc_ops))
		return -ENOMEM;
	return 0;
}

/*
 * Module exit, after the backend stopped (no callback runs any more).
 * Wake blocked readers so that remove_proc_entry(), which waits for calls
 * in flight, can finish; it then runs gs_ev_release() for a file still
 * open. Sleepers in poll()/select() are woken and leave the wait queue on
 * their way out; epoll, aio and io_uring entries are detached by POLLFREE
 * (as in wake_up_pollfree(), whose WARN would fire on a poll() sleeper not
 * yet gone), and synchronize_rcu() covers their lockless checks before the
 * module's memory goes away.
 */
void gs_events_exit(void)
{
	unsigned int i;

	spin_lock(&gs_ev_lock);
	gs_ev_shutdown = true;
	spin_unlock(&gs_ev_lock);
	wake_up_interruptible_all(&gs_ev_wq);

	remove_proc_entry(GS_PROC_EVENTS, NULL);

	/* Like wake_up_pollfree(), then wait for poll()/select() sleepers. */
	while (waitqueue_active(&gs_ev_wq)) {
		__wake_up(&gs_ev_wq, TASK_NORMAL, 0,
			  poll_to_key(EPOLLHUP | POLLFREE));
		msleep(20);
	}
	synchronize_rcu();
	cancel_work_sync(&gs_ev_gc_work);
	cancel_work_sync(&gs_ev_signal_work);

	spin_lock(&gs_ev_lock);
	for (i = 0; i < GS_MAX_EVENTS; i++) {
		if (gs_events[i].state != GS_EV_FREE)
			gs_ev_free_locked(&gs_events[i]);
	}
	spin_unlock(&gs_ev_lock);
}
