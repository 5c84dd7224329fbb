// SPDX-License-Identifier: GPL-2.0
/*
 * Backend "hook": struct oom_victim_ops of a patched kernel
 * (include/linux/oom_victim.h, files/kernel/ of this collection).
 *
 * selected() runs for memcg OOMs only, once per victim, when the sysctl
 * vm.oom_victim_grace_max_ms is above 0; killed() runs after every OOM
 * SIGKILL. Both run with oom_lock held and must not sleep or allocate:
 * they go straight to events.c, which only takes spinlocks.
 */
#include <linux/sched.h>

/* Set by the Makefile when the kernel tree has the header (patched). */
#ifdef GS_HAVE_OOM_VICTIM_H
#include <linux/oom_victim.h>
#endif

#include "graceful_shutdown.h"
#include "oom_pass.h"

#ifdef OOM_VICTIM_OPS_VERSION

static unsigned int gs_hook_selected(struct oom_control *oc,
				     struct task_struct *victim)
{
	unsigned int reserve_kb, grace;

	grace = gs_event_selected(victim, gs_oom_pass_reason(oc),
				  gs_oom_pass_cgroup_id(oc), &reserve_kb);
#if OOM_VICTIM_OPS_VERSION >= 3
	/* The kernel caps it by vm.oom_victim_reserve_max_kb. */
	if (grace)
		oc->grace_reserve = reserve_kb >> (PAGE_SHIFT - 10);
#endif
	return grace;
}

static void gs_hook_killed(struct oom_control *oc, struct task_struct *victim,
			   bool graced)
{
	gs_event_killed(victim, gs_oom_pass_reason(oc), gs_oom_pass_cgroup_id(oc),
			graced);
}

static const struct oom_victim_ops gs_hook_ops = {
	.selected	= gs_hook_selected,
	.killed		= gs_hook_killed,
};

static int gs_hook_start(void)
{
	return oom_victim_ops_register(&gs_hook_ops);
}

static void gs_hook_stop(void)
{
	oom_victim_ops_unregister(&gs_hook_ops);
}

static bool gs_hook_end_grace(struct task_struct *task)
{
	return oom_end_grace(task);
}

#if OOM_VICTIM_OPS_VERSION >= 2
static bool gs_hook_rearm(struct task_struct *task)
{
	return oom_grace_rearm(task);
}
#else
/* Version 1 kernels give each process one grace for its life. */
#define gs_hook_rearm NULL
#endif

static const struct gs_backend gs_backend_hook = {
	.name		= "hook",
	.api		= OOM_VICTIM_OPS_VERSION,
	.start		= gs_hook_start,
	.stop		= gs_hook_stop,
	.end_grace	= gs_hook_end_grace,
	.rearm		= gs_hook_rearm,
	/* 3: oc->grace_reserve */
	.reserve	= OOM_VICTIM_OPS_VERSION >= 3,
};

const struct gs_backend *gs_backend_hook_get(void)
{
	return &gs_backend_hook;
}

#else /* !OOM_VICTIM_OPS_VERSION: stock kernel */

const struct gs_backend *gs_backend_hook_get(void)
{
	return NULL;
}

#endif
