/* SPDX-License-Identifier: GPL-2.0 */
/*
 * graceful_shutdown: interfaces shared by the files of the module.
 *
 * main.c          module init/exit
 * parse.c         syntax of the lines written to the proc files (pure)
 * registry.c      the registration table (who gets which handler)
 * procfs.c        /proc/graceful_shutdown and /proc/graceful_shutdown_status
 * events.c        /proc/graceful_shutdown_events, the preallocated event ring
 * backend.c       backend selection (hook, none; a post-kill probe later)
 * backend_hook.c  struct oom_victim_ops of a patched kernel
 */
#ifndef GRACEFUL_SHUTDOWN_H
#define GRACEFUL_SHUTDOWN_H

#include <linux/types.h>

struct pid;
struct seq_file;
struct task_struct;

#define GS_VERSION		"0.1.0"

/* Handler path stored inline, NUL included: at most 255 characters. */
#define GS_PATH_MAX		256
#define GS_MAX_REGISTRATIONS	128
#define GS_MAX_EVENTS		64
/* One write() to /proc/graceful_shutdown: size, lines, length of a line. */
#define GS_WRITE_MAX		4096
#define GS_MAX_LINES		GS_MAX_REGISTRATIONS
#define GS_LINE_MAX		512
/* One write() to /proc/graceful_shutdown_events ("done ID\n"). */
#define GS_DONE_WRITE_MAX	64
#define GS_TIMEOUT_MIN_MS	1
#define GS_TIMEOUT_MAX_MS	60000
/* A kill this long after a grace's end still ends that grace (registry.c). */
#define GS_GRACE_KILL_SLACK_MS	10000
#define GS_TIMEOUT_DEFAULT_MS	3000
/* early=PCT: memory.high as a percentage of the cgroup's memory limit. */
#define GS_EARLY_MIN_PCT	50
#define GS_EARLY_MAX_PCT	99
/* reserve_kb=N: the kernel caps it by vm.oom_victim_reserve_max_kb too. */
#define GS_RESERVE_MAX_KB	1048576
/* caps=HEX: capability numbers 0..GS_CAP_LAST (CAP_CHECKPOINT_RESTORE). */
#define GS_CAP_LAST		40
/* Largest PID number of any configuration (PID_MAX_LIMIT on 64 bit). */
#define GS_PID_MAX		(4 * 1024 * 1024)
/* Longest event line, newline included (see events.c). */
#define GS_EVENT_LINE_MAX	768

/* parse.c */
enum gs_cmd_op {
	GS_CMD_REGISTER,
	GS_CMD_UNREGISTER,
};

/* then=: the early mode's policy once the handler has ended (runner). */
enum gs_then {
	GS_THEN_KILL,
	GS_THEN_TERM,
	GS_THEN_CONTINUE,
};

struct gs_cmd {
	enum gs_cmd_op op;
	unsigned int line;		/* line number in the write, from 1 */
	int nr;				/* PID as written (writer's namespace), 0 for a cgroup */
	const char *cgroup;		/* cgroup=PATH: a cgroup v2 path, else NULL */
	unsigned int timeout_ms;
	unsigned int reserve_kb;	/* 0: no reserve */
	int signal;			/* sent at grace start, 0: none */
	unsigned int early_pct;		/* early mode's threshold, 0: none */
	enum gs_then then;		/* early mode's policy */
	bool user_set;			/* user= given; else the process's owner */
	u32 uid;			/* the handler's user and group */
	u32 gid;
	u64 caps;			/* the handler's capabilities, 0: none */
	const char *path;		/* points into the write buffer */
	struct pid *pid;		/* set by procfs.c, reference held */
	struct cgroup *cgrp;		/* set by procfs.c for cgroup=, reference held */
	struct pid *rearm;		/* procfs.c: re-arm after the write, ref held */
};

int gs_parse_reg_write(char *buf, size_t len, struct gs_cmd *cmds,
		       unsigned int max_cmds, unsigned int *ncmds,
		       unsigned int *line, const char **why);
int gs_parse_done(char *buf, size_t len, u64 *id, const char **why);
int gs_check_path_syntax(const char *path, const char **why);
const char *gs_signal_name(int signal);
const char *gs_then_name(enum gs_then then);

/* What a registration asks for, as the OOM callbacks see it. */
struct gs_request {
	const char *path;
	unsigned int timeout_ms;
	unsigned int reserve_kb;
	int signal;
	u32 uid;
	u32 gid;
	u64 caps;
};

/* registry.c */
bool gs_pid_alive(struct pid *pid);
int gs_registry_apply(struct gs_cmd *cmds, unsigned int n,
		      unsigned int *bad, const char **why);
void gs_registry_show(struct seq_file *m);
unsigned int gs_registry_count(void);
unsigned int gs_registry_visit(struct task_struct *victim, bool spend,
			       unsigned int (*fn)(const struct gs_request *req,
						  void *arg),
			       void *arg);
bool gs_registry_recently_graced(struct task_struct *victim);
void gs_registry_exit(void);

/* procfs.c */
int gs_procfs_init(void);
void gs_procfs_exit(void);

/* events.c */
enum gs_reason {
	GS_REASON_MEMCG,
	GS_REASON_GLOBAL,
	GS_REASON_SYSRQ,
	GS_REASON_UNKNOWN,	/* backend notify without its kprobe */
};

struct gs_stats {
	bool runner;
	unsigned int queued;
	unsigned int waiting;
	u64 events_total;
	u64 events_dropped;
	u64 events_no_runner;
	u64 oom_selected;
	u64 oom_killed;
	u64 graces;
};

unsigned int gs_event_selected(struct task_struct *victim,
			       enum gs_reason reason, u64 oom_cgroup_id,
			       unsigned int *reserve_kb);
void gs_event_killed(struct task_struct *victim, enum gs_reason reason,
		     u64 oom_cgroup_id, bool graced);
void gs_events_registrations_changed(void);
void gs_events_get_stats(struct gs_stats *st);
int gs_events_init(void);
void gs_events_exit(void);

/* backend.c, backend_hook.c, backend_notify.c */
struct gs_backend {
	const char *name;
	int api;			/* OOM_VICTIM_OPS_VERSION, 0 if none */
	int (*start)(void);
	void (*stop)(void);
	/* NULL if the backend has no grace period to end. */
	bool (*end_grace)(struct task_struct *task);
	/* NULL if the backend cannot let a process have another grace. */
	bool (*rearm)(struct task_struct *task);
	/* The kernel lets a victim in grace charge into a reserve. */
	bool reserve;
};

const struct gs_backend *gs_backend_hook_get(void);
const struct gs_backend *gs_backend_notify_get(void);
int gs_backend_start(void);
void gs_backend_stop(void);
const char *gs_backend_name(void);
int gs_backend_api(void);
bool gs_backend_end_grace(struct task_struct *task);
void gs_backend_rearm(struct pid *tgid);
bool gs_backend_has_grace(void);
bool gs_backend_has_reserve(void);

#endif /* GRACEFUL_SHUTDOWN_H */
