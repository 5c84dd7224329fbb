// SPDX-License-Identifier: GPL-2.0
/*
 * Backend selection. A backend tells the module about OOM victims:
 *
 *   hook  the patched kernel's struct oom_victim_ops (backend_hook.c):
 *         grace before a memcg OOM kill, notification after other kills.
 *   none  stock kernel: registrations are kept and listed, no events.
 *
 * A post-kill backend for stock kernels (kprobe on oom_kill_process or
 * the mark_victim tracepoint, calling gs_event_killed()) goes between the
 * two in gs_backend_start(); it has no end_grace.
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
MODULE_PARM_DESC(backend, "auto (default: hook if the kernel has it), hook, none");

static const struct gs_backend gs_backend_none = {
	.name = "none",
};

/* Set once at load; kept after stop so that end_grace stays usable. */
static const struct gs_backend *gs_active = &gs_backend_none;
static bool gs_started;

int gs_backend_start(void)
{
	const struct gs_backend *hook = gs_backend_hook_get();
	bool want_hook = !strcmp(backend, "hook");
	int ret;

	if (!strcmp(backend, "none")) {
		pr_info("backend none (selected by module parameter)\n");
		return 0;
	}
	if (!want_hook && strcmp(backend, "auto")) {
		pr_err("unknown backend=%s (expected auto, hook or none)\n",
		       backend);
		return -EINVAL;
	}
	if (!hook) {
		if (want_hook) {
			pr_err("backend=hook: kernel has no OOM victim hook\n");
			return -ENODEV;
		}
		pr_info("backend none (kernel has no OOM victim hook)\n");
		return 0;
	}
	ret = hook->start();
	if (ret) {
		pr_err("backend hook: oom_victim_ops_register failed (%d)\n",
		       ret);
		if (want_hook)
			return ret;
		pr_info("backend none (OOM victim hook busy)\n");
		return 0;
	}
	gs_active = hook;
	gs_started = true;
	pr_info("backend hook (oom_victim_ops v%d); a grace before memcg OOM kills needs sysctl vm.oom_victim_grace_max_ms > 0\n",
		hook->api);
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
