// SPDX-License-Identifier: GPL-2.0
/*
 * User-space unit test of ../parse.c (the syntax of the proc files).
 * Build and run: make -C .. test-parse   (no module, no root needed)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graceful_shutdown.h"

static int failures;
static int checks;

struct reg_case {
	const char *in;
	int ret;		/* expected return value */
	unsigned int n;		/* expected number of commands if 0 */
	unsigned int line;	/* expected failing line if not 0 */
};

static const struct reg_case reg_cases[] = {
	{ "123 /usr/bin/true\n", 0, 1, 0 },
	{ "123 /usr/bin/true", 0, 1, 0 },
	{ "123 /usr/bin/true timeout_ms=1500\n", 0, 1, 0 },
	{ "123\t/usr/bin/true\t timeout_ms=60000\n", 0, 1, 0 },
	{ "  123 /x  \n", 0, 1, 0 },
	{ "-123\n", 0, 1, 0 },
	{ "1 /a\n2 /b timeout_ms=5\n-3\n", 0, 3, 0 },
	{ "1 /a\n\n2 /b\n", 0, 2, 0 },
	{ "4194304 /x\n", 0, 1, 0 },
	{ "1 /a/..b/...\n", 0, 1, 0 },
	{ "1 /a/./b\n", 0, 1, 0 },
	{ "", -EINVAL, 0, 0 },
	{ "\n", -EINVAL, 0, 0 },
	{ "   \n", -EINVAL, 0, 1 },
	{ "abc /x\n", -EINVAL, 0, 1 },
	{ "0 /x\n", -EINVAL, 0, 1 },
	{ "+5 /x\n", -EINVAL, 0, 1 },
	{ "0x10 /x\n", -EINVAL, 0, 1 },
	{ "-5 /x\n", -EINVAL, 0, 1 },
	{ "- 5\n", -EINVAL, 0, 1 },
	{ "-\n", -EINVAL, 0, 1 },
	{ "--5\n", -EINVAL, 0, 1 },
	{ "-0\n", -EINVAL, 0, 1 },
	{ "4194305 /x\n", -ESRCH, 0, 1 },
	{ "99999999999999999999999 /x\n", -ESRCH, 0, 1 },
	{ "-99999999\n", -ENOENT, 0, 1 },
	{ "123\n", -EINVAL, 0, 1 },
	{ "123 relative/path\n", -EINVAL, 0, 1 },
	{ "123 /a/../b\n", -EINVAL, 0, 1 },
	{ "123 /..\n", -EINVAL, 0, 1 },
	{ "123 /a/..\n", -EINVAL, 0, 1 },
	{ "123 /a//..//b\n", -EINVAL, 0, 1 },
	{ "123 /a\001b\n", -EINVAL, 0, 1 },
	{ "123 /x\r\n", -EINVAL, 0, 1 },
	{ "123 /x\177\n", -EINVAL, 0, 1 },
	{ "123 /x timeout_ms=0\n", -ERANGE, 0, 1 },
	{ "123 /x timeout_ms=60001\n", -ERANGE, 0, 1 },
	{ "123 /x timeout_ms=99999999999999999999999\n", -ERANGE, 0, 1 },
	{ "123 /x timeout_ms=abc\n", -EINVAL, 0, 1 },
	{ "123 /x timeout_ms=\n", -EINVAL, 0, 1 },
	{ "123 /x timeout_ms=-1\n", -EINVAL, 0, 1 },
	{ "123 /x timeout=5\n", -EINVAL, 0, 1 },
	{ "123 /x timeout_ms=5 extra\n", -EINVAL, 0, 1 },
	{ "123 /x signal=TERM reserve_kb=16384\n", 0, 1, 0 },
	{ "123 /x reserve_kb=0 timeout_ms=5 signal=HUP\n", 0, 1, 0 },
	{ "123 /x reserve_kb=1048576\n", 0, 1, 0 },
	{ "123 /x reserve_kb=1048577\n", -ERANGE, 0, 1 },
	{ "123 /x reserve_kb=1M\n", -EINVAL, 0, 1 },
	{ "123 /x signal=KILL\n", -EINVAL, 0, 1 },
	{ "123 /x signal=SIGTERM\n", -EINVAL, 0, 1 },
	{ "123 /x signal=15\n", -EINVAL, 0, 1 },
	{ "123 /x signal=\n", -EINVAL, 0, 1 },
	{ "123 /x signal=TERM signal=INT\n", -EINVAL, 0, 1 },
	{ "123 /x timeout_ms=5 timeout_ms=6\n", -EINVAL, 0, 1 },
	{ "123 /x timeout_ms=5 signal=TERM reserve_kb=1 early=90 then=term x=1\n", -EINVAL, 0, 1 },
	{ "123 /x timeout_ms=5 signal=TERM reserve_kb=1 early=90 then=term\n", 0, 1, 0 },
	{ "123 /x early=50\n", 0, 1, 0 },
	{ "123 /x early=99 then=continue\n", 0, 1, 0 },
	{ "123 /x early=49\n", -ERANGE, 0, 1 },
	{ "123 /x early=100\n", -ERANGE, 0, 1 },
	{ "123 /x early=90%\n", -EINVAL, 0, 1 },
	{ "123 /x early=\n", -EINVAL, 0, 1 },
	{ "123 /x early=90 then=stop\n", -EINVAL, 0, 1 },
	{ "123 /x early=90 then=\n", -EINVAL, 0, 1 },
	{ "123 /x then=kill\n", -EINVAL, 0, 1 },
	{ "123 /x early=90 early=80\n", -EINVAL, 0, 1 },
	{ "cgroup=/system.slice/x.service /h timeout_ms=5\n", 0, 1, 0 },
	{ "cgroup=/a /h\n-cgroup=/b\n7 /h\n", 0, 3, 0 },
	{ "-cgroup=/system.slice/x.service\n", 0, 1, 0 },
	{ "cgroup=/ /h\n", -EINVAL, 0, 1 },
	{ "cgroup=// /h\n", -EINVAL, 0, 1 },
	{ "cgroup= /h\n", -EINVAL, 0, 1 },
	{ "cgroup=system.slice /h\n", -EINVAL, 0, 1 },
	{ "cgroup=/a/../b /h\n", -EINVAL, 0, 1 },
	{ "cgroup=/a\n", -EINVAL, 0, 1 },
	{ "cgroup=/a /h early=90\n", -EINVAL, 0, 1 },
	{ "cgroup=/a /h\ncgroup=/a /g\n", -EINVAL, 0, 2 },
	{ "-cgroup=/a x\n", -EINVAL, 0, 1 },
	{ "cgroups=/a /h\n", -EINVAL, 0, 1 },
	{ "123 /x user=0:0\n", 0, 1, 0 },
	{ "123 /x user=4294967294:65534 caps=20\n", 0, 1, 0 },
	{ "123 /x user=4294967295:0\n", -EINVAL, 0, 1 },
	{ "123 /x user=1000\n", -EINVAL, 0, 1 },
	{ "123 /x user=:1000\n", -EINVAL, 0, 1 },
	{ "123 /x user=1000:\n", -EINVAL, 0, 1 },
	{ "123 /x user=nobody:nogroup\n", -EINVAL, 0, 1 },
	{ "123 /x user=1:2:3\n", -EINVAL, 0, 1 },
	{ "123 /x user=1:2 user=1:2\n", -EINVAL, 0, 1 },
	{ "123 /x caps=1ffffffffff\n", 0, 1, 0 },
	{ "123 /x caps=20000000000\n", -EINVAL, 0, 1 },
	{ "123 /x caps=0\n", -EINVAL, 0, 1 },
	{ "123 /x caps=0x20\n", -EINVAL, 0, 1 },
	{ "123 /x caps=2A\n", -EINVAL, 0, 1 },
	{ "123 /x caps=\n", -EINVAL, 0, 1 },
	{ "123 /x caps=00000000000000020\n", -EINVAL, 0, 1 },
	{ "123 /x timeout_ms=5 signal=TERM reserve_kb=1 early=90 then=term user=1:1 caps=1\n", 0, 1, 0 },
	{ "123 /x timeout_ms=5 signal=TERM reserve_kb=1 early=90 then=term user=1:1 caps=1 x=1\n", -EINVAL, 0, 1 },
	{ "1 /a\n1 /b\n", -EINVAL, 0, 2 },
	{ "1 /a\n-1\n", -EINVAL, 0, 2 },
	{ "1 /a\nbad\n3 /c\n", -EINVAL, 0, 2 },
};

