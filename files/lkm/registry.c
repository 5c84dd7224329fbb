// SPDX-License-Identifier: GPL-2.0
/*
 * The registration table: which process gets which handler.
 *
 * A fixed array allocated with the module. An entry holds a reference to
 * the struct pid of the thread group, never a bare number, so a reused PID
 * can never match a stale entry: the OOM callbacks compare it with
 * task_tgid(victim). An entry may instead hold a reference to a cgroup v2
 * (cgroup=): it covers every process in that cgroup and its descendants
 * that has no entry of its own, the nearest cgroup first. Entries of dead
 * processes, of removed cgroups and spent entries (used by an OOM kill)
 * are dropped in process context, when the table is read or written.
 *
 * gs_reg_lock is a spinlock because the OOM callbacks take it (oom_lock
 * held, no sleeping). Nothing allocates while holding it. Lock order:
 * gs_reg_lock, then gs_ev_lock (events.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/jiffies.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/user_namespace.h>

#include "graceful_shutdown.h"

enum gs_reg_state {
	GS_REG_FREE = 0,
	GS_REG_LIVE,
	GS_REG_SPENT,	/* used by an OOM kill, freed at the next prune */
};

struct gs_reg {
	enum gs_reg_state state;
	struct pid *pid;		/* thread group, reference held; or */
	struct cgroup *cgrp;		/* a cgroup, reference held */
	char cgroup_path[GS_PATH_MAX];	/* as written, for the listing */
	unsigned int timeout_ms;
	unsigned int reserve_kb;
	int signal;
	unsigned int early_pct;		/* early mode (runner), 0: none */
	enum gs_then then;
	bool user_set;			/* user= given (listed) */
	u32 uid;			/* the handler's user and group */
	u32 gid;
	u64 caps;			/* the handler's capabilities */
	bool graced;			/* a grace was granted since it was written */
	unsigned long grace_end;	/* jiffies: when that grace ends at the latest */
	char path[GS_PATH_MAX];
};

static struct gs_reg gs_regs[GS_MAX_REGISTRATIONS];
static DEFINE_SPINLOCK(gs_reg_lock);

/* True while at least one thread of the process has not exited. */
bool gs_pid_alive(struct pid *pid)
{
	struct task_struct *task;
	bool alive;

	rcu_read_lock();
	task = pid_task(pid, PIDTYPE_TGID);
	alive = task && atomic_read(&task->signal->live) > 0;
	rcu_read_unlock();
	return alive;
}

/* Process context only: put_pid() is kept out of the OOM path. */
static void gs_reg_clear(struct gs_reg *reg)
{
	put_pid(reg->pid);
	reg->pid = NULL;
	if (reg->cgrp)
		cgroup_put(reg->cgrp);
	reg->cgrp = NULL;
	reg->cgroup_path[0] = '\0';
	reg->timeout_ms = 0;
	reg->reserve_kb = 0;
	reg->signal = 0;
	reg->early_pct = 0;
	reg->then = GS_THEN_KILL;
	reg->user_set = false;
	reg->uid = 0;
	reg->gid = 0;
	reg->caps = 0;
	reg->graced = false;
	reg->path[0] = '\0';
	reg->state = GS_REG_FREE;
}

/*
 * rmdir (cgroup_destroy_locked()) clears CSS_ONLINE of the cgroup's own css.
 * Not css_is_dying(): in 6.12 it tests CSS_DYING, which only the csses of
 * controllers get, never a cgroup's own (seen on 6.12: never true).
 */
static bool gs_cgroup_removed(struct cgroup *cgrp)
{
	return !(READ_ONCE(cgrp->self.flags) & CSS_ONLINE);
}

static void gs_registry_prune_locked(void)
{
	unsigned int i;

	lockdep_assert_held(&gs_reg_lock);
	for (i = 0; i < GS_MAX_REGISTRATIONS; i++) {
		struct gs_reg *reg = &gs_regs[i];

		if (reg->state == GS_REG_SPENT ||
		    (reg->state == GS_REG_LIVE && reg->pid && !gs_pid_alive(reg->pid)) ||
		    (reg->state == GS_REG_LIVE && reg->cgrp && gs_cgroup_removed(reg->cgrp)))
			gs_reg_clear(reg);
	}
}

/* The live entry of process @pid, or else of cgroup @cgrp (both may be NULL). */
static struct gs_reg *gs_registry_find_locked(struct pid *pid,
					      struct cgroup *cgrp)
{
	unsigned int i;

