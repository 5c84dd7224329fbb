/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What an OOM pass is about, from its struct oom_control: the reason of
 * its kills and the cgroup ID of the memcg that ran out (0 if global).
 * Shared by the backends; no lock, no allocation.
 */
#ifndef GS_OOM_PASS_H
#define GS_OOM_PASS_H

#include <linux/cgroup.h>
#include <linux/memcontrol.h>
#include <linux/oom.h>

#include "graceful_shutdown.h"

static inline enum gs_reason gs_oom_pass_reason(const struct oom_control *oc)
{
	if (oc && oc->memcg)
		return GS_REASON_MEMCG;
	if (oc && oc->order == -1)
		return GS_REASON_SYSRQ;
	return GS_REASON_GLOBAL;
}

static inline u64 gs_oom_pass_cgroup_id(const struct oom_control *oc)
{
#ifdef CONFIG_MEMCG
	if (oc && oc->memcg)
		return cgroup_id(oc->memcg->css.cgroup);
#endif
	return 0;
}

#endif /* GS_OOM_PASS_H */