static void check(int cond, const char *what, const char *in)
{
	checks++;
	if (!cond) {
		failures++;
		printf("FAIL: %s, input \"", what);
		for (; *in; in++)
			printf(*in >= 0x20 && *in < 0x7f ? "%c" : "\\x%02x",
			       (unsigned char)*in);
		printf("\"\n");
	}
}

static int run_reg(char *buf, size_t len, struct gs_cmd *cmds,
		   unsigned int *n, unsigned int *line, const char **why)
{
	*why = NULL;
	return gs_parse_reg_write(buf, len, cmds, GS_MAX_LINES, n, line, why);
}

static void test_reg_table(void)
{
	static struct gs_cmd cmds[GS_MAX_LINES];
	unsigned int i, n, line;
	const char *why;
	char buf[1024];
	int ret;

	for (i = 0; i < sizeof(reg_cases) / sizeof(reg_cases[0]); i++) {
		const struct reg_case *c = &reg_cases[i];

		snprintf(buf, sizeof(buf), "%s", c->in);
		ret = run_reg(buf, strlen(buf), cmds, &n, &line, &why);
		check(ret == c->ret, "return value", c->in);
		if (ret != c->ret)
			printf("  got %d (%s), want %d\n", ret,
			       why ? why : "-", c->ret);
		if (!c->ret)
			check(n == c->n, "number of commands", c->in);
		else
			check(why && *why, "reason given", c->in);
		if (c->ret && c->line)
			check(line == c->line, "failing line", c->in);
	}
}

