// SPDX-License-Identifier: GPL-2.0
/*
 * graceful_shutdown: run a registered user-space handler when the OOM
 * killer picks a process: before the kill for memory cgroup OOMs (patched
 * kernel with struct oom_victim_ops), right after it otherwise.
 *
 * Part of the Ansible collection oom.graceful_shutdown; see docs/lkm.md.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

#include "graceful_shutdown.h"

static int __init gs_init(void)
{
	int ret;

	ret = gs_procfs_init();
	if (ret)
		return ret;
	ret = gs_events_init();
	if (ret)
		goto err_procfs;
	ret = gs_backend_start();
	if (ret)
		goto err_events;
	pr_info("version %s loaded\n", GS_VERSION);
	return 0;

err_events:
	gs_events_exit();
err_procfs:
	gs_procfs_exit();
	gs_registry_exit();
	return ret;
}

/*
 * The backend first, so that no OOM callback runs any more; then the
 * proc files (remove_proc_entry() waits for calls in flight and closes
 * the runner's file, which ends pending graces); then the tables.
 */
static void __exit gs_exit(void)
{
	gs_backend_stop();
	gs_events_exit();
	gs_procfs_exit();
	gs_registry_exit();
	pr_info("unloaded\n");
}

module_init(gs_init);
module_exit(gs_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Graceful shutdown handlers for OOM victims");
MODULE_AUTHOR("oom.graceful_shutdown contributors");
MODULE_VERSION(GS_VERSION);
