// SPDX-License-Identifier: GPL-2.0
/*
 * Syntax of the lines written to /proc/graceful_shutdown and
 * /proc/graceful_shutdown_events. Plain string handling without kernel
 * state, so that tests/parse_unit.c can build this file in user space.
 *
 * Registration file, one command per line, several lines per write:
 *   PID PATH                    register (the prototype's format)
 *   PID PATH [OPTION]...        register with options, each at most once:
 *     timeout_ms=N              the handler's timeout and grace (1..60000)
 *     signal=NAME               sent to the process when its grace starts:
 *                               HUP, INT, QUIT, USR1, USR2 or TERM
 *     reserve_kb=N              what the process may charge over its memcg's
 *                               limit during its grace (0..1048576)
 *     early=PCT                 early mode where the kernel has no grace (a
 *                               stock kernel): the runner sets memory.high of
 *                               the process's cgroup to PCT (50..99) percent
 *                               of its memory limit and runs the handler when
 *                               it is crossed, before any OOM kill
 *     then=POLICY               with early: what the runner does to the
 *                               process when the handler has ended or run out
 *                               of time: kill (default), term or continue
 *     user=UID:GID              the handler's user and group (default: the
 *                               process's owner when it was registered)
 *     caps=HEX                  the capabilities the handler keeps, a mask
 *                               of capability numbers (default: none)
 *   -PID                        unregister
 *   cgroup=CGROUP PATH [OPTION]...
 *                               register every process of a cgroup v2 (and of
 *                               its descendants): CGROUP is its path from the
 *                               cgroup2 root, e.g. /system.slice/x.service;
 *                               early= is for a process only
 *   -cgroup=CGROUP              unregister it
 * Fields are separated by blanks (space or tab); a PATH cannot contain
 * blanks. Every line is checked before anything is applied.
 */
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/types.h>

#include "graceful_shutdown.h"

/* The options of a registration line: bit N of a parse's "seen" mask. */
enum gs_option {
	GS_OPT_TIMEOUT,
	GS_OPT_SIGNAL,
	GS_OPT_RESERVE,
	GS_OPT_EARLY,
	GS_OPT_THEN,
	GS_OPT_USER,
	GS_OPT_CAPS,
	GS_MAX_OPTIONS
};

/* The signals a registration may ask for, by name (no SIG prefix). */
static const struct {
	const char *name;
	int nr;
} gs_signals[] = {
	{ "HUP", 1 }, { "INT", 2 }, { "QUIT", 3 },
	{ "USR1", 10 }, { "USR2", 12 }, { "TERM", 15 },
};

const char *gs_signal_name(int signal)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(gs_signals); i++)
		if (gs_signals[i].nr == signal)
			return gs_signals[i].name;
	return "?";
}

static bool gs_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * A decimal number made of digits only: no sign, no blanks, no base
 * prefix. -EINVAL if malformed, -ERANGE if larger than @max.
 */
static int gs_parse_uint(const char *s, u64 max, u64 *out)
{
	bool big = false;
	u64 v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned int d;

		if (*s < '0' || *s > '9')
			return -EINVAL;
		d = *s - '0';
		if (big || v > (max - d) / 10)
			big = true;
		else
			v = v * 10 + d;
	}
	if (big)
		return -ERANGE;
	*out = v;
	return 0;
}