static void test_reg_fields(void)
{
	struct gs_cmd cmds[4];
	unsigned int n, line;
	const char *why;
	char buf[128];
	int ret;

	strcpy(buf, "42 /usr/local/bin/h timeout_ms=1500\n-7\n9 /h\n");
	ret = run_reg(buf, strlen(buf), cmds, &n, &line, &why);
	check(ret == 0 && n == 3, "three commands", "fields");
	check(cmds[0].op == GS_CMD_REGISTER && cmds[0].nr == 42 &&
	      cmds[0].timeout_ms == 1500 &&
	      !strcmp(cmds[0].path, "/usr/local/bin/h") && cmds[0].line == 1,
	      "register fields", "fields");
	check(cmds[1].op == GS_CMD_UNREGISTER && cmds[1].nr == 7 &&
	      cmds[1].line == 2, "unregister fields", "fields");
	check(cmds[2].timeout_ms == GS_TIMEOUT_DEFAULT_MS &&
	      !strcmp(cmds[2].path, "/h"), "default timeout", "fields");
	check(cmds[0].signal == 0 && cmds[0].reserve_kb == 0,
	      "no signal, no reserve by default", "fields");

	strcpy(buf, "42 /h reserve_kb=32768 signal=TERM\n");
	ret = run_reg(buf, strlen(buf), cmds, &n, &line, &why);
	check(ret == 0 && n == 1 && cmds[0].signal == 15 &&
	      cmds[0].reserve_kb == 32768 &&
	      cmds[0].timeout_ms == GS_TIMEOUT_DEFAULT_MS,
	      "signal and reserve", "fields");

	strcpy(buf, "42 /h early=85 then=continue\n");
	ret = run_reg(buf, strlen(buf), cmds, &n, &line, &why);
	check(ret == 0 && n == 1 && cmds[0].early_pct == 85 &&
	      cmds[0].then == GS_THEN_CONTINUE && cmds[0].signal == 0,
	      "early and then", "fields");
	strcpy(buf, "42 /h early=85\n");
	ret = run_reg(buf, strlen(buf), cmds, &n, &line, &why);
	check(ret == 0 && cmds[0].early_pct == 85 && cmds[0].then == GS_THEN_KILL,
	      "then is kill by default", "fields");
	strcpy(buf, "42 /h\n");
	ret = run_reg(buf, strlen(buf), cmds, &n, &line, &why);
	check(ret == 0 && cmds[0].early_pct == 0, "no early mode by default", "fields");
	check(!cmds[0].user_set && cmds[0].caps == 0, "no user, no caps by default", "fields");
	strcpy(buf, "cgroup=/system.slice/w.service /h signal=TERM\n");
	ret = run_reg(buf, strlen(buf), cmds, &n, &line, &why);
	check(ret == 0 && n == 1 && cmds[0].op == GS_CMD_REGISTER &&
	      cmds[0].nr == 0 && cmds[0].cgroup &&
	      !strcmp(cmds[0].cgroup, "/system.slice/w.service") &&
	      !strcmp(cmds[0].path, "/h") && cmds[0].signal == 15,
	      "cgroup registration", "fields");
	strcpy(buf, "42 /h caps=20 user=998:997\n");
	ret = run_reg(buf, strlen(buf), cmds, &n, &line, &why);
	check(ret == 0 && cmds[0].user_set && cmds[0].uid == 998 &&
	      cmds[0].gid == 997 && cmds[0].caps == 0x20, "user and caps", "fields");
	check(!strcmp(gs_then_name(GS_THEN_TERM), "term") &&
	      !strcmp(gs_then_name(GS_THEN_CONTINUE), "continue"), "then names", "fields");
	check(!strcmp(gs_signal_name(15), "TERM") &&
	      !strcmp(gs_signal_name(10), "USR1"), "signal names", "fields");

	/* A NUL byte inside the write. */
	memcpy(buf, "1 /a\0xx", 7);
	ret = run_reg(buf, 7, cmds, &n, &line, &why);
	check(ret == -EINVAL && line == 1, "NUL byte", "1 /a\\0xx");
	memcpy(buf, "1 /a\n2 /b\n3 /c\0", 16);
	ret = run_reg(buf, 16, cmds, &n, &line, &why);
	check(ret == -EINVAL && line == 3, "NUL byte names its line",
	      "1 /a\\n2 /b\\n3 /c\\0");
}

