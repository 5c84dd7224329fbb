// SPDX-License-Identifier: GPL-2.0
/*
 * Backend "notify": a stock kernel, which kills its OOM victims at once.
 * The module hears of each victim as it is marked and queues a killed
 * event for a registered one: its handler runs after the kill.
 *
 *   the oom:mark_victim tracepoint (mark_oom_victim()): the victim. Modules
 *       cannot attach to it by symbol (it is not exported); it is found by
 *       name with for_each_kernel_tracepoint(). Its prototype (task, uid)
 *       is that of 6.1 (Debian's) and later, checked at build time (Kbuild:
 *       GS_MARK_VICTIM_TASK_UID); a kernel without it has no notify backend.
 *   a kprobe on out_of_memory(): what the pass is about (a memcg OOM, and
 *       which memcg, a global one, sysrq) for the event's reason. Without
 *       kprobes (or an architecture that cannot read a probed function's
 *       argument) the events say reason=unknown.
 *
 * Every mark_oom_victim() and out_of_memory() runs with oom_lock held, so
 * the pass noted by the kprobe is the one whose victims the tracepoint
 * reports, and needs no lock of its own. The tracepoint probe runs with the
 * victim's task_lock held and preemption off: it goes straight to
 * events.c, which only takes spinlocks. Victims that were exiting already
 * (the OOM killer lets them free their memory instead of killing) are
 * reported too.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/printk.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/tracepoint.h>

#include "graceful_shutdown.h"
#include "oom_pass.h"

#if defined(GS_MARK_VICTIM_TASK_UID) && defined(CONFIG_TRACEPOINTS)

/* The OOM pass in progress, written by the kprobe under oom_lock. */
static enum gs_reason gs_notify_reason = GS_REASON_UNKNOWN;
static u64 gs_notify_oom_cgroup_id;

static struct tracepoint *gs_notify_tp;
static bool gs_notify_kprobe_on;

#if defined(CONFIG_KPROBES) && defined(CONFIG_HAVE_REGS_AND_STACK_ACCESS_API)
static int gs_notify_oom_entry(struct kprobe *kp, struct pt_regs *regs)
{
	const struct oom_control *oc =
		(const struct oom_control *)regs_get_kernel_argument(regs, 0);

	WRITE_ONCE(gs_notify_reason, gs_oom_pass_reason(oc));
	WRITE_ONCE(gs_notify_oom_cgroup_id, gs_oom_pass_cgroup_id(oc));
	return 0;
}

static struct kprobe gs_notify_kprobe = {
	.symbol_name	= "out_of_memory",
	.pre_handler	= gs_notify_oom_entry,
};

static bool gs_notify_kprobe_register(void)
{
	return !register_kprobe(&gs_notify_kprobe);
}

static void gs_notify_kprobe_unregister(void)
{
	unregister_kprobe(&gs_notify_kprobe);
}
#else
static bool gs_notify_kprobe_register(void)
{
	return false;
}

static void gs_notify_kprobe_unregister(void)
{
}
#endif

static void gs_notify_mark_victim(void *data, struct task_struct *task,
				  uid_t uid)
{
	gs_event_killed(task, READ_ONCE(gs_notify_reason),
			READ_ONCE(gs_notify_oom_cgroup_id), false);
}

static void gs_notify_find(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "mark_victim"))
		*(struct tracepoint **)priv = tp;
}

static int gs_notify_start(void)
{
	int ret;

	for_each_kernel_tracepoint(gs_notify_find, &gs_notify_tp);
	if (!gs_notify_tp)
		return -ENOENT;
	gs_notify_kprobe_on = gs_notify_kprobe_register();
	if (!gs_notify_kprobe_on)
		pr_warn("backend notify: no kprobe on out_of_memory(): events say reason=unknown\n");
	ret = tracepoint_probe_register(gs_notify_tp, gs_notify_mark_victim,
					NULL);
	if (ret && gs_notify_kprobe_on) {
		gs_notify_kprobe_unregister();
		gs_notify_kprobe_on = false;
	}
	return ret;
}

static void gs_notify_stop(void)
{
	tracepoint_probe_unregister(gs_notify_tp, gs_notify_mark_victim, NULL);
	/* No probe runs any more once this returns. */
	tracepoint_synchronize_unregister();
	if (gs_notify_kprobe_on)
		gs_notify_kprobe_unregister();
	gs_notify_kprobe_on = false;
}

static const struct gs_backend gs_backend_notify = {
	.name	= "notify",
	.start	= gs_notify_start,
	.stop	= gs_notify_stop,
};

const struct gs_backend *gs_backend_notify_get(void)
{
	return &gs_backend_notify;
}

#else /* no usable oom:mark_victim tracepoint */

const struct gs_backend *gs_backend_notify_get(void)
{
	return NULL;
}

#endif