/* Control characters other than the tab separator are never valid. */
static int gs_check_chars(const char *s, const char **why)
{
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '\t')
			continue;
		if (c < 0x20 || c == 0x7f) {
			*why = "control character in line";
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Split @s in place at runs of blanks. Returns the number of tokens, or
 * @max + 1 if there are more than @max.
 */
static unsigned int gs_tokenize(char *s, char **tok, unsigned int max)
{
	unsigned int n = 0;

	for (;;) {
		while (gs_is_blank(*s))
			s++;
		if (!*s)
			return n;
		if (n == max)
			return max + 1;
		tok[n++] = s;
		while (*s && !gs_is_blank(*s))
			s++;
		if (*s)
			*s++ = '\0';
	}
}

/* True if @path has a ".." component. */
static bool gs_has_dotdot(const char *path)
{
	const char *p = path;

	while (*p) {
		const char *end;

		while (*p == '/')
			p++;
		end = p;
		while (*end && *end != '/')
			end++;
		if (end - p == 2 && p[0] == '.' && p[1] == '.')
			return true;
		p = end;
	}
	return false;
}

int gs_check_path_syntax(const char *path, const char **why)
{
	if (strlen(path) >= GS_PATH_MAX) {
		*why = "handler path longer than 255 characters";
		return -ENAMETOOLONG;
	}
	if (path[0] != '/') {
		*why = "handler path is not absolute";
		return -EINVAL;
	}
	if (gs_has_dotdot(path)) {
		*why = "handler path has a '..' component";
		return -EINVAL;
	}
	return 0;
}

static int gs_parse_pid(const char *s, int *nr, int range_err,
			const char **why)
{
	u64 v = 0;
	int ret;

	ret = gs_parse_uint(s, GS_PID_MAX, &v);
	if (ret == -ERANGE) {
		*why = "PID larger than any possible PID";
		return range_err;
	}
	if (ret || v == 0) {
		*why = "malformed PID (expected a positive decimal number)";
		return -EINVAL;
	}
	*nr = (int)v;
	return 0;
}

/* A cgroup v2 path from the cgroup2 root: absolute, no "..", not the root. */
static int gs_check_cgroup_syntax(const char *path, const char **why)
{
	if (strlen(path) >= GS_PATH_MAX) {
		*why = "cgroup path longer than 255 characters";
		return -ENAMETOOLONG;
	}
	if (path[0] != '/') {
		*why = "cgroup path is not absolute (from the cgroup2 root)";
		return -EINVAL;
	}
	if (!path[strspn(path, "/")]) {
		*why = "the root cgroup holds every process: register a cgroup below it";
		return -EINVAL;
	}
	if (gs_has_dotdot(path)) {
		*why = "cgroup path has a '..' component";
		return -EINVAL;
	}
	return 0;
}

/* @s is "KEY=VALUE": the value if KEY is @key, else NULL. */
static const char *gs_option_value(const char *s, const char *key)
{
	size_t klen = strlen(key);

	if (strncmp(s, key, klen) || s[klen] != '=')
		return NULL;
	return s + klen + 1;
}

/* What a line registers: "PID" or "cgroup=CGROUP". */
static int gs_parse_target(const char *s, struct gs_cmd *cmd, int range_err,
			   const char **why)
{
	const char *cgroup = gs_option_value(s, "cgroup");

	if (!cgroup)
		return gs_parse_pid(s, &cmd->nr, range_err, why);
	cmd->cgroup = cgroup;
	return gs_check_cgroup_syntax(cgroup, why);
}

/* A decimal option value in @min..@max; @malformed and @range say what is wrong. */
static int gs_opt_uint(const char *v, u64 min, u64 max, const char *malformed,
		       const char *range, unsigned int *out, const char **why)
{
	u64 n = 0;
	int ret;

	ret = gs_parse_uint(v, max, &n);
	if (ret == -EINVAL) {
		*why = malformed;
		return -EINVAL;
	}
	if (ret || n < min) {
		*why = range;
		return -ERANGE;
	}
	*out = (unsigned int)n;
	return 0;
}

static int gs_opt_timeout(const char *v, struct gs_cmd *cmd, const char **why)
{
	return gs_opt_uint(v, GS_TIMEOUT_MIN_MS, GS_TIMEOUT_MAX_MS,
			   "malformed timeout_ms (expected a decimal number)",
			   "timeout_ms out of range 1..60000",
			   &cmd->timeout_ms, why);
}

static int gs_opt_reserve(const char *v, struct gs_cmd *cmd, const char **why)
{
	return gs_opt_uint(v, 0, GS_RESERVE_MAX_KB,
			   "malformed reserve_kb (expected a decimal number)",
			   "reserve_kb out of range 0..1048576",
			   &cmd->reserve_kb, why);
}

static int gs_opt_signal(const char *v, struct gs_cmd *cmd, const char **why)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(gs_signals); i++) {
		if (!strcmp(v, gs_signals[i].name)) {
			cmd->signal = gs_signals[i].nr;
			return 0;
		}
	}
	*why = "unknown signal (expected HUP, INT, QUIT, USR1, USR2 or TERM)";
	return -EINVAL;
}

static int gs_opt_early(const char *v, struct gs_cmd *cmd, const char **why)
{
	return gs_opt_uint(v, GS_EARLY_MIN_PCT, GS_EARLY_MAX_PCT,
			   "malformed early (expected a percentage, 50..99)",
			   "early out of range 50..99",
			   &cmd->early_pct, why);
}

static const char * const gs_then_names[] = {
	[GS_THEN_KILL] = "kill",
	[GS_THEN_TERM] = "term",
	[GS_THEN_CONTINUE] = "continue",
};