static void test_reg_bounds(void)
{
	static struct gs_cmd cmds[GS_MAX_LINES];
	static char buf[GS_WRITE_MAX * 4];
	unsigned int i, n, line;
	const char *why;
	size_t o;
	int ret;

	/* Path of 255 characters: accepted; 256: ENAMETOOLONG. */
	o = sprintf(buf, "1 /");
	memset(buf + o, 'a', 254);
	buf[o + 254] = '\0';
	ret = run_reg(buf, strlen(buf), cmds, &n, &line, &why);
	check(ret == 0 && strlen(cmds[0].path) == 255, "255-char path",
	      "1 /aaa...");
	o = sprintf(buf, "1 /");
	memset(buf + o, 'a', 255);
	buf[o + 255] = '\0';
	ret = run_reg(buf, strlen(buf), cmds, &n, &line, &why);
	check(ret == -ENAMETOOLONG, "256-char path", "1 /aaa...");
	o = sprintf(buf, "1 /");
	memset(buf + o, 'a', 5000);
	buf[o + 5000] = '\0';
	ret = run_reg(buf, strlen(buf), cmds, &n, &line, &why);
	check(ret == -ENAMETOOLONG, "5000-char path", "1 /aaa...");

	/* A valid line padded with blanks past GS_LINE_MAX. */
	o = sprintf(buf, "1 /a");
	memset(buf + o, ' ', GS_LINE_MAX);
	strcpy(buf + o + GS_LINE_MAX, "timeout_ms=5");
	ret = run_reg(buf, strlen(buf), cmds, &n, &line, &why);
	check(ret == -EINVAL, "line too long", "1 /a      ...");

	/* GS_MAX_LINES lines are fine, one more is E2BIG. */
	for (o = 0, i = 1; i <= GS_MAX_LINES; i++)
		o += sprintf(buf + o, "%u /h\n", i);
	ret = run_reg(buf, o, cmds, &n, &line, &why);
	check(ret == 0 && n == GS_MAX_LINES, "128 lines", "1 /h\\n2 /h...");
	for (o = 0, i = 1; i <= GS_MAX_LINES + 1; i++)
		o += sprintf(buf + o, "%u /h\n", i);
	ret = run_reg(buf, o, cmds, &n, &line, &why);
	check(ret == -E2BIG && line == GS_MAX_LINES + 1, "129 lines",
	      "1 /h\\n2 /h...");
}

struct done_case {
	const char *in;
	int ret;
	unsigned long long id;
};

static const struct done_case done_cases[] = {
	{ "done 7\n", 0, 7 },
	{ "done 7", 0, 7 },
	{ " done\t7 \n", 0, 7 },
	{ "done 18446744073709551615\n", 0, 18446744073709551615ULL },
	{ "done 18446744073709551616\n", -EINVAL, 0 },
	{ "done 0\n", -EINVAL, 0 },
	{ "done\n", -EINVAL, 0 },
	{ "done x\n", -EINVAL, 0 },
	{ "done -1\n", -EINVAL, 0 },
	{ "done 7 8\n", -EINVAL, 0 },
	{ "finish 7\n", -EINVAL, 0 },
	{ "DONE 7\n", -EINVAL, 0 },
	{ "done 7\ndone 8\n", -EINVAL, 0 },
	{ "done 7\r\n", -EINVAL, 0 },
	{ "", -EINVAL, 0 },
};

static void test_done(void)
{
	unsigned int i;
	const char *why;
	char buf[128];
	u64 id;
	int ret;

	for (i = 0; i < sizeof(done_cases) / sizeof(done_cases[0]); i++) {
		const struct done_case *c = &done_cases[i];

		snprintf(buf, sizeof(buf), "%s", c->in);
		id = 0;
		why = NULL;
		ret = gs_parse_done(buf, strlen(buf), &id, &why);
		check(ret == c->ret, "done return value", c->in);
		if (!c->ret)
			check(id == c->id, "done id", c->in);
		else
			check(why && *why, "done reason given", c->in);
	}
	memcpy(buf, "done 1\0", 7);
	ret = gs_parse_done(buf, 7, &id, &why);
	check(ret == -EINVAL, "done with NUL byte", "done 1\\0");
}

int main(void)
{
	test_reg_table();
	test_reg_fields();
	test_reg_bounds();
	test_done();
	printf("parse_unit: %d checks, %d failures\n", checks, failures);
	return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
