// SPDX-License-Identifier: GPL-2.0
/*
 * Smoke test for the oom_victim_ops hook (files/kernel/smoke/run-smoke.sh);
 * not the project's graceful_shutdown module. Grants every memcg victim
 * grace_ms, logs every callback; writing the "end" parameter calls
 * oom_end_grace() for the last victim.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/spinlock.h>
#include <linux/oom.h>
#include <linux/oom_victim.h>

#ifndef OOM_VICTIM_OPS_VERSION
#error "kernel without the oom_victim hook"
#endif

static unsigned int grace_ms = 1500;
module_param(grace_ms, uint, 0644);

static DEFINE_SPINLOCK(lock);
static struct task_struct *graced;

static unsigned int gt_selected(struct oom_control *oc, struct task_struct *victim)
{
	pr_info("gracetest: selected %d (%s) memcg=%d in_grace=%d\n",
		task_pid_nr(victim), victim->comm, !!oc->memcg,
		oom_task_in_grace(victim));
	spin_lock(&lock);
	if (graced)
		put_task_struct(graced);
	get_task_struct(victim);
	graced = victim;
	spin_unlock(&lock);
	return grace_ms;
}

static void gt_killed(struct oom_control *oc, struct task_struct *victim, bool was_graced)
{
	pr_info("gracetest: killed %d (%s) memcg=%d graced=%d in_grace=%d\n",
		task_pid_nr(victim), victim->comm, !!oc->memcg,
		was_graced, oom_task_in_grace(victim));
}

static int end_set(const char *val, const struct kernel_param *kp)
{
	struct task_struct *t;
	bool ret = false, in = false;

	spin_lock(&lock);
	t = graced;
	if (t)
		get_task_struct(t);
	spin_unlock(&lock);
	if (t) {
		in = oom_task_in_grace(t);
		ret = oom_end_grace(t);
		pr_info("gracetest: end %d (%s): in_grace=%d end=%d in_grace_after=%d\n",
			task_pid_nr(t), t->comm, in, ret, oom_task_in_grace(t));
		put_task_struct(t);
	}
	return 0;
}

static const struct kernel_param_ops end_ops = { .set = end_set };
module_param_cb(end, &end_ops, NULL, 0200);

static const struct oom_victim_ops ops = {
	.selected = gt_selected,
	.killed = gt_killed,
};

static const struct oom_victim_ops other = { };

static int __init gt_init(void)
{
	int ret = oom_victim_ops_register(&ops);

	pr_info("gracetest: register=%d second=%d\n", ret,
		oom_victim_ops_register(&other));
	return ret;
}

static void __exit gt_exit(void)
{
	oom_victim_ops_unregister(&other);	/* not registered: no-op */
	oom_victim_ops_unregister(&ops);
	if (graced)
		put_task_struct(graced);
	pr_info("gracetest: unregistered\n");
}

module_init(gt_init);
module_exit(gt_exit);
MODULE_LICENSE("GPL");