const char *gs_then_name(enum gs_then then)
{
	return then < ARRAY_SIZE(gs_then_names) ? gs_then_names[then] : "?";
}

static int gs_opt_then(const char *v, struct gs_cmd *cmd, const char **why)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(gs_then_names); i++) {
		if (!strcmp(v, gs_then_names[i])) {
			cmd->then = i;
			return 0;
		}
	}
	*why = "unknown then (expected kill, term or continue)";
	return -EINVAL;
}

/* "UID:GID", two decimal IDs; 4294967295 is (uid_t)-1, never a user. */
static int gs_opt_user(const char *v, struct gs_cmd *cmd, const char **why)
{
	const char *colon = strchr(v, ':');
	u64 u = 0, g = 0;
	char uid[12];
	size_t ulen;

	*why = "malformed user (expected UID:GID, two decimal numbers)";
	if (!colon)
		return -EINVAL;
	ulen = colon - v;
	if (ulen >= sizeof(uid))
		return -EINVAL;
	memcpy(uid, v, ulen);
	uid[ulen] = '\0';
	if (gs_parse_uint(uid, 0xfffffffeULL, &u) ||
	    gs_parse_uint(colon + 1, 0xfffffffeULL, &g))
		return -EINVAL;
	cmd->user_set = true;
	cmd->uid = (u32)u;
	cmd->gid = (u32)g;
	return 0;
}

/* A hexadecimal mask of capability numbers 0..GS_CAP_LAST, not 0. */
static int gs_opt_caps(const char *v, struct gs_cmd *cmd, const char **why)
{
	u64 mask = 0;
	size_t len = strlen(v);

	*why = "malformed caps (expected a hexadecimal mask of capability numbers 0..40)";
	if (!len || len > 16)
		return -EINVAL;
	for (; *v; v++) {
		unsigned int d;

		if (*v >= '0' && *v <= '9')
			d = *v - '0';
		else if (*v >= 'a' && *v <= 'f')
			d = *v - 'a' + 10;
		else
			return -EINVAL;
		mask = mask << 4 | d;
	}
	if (!mask || mask >> (GS_CAP_LAST + 1))
		return -EINVAL;
	cmd->caps = mask;
	return 0;
}

static const struct {
	const char *key;
	int (*parse)(const char *v, struct gs_cmd *cmd, const char **why);
} gs_options[GS_MAX_OPTIONS] = {
	[GS_OPT_TIMEOUT] = { "timeout_ms", gs_opt_timeout },
	[GS_OPT_SIGNAL] = { "signal", gs_opt_signal },
	[GS_OPT_RESERVE] = { "reserve_kb", gs_opt_reserve },
	[GS_OPT_EARLY] = { "early", gs_opt_early },
	[GS_OPT_THEN] = { "then", gs_opt_then },
	[GS_OPT_USER] = { "user", gs_opt_user },
	[GS_OPT_CAPS] = { "caps", gs_opt_caps },
};

/* One OPTION of a registration line; bit i of *@seen: gs_options[i] given. */
static int gs_parse_option(const char *s, struct gs_cmd *cmd,
			   unsigned int *seen, const char **why)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(gs_options); i++) {
		const char *v = gs_option_value(s, gs_options[i].key);

		if (!v)
			continue;
		if (*seen & (1U << i)) {
			*why = "option given twice";
			return -EINVAL;
		}
		*seen |= 1U << i;
		return gs_options[i].parse(v, cmd, why);
	}
	*why = "unknown option (timeout_ms, signal, reserve_kb, early, then, user, caps)";
	return -EINVAL;
}