	lockdep_assert_held(&gs_reg_lock);
	if (!pid && !cgrp)
		return NULL;
	for (i = 0; i < GS_MAX_REGISTRATIONS; i++) {
		struct gs_reg *reg = &gs_regs[i];

		if (reg->state == GS_REG_LIVE &&
		    (pid ? reg->pid == pid : reg->cgrp == cgrp))
			return reg;
	}
	return NULL;
}

/*
 * OOM callback context: the entry that covers @victim, its own or that of
 * its nearest registered cgroup. rcu keeps the cgroups of the walk alive.
 */
static struct gs_reg *gs_registry_match_locked(struct task_struct *victim)
{
	struct gs_reg *reg = gs_registry_find_locked(task_tgid(victim), NULL);
	struct cgroup *cgrp;

	rcu_read_lock();
	for (cgrp = task_dfl_cgroup(victim); !reg && cgrp;
	     cgrp = cgroup_parent(cgrp))
		reg = gs_registry_find_locked(NULL, cgrp);
	rcu_read_unlock();
	return reg;
}

static struct gs_reg *gs_registry_free_slot_locked(void)
{
	unsigned int i;

	for (i = 0; i < GS_MAX_REGISTRATIONS; i++) {
		if (gs_regs[i].state == GS_REG_FREE)
			return &gs_regs[i];
	}
	return NULL;
}

static unsigned int gs_registry_used_locked(void)
{
	unsigned int i, used = 0;

	for (i = 0; i < GS_MAX_REGISTRATIONS; i++) {
		if (gs_regs[i].state != GS_REG_FREE)
			used++;
	}
	return used;
}

/*
 * Apply a parsed and resolved write: all commands or none. Commands are
 * checked in order as if applied one by one (no PID appears twice, the
 * parser guarantees that). On success the references in cmds[].pid that
 * the table took over are set to NULL; the caller puts the others. On
 * error *@bad is the index of the failing command.
 */
int gs_registry_apply(struct gs_cmd *cmds, unsigned int n,
		      unsigned int *bad, const char **why)
{
	unsigned int i, used;
	struct gs_reg *reg;
	int ret = 0;

	spin_lock(&gs_reg_lock);
	gs_registry_prune_locked();
	used = gs_registry_used_locked();
	for (i = 0; i < n; i++) {
		reg = gs_registry_find_locked(cmds[i].pid, cmds[i].cgrp);
		if (cmds[i].op == GS_CMD_UNREGISTER) {
			if (!reg) {
				*why = "no registration for this PID or cgroup";
				ret = -ENOENT;
				break;
			}
			used--;
		} else if (!reg && ++used > GS_MAX_REGISTRATIONS) {
			*why = "registration table full (128 entries)";
			ret = -ENOSPC;
			break;
		}
	}
	if (ret) {
		*bad = i;
		goto out;
	}

	for (i = 0; i < n; i++) {
		reg = gs_registry_find_locked(cmds[i].pid, cmds[i].cgrp);
		if (cmds[i].op == GS_CMD_UNREGISTER) {
			gs_reg_clear(reg);
			continue;
		}
		if (!reg) {
			reg = gs_registry_free_slot_locked();
			if (WARN_ON_ONCE(!reg))
				continue;
			reg->pid = cmds[i].pid;
			cmds[i].pid = NULL;
			reg->cgrp = cmds[i].cgrp;
			cmds[i].cgrp = NULL;
			if (reg->cgrp)
				strscpy(reg->cgroup_path, cmds[i].cgroup,
					sizeof(reg->cgroup_path));
		}
		/* A re-registration replaces the entry in place. */
		reg->timeout_ms = cmds[i].timeout_ms;
		reg->reserve_kb = cmds[i].reserve_kb;
		reg->signal = cmds[i].signal;
		reg->early_pct = cmds[i].early_pct;
		reg->then = cmds[i].then;
		reg->user_set = cmds[i].user_set;
		reg->uid = cmds[i].uid;
		reg->gid = cmds[i].gid;
		reg->caps = cmds[i].caps;
		reg->graced = false;
		strscpy(reg->path, cmds[i].path, sizeof(reg->path));
		reg->state = GS_REG_LIVE;
	}
out:
	spin_unlock(&gs_reg_lock);
	return ret;
}

/*
 * One line per live registration: "PID PATH timeout_ms=N", then
 * " signal=NAME", " reserve_kb=N", " early=PCT then=POLICY", " user=UID:GID"
 * and " caps=HEX" when the registration has them (the runner reads the
 * early ones from here).
 */
