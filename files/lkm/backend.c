// SPDX-License-Identifier: GPL-2.0
/*
 * Backend selection. A backend tells the module about OOM victims:
 *
 *   hook    the patched kernel's struct oom_victim_ops (backend_hook.c):
 *           grace before a memcg OOM kill, notification after other kills.
 *   notify  a stock kernel's oom:mark_victim tracepoint (backend_notify.c):
 *           notification after every OOM kill, no grace.
 *   none    neither: registrations are kept and listed, no events.
 *
 * auto (the default) takes the first of them that the kernel offers.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/moduleparam.h>
#include <linux/pid.h>
#include <linux/printk.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/string.h>

#include "graceful_shutdown.h"

static char *backend = "auto";
module_param(backend, charp, 0444);
MODULE_PARM_DESC(backend, "auto (default: hook if the kernel has it, else notify), hook, notify, none");

static const struct gs_backend gs_backend_none = {
	.name = "none",
};

/* Set once at load; kept after stop so that end_grace stays usable. */
static const struct gs_backend *gs_active = &gs_backend_none;
static bool gs_started;

/*
 * Start @b if it is there. 0 when it runs; -ENODEV when the kernel does
 * not offer it; what its start returned when it failed.
 */
static int gs_backend_try(const struct gs_backend *b, const char *name)
{
	int ret;

	if (!b) {
		pr_info("backend %s: not offered by this kernel\n", name);
		return -ENODEV;
	}
	ret = b->start();
	if (ret) {
		pr_err("backend %s: did not start (%d)\n", name, ret);
		return ret;
	}
	gs_active = b;
	gs_started = true;
	return 0;
}

int gs_backend_start(void)
{
	bool is_auto = !strcmp(backend, "auto");
	int ret;

	if (!strcmp(backend, "none")) {
		pr_info("backend none (selected by module parameter)\n");
		return 0;
	}
	if (!is_auto && strcmp(backend, "hook") && strcmp(backend, "notify")) {
		pr_err("unknown backend=%s (expected auto, hook, notify or none)\n",
		       backend);
		return -EINVAL;
	}
	if (is_auto || !strcmp(backend, "hook")) {
		ret = gs_backend_try(gs_backend_hook_get(), "hook");
		if (!ret) {
			pr_info("backend hook (oom_victim_ops v%d); a grace before memcg OOM kills needs sysctl vm.oom_victim_grace_max_ms > 0\n",
				gs_active->api);
			return 0;
		}
		if (!is_auto)
			return ret;
	}
	ret = gs_backend_try(gs_backend_notify_get(), "notify");
	if (!ret) {
		pr_info("backend notify (oom:mark_victim): handlers run after OOM kills, no grace\n");
		return 0;
	}
	if (!is_auto)
		return ret;
	pr_info("backend none: registrations are kept, no events\n");
	return 0;
}

/* No callback runs once this returns. */
void gs_backend_stop(void)
{
	if (gs_started && gs_active->stop)
		gs_active->stop();
	gs_started = false;
}

const char *gs_backend_name(void)
{
	return gs_active->name;
}

int gs_backend_api(void)
{
	return gs_active->api;
}

/* A registration's signal is sent at the start of a grace. */
bool gs_backend_has_grace(void)
{
	return gs_active->end_grace;
}

bool gs_backend_has_reserve(void)
{
	return gs_active->reserve;
}

/* Process context. False if there was no grace to end. */
bool gs_backend_end_grace(struct task_struct *task)
{
	if (!gs_active->end_grace)
		return false;
	return gs_active->end_grace(task);
}

/*
 * Process context, no lock held: the process of @tgid was registered
 * (again): let it have a grace at its next OOM, also after it survived one.
 * The kernel keeps a running grace and a due kill as they are.
 */
void gs_backend_rearm(struct pid *tgid)
{
	struct task_struct *task;

	if (!gs_active->rearm)
		return;
	task = get_pid_task(tgid, PIDTYPE_TGID);
	if (!task)
		return;
	if (gs_active->rearm(task))
		pr_debug("pid %d may have a grace again\n", pid_nr(tgid));
	put_task_struct(task);
}