static int gs_parse_reg_line(char *line, struct gs_cmd *cmd, const char **why)
{
	size_t len = strlen(line);
	unsigned int n, i, seen = 0;
	char *tok[2 + GS_MAX_OPTIONS];
	int ret;

	ret = gs_check_chars(line, why);
	if (ret)
		return ret;
	n = gs_tokenize(line, tok, ARRAY_SIZE(tok));
	if (n == 0) {
		*why = "blank line";
		return -EINVAL;
	}
	cmd->timeout_ms = GS_TIMEOUT_DEFAULT_MS;
	cmd->reserve_kb = 0;
	cmd->signal = 0;
	cmd->early_pct = 0;
	cmd->then = GS_THEN_KILL;
	cmd->user_set = false;
	cmd->uid = 0;
	cmd->gid = 0;
	cmd->caps = 0;
	cmd->path = NULL;
	cmd->cgroup = NULL;
	cmd->nr = 0;
	cmd->pid = NULL;
	cmd->cgrp = NULL;

	if (tok[0][0] == '-') {
		cmd->op = GS_CMD_UNREGISTER;
		ret = gs_parse_target(tok[0] + 1, cmd, -ENOENT, why);
		if (ret)
			return ret;
		if (n != 1) {
			*why = "unexpected text after -PID or -cgroup=CGROUP";
			return -EINVAL;
		}
	} else {
		cmd->op = GS_CMD_REGISTER;
		ret = gs_parse_target(tok[0], cmd, -ESRCH, why);
		if (ret)
			return ret;
		if (n < 2) {
			*why = "missing handler path (expected PID PATH)";
			return -EINVAL;
		}
		if (n > ARRAY_SIZE(tok)) {
			*why = "more than seven options";
			return -EINVAL;
		}
		ret = gs_check_path_syntax(tok[1], why);
		if (ret)
			return ret;
		cmd->path = tok[1];
		for (i = 2; i < n; i++) {
			ret = gs_parse_option(tok[i], cmd, &seen, why);
			if (ret)
				return ret;
		}
		if (cmd->cgroup && (seen & (1U << GS_OPT_EARLY))) {
			*why = "early= covers one process, not a cgroup";
			return -EINVAL;
		}
		if ((seen & (1U << GS_OPT_THEN)) && !(seen & (1U << GS_OPT_EARLY))) {
			*why = "then= without early= (then is the early mode's policy)";
			return -EINVAL;
		}
	}
	if (len > GS_LINE_MAX) {
		*why = "line longer than 512 characters";
		return -EINVAL;
	}
	return 0;
}

/*
 * Parse a whole write to /proc/graceful_shutdown (@buf NUL-terminated at
 * @len, modified in place). On error, *@line is the offending line and
 * *@why the reason; nothing must be applied then.
 */
int gs_parse_reg_write(char *buf, size_t len, struct gs_cmd *cmds,
		       unsigned int max_cmds, unsigned int *ncmds,
		       unsigned int *line, const char **why)
{
	unsigned int n = 0, ln = 0, i;
	char *s, *next;
	int ret;

	*ncmds = 0;
	*line = 0;
	if (strlen(buf) != len) {
		/* name the line of the NUL byte: the lines before it, plus one */
		for (s = buf, ln = 1; (s = strchr(s, '\n')); s++)
			ln++;
		*line = ln;
		*why = "NUL byte in write";
		return -EINVAL;
	}
	for (s = buf; s; s = next) {
		next = strchr(s, '\n');
		if (next)
			*next++ = '\0';
		ln++;
		if (!*s)
			continue;	/* empty line, e.g. after the last '\n' */
		*line = ln;
		if (n == max_cmds) {
			*why = "too many lines in one write";
			return -E2BIG;
		}
		cmds[n].line = ln;
		ret = gs_parse_reg_line(s, &cmds[n], why);
		if (ret)
			return ret;
		for (i = 0; i < n; i++) {
			if (cmds[n].cgroup ?
			    cmds[i].cgroup && !strcmp(cmds[i].cgroup, cmds[n].cgroup) :
			    cmds[i].nr == cmds[n].nr) {
				*why = "same PID or cgroup twice in one write";
				return -EINVAL;
			}
		}
		n++;
	}
	if (!n) {
		*why = "empty write";
		return -EINVAL;
	}
	*ncmds = n;
	return 0;
}

/* One "done ID" line written to /proc/graceful_shutdown_events. */
int gs_parse_done(char *buf, size_t len, u64 *id, const char **why)
{
	unsigned int n;
	char *tok[2];
	char *nl;
	int ret;

	if (strlen(buf) != len) {
		*why = "NUL byte in write";
		return -EINVAL;
	}
	nl = strchr(buf, '\n');
	if (nl) {
		if (nl[1]) {
			*why = "one command per write";
			return -EINVAL;
		}
		*nl = '\0';
	}
	ret = gs_check_chars(buf, why);
	if (ret)
		return ret;
	n = gs_tokenize(buf, tok, 2);
	if (n != 2 || strcmp(tok[0], "done")) {
		*why = "expected 'done ID'";
		return -EINVAL;
	}
	ret = gs_parse_uint(tok[1], ~0ULL, id);
	if (ret || *id == 0) {
		*why = "malformed event id";
		return -EINVAL;
	}
	return 0;
}