void gs_registry_show(struct seq_file *m)
{
	unsigned int i;

	spin_lock(&gs_reg_lock);
	gs_registry_prune_locked();
	for (i = 0; i < GS_MAX_REGISTRATIONS; i++) {
		struct gs_reg *reg = &gs_regs[i];
		pid_t nr;

		if (reg->state != GS_REG_LIVE)
			continue;
		if (reg->cgrp) {
			seq_printf(m, "cgroup=%s", reg->cgroup_path);
		} else {
			/* 0: the process is not visible in the reader's namespace. */
			nr = pid_vnr(reg->pid);
			if (!nr)
				continue;
			seq_printf(m, "%d", nr);
		}
		seq_printf(m, " %s timeout_ms=%u", reg->path, reg->timeout_ms);
		if (reg->signal)
			seq_printf(m, " signal=%s", gs_signal_name(reg->signal));
		if (reg->reserve_kb)
			seq_printf(m, " reserve_kb=%u", reg->reserve_kb);
		if (reg->early_pct)
			seq_printf(m, " early=%u then=%s", reg->early_pct,
				   gs_then_name(reg->then));
		if (reg->user_set)
			seq_printf(m, " user=%u:%u", reg->uid, reg->gid);
		if (reg->caps)
			seq_printf(m, " caps=%llx", reg->caps);
		seq_putc(m, '\n');
	}
	spin_unlock(&gs_reg_lock);
}

unsigned int gs_registry_count(void)
{
	unsigned int used;

	spin_lock(&gs_reg_lock);
	gs_registry_prune_locked();
	used = gs_registry_used_locked();
	spin_unlock(&gs_reg_lock);
	return used;
}

/*
 * OOM callback context (oom_lock held, no sleeping, no allocation): if
 * @victim is registered (itself or a cgroup it is in), call @fn (may be NULL) with its
 * handler while gs_reg_lock is held; @fn may take gs_ev_lock and nothing
 * else. With @spend the registration is used up (its process is being
 * killed): the entry is only marked, the next prune releases it.
 * Returns what @fn returned, 0 if not registered.
 */
unsigned int gs_registry_visit(struct task_struct *victim, bool spend,
			       unsigned int (*fn)(const struct gs_request *req,
						  void *arg),
			       void *arg)
{
	unsigned int ret = 0;
	struct gs_reg *reg;

	spin_lock(&gs_reg_lock);
	reg = gs_registry_match_locked(victim);
	if (reg) {
		if (fn) {
			struct gs_request req = {
				.path = reg->path,
				.timeout_ms = reg->timeout_ms,
				.reserve_kb = reg->reserve_kb,
				.signal = reg->signal,
				.uid = reg->uid,
				.gid = reg->gid,
				.caps = reg->caps,
			};

			if (reg->cgrp && !reg->user_set) {
				/* a cgroup's handler runs as the victim's owner */
				const struct cred *cred;

				rcu_read_lock();
				cred = __task_cred(victim);
				req.uid = from_kuid(&init_user_ns, cred->uid);
				req.gid = from_kgid(&init_user_ns, cred->gid);
				rcu_read_unlock();
			}
			ret = fn(&req, arg);
		}
		if (spend) {
			reg->state = GS_REG_SPENT;
		} else if (ret) {
			reg->graced = true;
			reg->grace_end = jiffies + msecs_to_jiffies(ret);
		}
	}
	spin_unlock(&gs_reg_lock);
	return ret;
}

/*
 * OOM callback context: true if @victim's entry granted a grace, since it was last
 * registered, that ended less than GS_GRACE_KILL_SLACK_MS ago.  The kernel
 * (OOM_VICTIM_OPS_VERSION 2) calls a grace spent one second after its end;
 * a kill that follows a grace after a long reclaim can come later than that
 * and be reported as not graced.  It is still the end of that grace: no
 * second handler run for it.
 */
bool gs_registry_recently_graced(struct task_struct *victim)
{
	struct gs_reg *reg;
	bool recent = false;

	spin_lock(&gs_reg_lock);
	reg = gs_registry_match_locked(victim);
	if (reg && reg->graced)
		recent = time_before(jiffies, reg->grace_end +
				     msecs_to_jiffies(GS_GRACE_KILL_SLACK_MS));
	spin_unlock(&gs_reg_lock);
	return recent;
}

/* Module exit: the proc files and the backend are gone already. */
void gs_registry_exit(void)
{
	unsigned int i;

	spin_lock(&gs_reg_lock);
	for (i = 0; i < GS_MAX_REGISTRATIONS; i++) {
		if (gs_regs[i].state != GS_REG_FREE)
			gs_reg_clear(&gs_regs[i]);
	}
	spin_unlock(&gs_reg_lock);
}
