// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/graceful_shutdown: register, unregister and list handlers.
 * /proc/graceful_shutdown_status: backend and counters, key=value lines.
 *
 * The registration file is mode 0600 and every open and write also
 * checks CAP_SYS_ADMIN. A write is parsed (parse.c), resolved here (the
 * PID must name a live process other than init, the handler must pass
 * the runner's path rules) and then applied to the table as a whole
 * (registry.c). Every rejected write returns an errno and logs one
 * rate-limited line.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/namei.h>
#include <linux/path.h>
#include <linux/pid.h>
#include <linux/proc_fs.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/uidgid.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/user_namespace.h>

#include "graceful_shutdown.h"

#define GS_PROC_REG	"graceful_shutdown"
#define GS_PROC_STATUS	"graceful_shutdown_status"

/* A registration names a live process (thread group leader's PID). */
static int gs_resolve_process(struct gs_cmd *cmd, const char **why)
{
	struct task_struct *task;
	struct pid *pid;
	int ret = 0;

	rcu_read_lock();
	pid = find_vpid(cmd->nr);
	task = pid ? pid_task(pid, PIDTYPE_TGID) : NULL;
	if (!task) {
		if (pid && pid_task(pid, PIDTYPE_PID))
			*why = "PID is a thread, not a process";
		else
			*why = "no such process";
		ret = -ESRCH;
	} else if (task->flags & PF_KTHREAD) {
		*why = "PID is a kernel thread";
		ret = -EINVAL;
	} else if (is_global_init(task)) {
		*why = "PID is init, which the OOM killer never kills";
		ret = -EINVAL;
	} else if (!atomic_read(&task->signal->live)) {
		*why = "process is exiting";
		ret = -ESRCH;
	} else {
		cmd->pid = get_pid(pid);
		if (!cmd->user_set) {
			/* The handler runs as the process's owner. */
			const struct cred *cred = __task_cred(task);

			cmd->uid = from_kuid(&init_user_ns, cred->uid);
			cmd->gid = from_kgid(&init_user_ns, cred->gid);
		}
	}
	rcu_read_unlock();
	return ret;
}

/*
 * One component of a handler path, PATH cut after it: never a symlink (nor
 * a /proc magic link such as /proc/PID/root), owned by root, not writable
 * by group or others; the handler itself also a regular file that its
 * owner may execute.
 */
static int gs_check_component(const char *name, bool handler,
			      const char **why)
{
	struct inode *inode;
	struct path path;
	int ret;

	ret = kern_path(name, LOOKUP_NO_SYMLINKS, &path);
	if (ret == -ELOOP) {
		*why = "a symlink on the way to the handler";
		return -EINVAL;
	}
	if (ret) {
		*why = "handler path cannot be resolved";
		return ret;
	}
	inode = d_inode(path.dentry);
	if (d_is_symlink(path.dentry)) {
		*why = handler ? "handler is a symlink" :
				 "a symlink on the way to the handler";
		ret = -EINVAL;
	} else if (handler && !d_is_reg(path.dentry)) {
		*why = "handler is not a regular file";
		ret = -EINVAL;
	} else if (!uid_eq(inode->i_uid, GLOBAL_ROOT_UID)) {
		*why = handler ? "handler is not owned by root" :
				 "a directory on the way is not owned by root";
		ret = -EACCES;
	} else if (inode->i_mode & 0022) {
		*why = handler ? "handler is writable by group or others" :
				 "a directory on the way is writable by group or others";
		ret = -EACCES;
	} else if (handler && !(inode->i_mode & 0100)) {
		*why = "handler is not executable";
		ret = -EACCES;
	}
	path_put(&path);
	return ret;
}

/*
 * Refuse now what the runner would refuse every time: the same rules on
 * "/", every directory on the way and the handler. The runner still
 * checks before each run, because files change after registration.
 */
static int gs_check_handler(const char *name, const char **why)
{
	char prefix[GS_PATH_MAX];
	const char *slash;
	int ret;

	ret = gs_check_component("/", false, why);
	for (slash = strchr(name + 1, '/'); !ret && slash;
	     slash = strchr(slash + 1, '/')) {
		size_t len = slash - name;

		if (len >= sizeof(prefix))
			return -ENAMETOOLONG;	/* parse.c bounds the path */
		memcpy(prefix, name, len);
		prefix[len] = '\0';
		ret = gs_check_component(prefix, false, why);
	}
	return ret ? ret : gs_check_component(name, true, why);
}

/* cgroup=CGROUP: a cgroup v2 directory, from the writer's cgroup namespace root. */
static int gs_resolve_cgroup(struct gs_cmd *cmd, const char **why)
{
	struct cgroup *cgrp = cgroup_get_from_path(cmd->cgroup);

	if (IS_ERR(cgrp)) {
		*why = PTR_ERR(cgrp) == -ENOTDIR ? "cgroup path is not a directory" :
						   "no such cgroup";
		return PTR_ERR(cgrp);
	}
	cmd->cgrp = cgrp;
	return 0;
}

static int gs_resolve(struct gs_cmd *cmd, const char **why)
{
	int ret;

	BUILD_BUG_ON(GS_CAP_LAST > CAP_LAST_CAP);
	if (cmd->op == GS_CMD_UNREGISTER) {
		/* NULL if no such PID or cgroup: the registry answers -ENOENT. */
		if (cmd->cgroup) {
			gs_resolve_cgroup(cmd, why);
			return 0;
		}
		rcu_read_lock();
		cmd->pid = get_pid(find_vpid(cmd->nr));
		rcu_read_unlock();
		return 0;
	}
	if (cmd->signal && !gs_backend_has_grace()) {
		*why = "signal= needs a grace period: backend hook (patched kernel)";
		return -EOPNOTSUPP;
	}
	if (cmd->reserve_kb && !gs_backend_has_reserve()) {
		*why = "reserve_kb= needs a patched kernel with oom_victim_ops v3 or later";
		return -EOPNOTSUPP;
	}
	/* A cgroup's handler runs as the owner of its victim, known at OOM time. */
	ret = cmd->cgroup ? gs_resolve_cgroup(cmd, why) : gs_resolve_process(cmd, why);
	if (ret)
		return ret;
	return gs_check_handler(cmd->path, why);
}

static ssize_t gs_reg_write(struct file *file, const char __user *ubuf,
			    size_t count, loff_t *ppos)
{
	unsigned int n = 0, line = 0, bad, i;
	struct gs_cmd *cmds = NULL;
	const char *why = "";
	char *buf = NULL;
	int ret;

	if (!capable(CAP_SYS_ADMIN)) {
		why = "writer lacks CAP_SYS_ADMIN";
		ret = -EPERM;
		goto out;
	}
	if (!count)
		return 0;
	if (count > GS_WRITE_MAX) {
		why = "write larger than 4096 bytes";
		ret = -E2BIG;
		goto out;
	}
	buf = memdup_user_nul(ubuf, count);
	if (IS_ERR(buf)) {
		ret = PTR_ERR(buf);
		buf = NULL;
		why = "cannot copy the write";
		goto out;
	}
	cmds = kcalloc(GS_MAX_LINES, sizeof(*cmds), GFP_KERNEL);
	if (!cmds) {
		why = "out of memory";
		ret = -ENOMEM;
		goto out;
	}
	ret = gs_parse_reg_write(buf, count, cmds, GS_MAX_LINES, &n, &line,
				 &why);
	if (ret)
		goto out;
	for (i = 0; i < n; i++) {
		line = cmds[i].line;
		ret = gs_resolve(&cmds[i], &why);
		if (ret)
			goto out;
		if (cmds[i].op == GS_CMD_REGISTER && cmds[i].pid)
			cmds[i].rearm = get_pid(cmds[i].pid);
	}
	ret = gs_registry_apply(cmds, n, &bad, &why);
	if (ret)
		line = cmds[bad].line;
	/* Each registration is good for one grace: a new one re-arms. */
	for (i = 0; !ret && i < n; i++) {
		if (cmds[i].rearm)
			gs_backend_rearm(cmds[i].rearm);
	}
	if (!ret)
		gs_events_registrations_changed();
out:
	for (i = 0; i < n; i++) {
		put_pid(cmds[i].pid);
		put_pid(cmds[i].rearm);
		if (cmds[i].cgrp)
			cgroup_put(cmds[i].cgrp);
	}
	kfree(cmds);
	kfree(buf);
	if (!ret)
		return count;
	if (line)
		pr_warn_ratelimited("rejected write to /proc/%s (line %u): %s (errno %d)\n",
				    GS_PROC_REG, line, why, -ret);
	else	/* the whole write: no line to name */
		pr_warn_ratelimited("rejected write to /proc/%s: %s (errno %d)\n",
				    GS_PROC_REG, why, -ret);
	return ret;
}

static int gs_reg_show(struct seq_file *m, void *v)
{
	gs_registry_show(m);
	return 0;
}

static int gs_reg_open(struct inode *inode, struct file *file)
{
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	return single_open(file, gs_reg_show, NULL);
}

static const struct proc_ops gs_reg_proc_ops = {
	.proc_open	= gs_reg_open,
	.proc_read	= seq_read,
	.proc_lseek	= seq_lseek,
	.proc_release	= single_release,
	.proc_write	= gs_reg_write,
};

static int gs_status_show(struct seq_file *m, void *v)
{
	struct gs_stats st;

	gs_events_get_stats(&st);
	seq_printf(m, "backend=%s\n", gs_backend_name());
	seq_printf(m, "hook_api=%d\n", gs_backend_api());
	seq_printf(m, "version=%s\n", GS_VERSION);
	seq_printf(m, "runner=%d\n", st.runner);
	seq_printf(m, "registrations=%u\n", gs_registry_count());
	seq_printf(m, "registrations_max=%d\n", GS_MAX_REGISTRATIONS);
	seq_printf(m, "events_max=%d\n", GS_MAX_EVENTS);
	seq_printf(m, "events_queued=%u\n", st.queued);
	seq_printf(m, "events_waiting=%u\n", st.waiting);
	seq_printf(m, "events_total=%llu\n", st.events_total);
	seq_printf(m, "events_dropped=%llu\n", st.events_dropped);
	seq_printf(m, "events_no_runner=%llu\n", st.events_no_runner);
	seq_printf(m, "oom_selected=%llu\n", st.oom_selected);
	seq_printf(m, "oom_killed=%llu\n", st.oom_killed);
	seq_printf(m, "graces=%llu\n", st.graces);
	return 0;
}

int gs_procfs_init(void)
{
	if (!proc_create(GS_PROC_REG, 0600, NULL, &gs_reg_proc_ops))
		return -ENOMEM;
	if (!proc_create_single(GS_PROC_STATUS, 0400, NULL, gs_status_show)) {
		remove_proc_entry(GS_PROC_REG, NULL);
		return -ENOMEM;
	}
	return 0;
}

/* remove_proc_entry() waits for readers and writers still inside. */
void gs_procfs_exit(void)
{
	remove_proc_entry(GS_PROC_STATUS, NULL);
	remove_proc_entry(GS_PROC_REG, NULL);
}
