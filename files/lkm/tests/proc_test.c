// SPDX-License-Identifier: GPL-2.0
/*
 * Exercises the loaded graceful_shutdown module from user space: the
 * registration parser, bounds, permissions and the event file. Run as
 * root inside the test VM (never on a host whose kernel is not yours):
 *
 *   make -C files/lkm/tests proc_test && ./proc_test [--oom]
 *
 * --oom also triggers real memory cgroup OOMs (cgroup v2 at
 * /sys/fs/cgroup, 64M limit) of registered children and checks the events:
 * with the hook backend and vm.oom_victim_grace_max_ms > 0 a phase=grace
 * event while the child is alive, the kill right after "done" or after
 * the runner closes the file; without a runner an immediate kill; with
 * the sysctl at 0 a phase=killed event; with backend notify (a stock
 * kernel) a phase=killed event naming the memcg after the kill; with
 * backend none no event.
 * --oom-global adds a global OOM (the whole machine runs out of memory:
 * only in a throwaway VM) that must give a phase=killed event.
 *
 * --hold read|poll|select|epoll opens the event file and blocks in that
 * call until the module goes away (unload-test.sh runs rmmod meanwhile).
 *
 * Output is TAP; the exit status is 0 only if every check passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REG_FILE	"/proc/graceful_shutdown"
#define EV_FILE		"/proc/graceful_shutdown_events"
#define STATUS_FILE	"/proc/graceful_shutdown_status"
#define MAX_REG		128

static int tests, failed;
/* Under /run, not /tmp: a handler in a world-writable directory is refused. */
static char tmpdir[] = "/run/gs-proc-test.XXXXXX";
static char handler[256], symlink_path[256], dir_path[256];
/* Handlers that the runner would refuse, so the module refuses them too. */
static char link_dir[300], open_dir[300], in_dir[400], via_link_dir[400];
static char in_open_dir[400], group_writable[300], not_exec[300], not_root[300];

static void ok(int cond, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tests++;
	if (!cond)
		failed++;
	printf("%sok %d - ", cond ? "" : "not ", tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* One write() call; 0 or -errno. */
static int write_file(const char *path, const char *data, size_t len)
{
	int fd, ret = 0;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, data, len) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int wr(const char *data)
{
	return write_file(REG_FILE, data, strlen(data));
}

static int wrf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int wrf(const char *fmt, ...)
{
	char buf[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return wr(buf);
}

static ssize_t read_all(const char *path, char *buf, size_t size)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf + total, size - 1 - total)) > 0)
		total += n;
	close(fd);
	buf[total] = '\0';
	return n < 0 ? -errno : total;
}

#define REGS_LINE	"registrations\n"

static double now_s(void);

/*
 * Wait up to @timeout_ms for an event on @fd and read it into @buf,
 * skipping the "registrations" lines (the registrations changed). Returns
 * the length read, 0 if no event came in time.
 */
static ssize_t wait_event_line(int fd, char *buf, size_t size, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	double until = now_s() + timeout_ms / 1000.0;
	ssize_t n;

	for (;;) {
		int left = (int)((until - now_s()) * 1000);

		if (left < 0 || poll(&pfd, 1, left) != 1)
			return 0;
		memset(buf, 0, size);
		n = read(fd, buf, size - 1);
		if (n <= 0)
			return 0;
		if (strcmp(buf, REGS_LINE))
			return n;
	}
}

/* Is "LINE\n" a whole line of the registration listing? */
static int listed(const char *line)
{
	static char buf[65536];
	size_t len = strlen(line);
	char *p = buf;

	if (read_all(REG_FILE, buf, sizeof(buf)) < 0)
		return 0;
	while ((p = strstr(p, line))) {
		if ((p == buf || p[-1] == '\n') && p[len] == '\n')
			return 1;
		p++;
	}
	return 0;
}

/* hook_api= of the status file: 0 without a patched kernel. */
static int status_hook_api(void)
{
	char buf[4096];
	char *p;

	if (read_all(STATUS_FILE, buf, sizeof(buf)) < 0 ||
	    !(p = strstr(buf, "hook_api=")))
		return 0;
	return atoi(p + strlen("hook_api="));
}

/* Is PID listed at all? */
static int pid_listed(pid_t pid)
{
	static char buf[65536];
	char key[32];
	char *p = buf;

	if (read_all(REG_FILE, buf, sizeof(buf)) < 0)
		return 0;
	snprintf(key, sizeof(key), "%d ", pid);
	while ((p = strstr(p, key))) {
		if (p == buf || p[-1] == '\n')
			return 1;
		p++;
	}
	return 0;
}

static long status_value(const char *key)
{
	char buf[4096], k[64];
	char *p;

	if (read_all(STATUS_FILE, buf, sizeof(buf)) < 0)
		return -1;
	snprintf(k, sizeof(k), "%s=", key);
	for (p = buf; (p = strstr(p, k)); p++)
		if (p == buf || p[-1] == '\n')
			return strtol(p + strlen(k), NULL, 10);
	return -1;
}

static pid_t spawn_sleeper(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Drop CAP_SYS_ADMIN from the effective set of this process. */
static int drop_sys_admin(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &=
		~CAP_TO_MASK(CAP_SYS_ADMIN);
	return syscall(SYS_capset, &hdr, data) ? -1 : 0;
}

/* Run fn in a child; its return value (an errno or 0) is the result. */
static int in_child(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn(arg) & 0xff);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int open_as_nobody(void *path)
{
	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
	    setresuid(65534, 65534, 65534))
		return 200;
	if (open(path, O_RDWR) >= 0)
		return 0;
	return errno;
}

static int open_without_cap(void *path)
{
	if (drop_sys_admin())
		return 201;
	if (open(path, O_RDWR) >= 0)
		return 0;
	return errno;
}

/* Opened with the capability, written without it. */
static int write_after_drop(void *line)
{
	int fd = open(REG_FILE, O_WRONLY);

	if (fd < 0)
		return 202;
	if (drop_sys_admin())
		return 201;
	if (write(fd, line, strlen(line)) >= 0)
		return 0;
	return errno;
}

static void *thread_fn(void *arg)
{
	*(pid_t *)arg = syscall(SYS_gettid);
	pause();
	return NULL;
}

static void make_handler(const char *path, mode_t mode, uid_t uid)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0700);

	if (fd < 0 || write(fd, "#!/bin/sh\nexit 0\n", 17) != 17 ||
	    fchmod(fd, mode) || fchown(fd, uid, 0)) {
		perror(path);
		exit(2);
	}
	close(fd);
}

static void setup_files(void)
{
	int fd;

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(handler, sizeof(handler), "%s/handler", tmpdir);
	snprintf(symlink_path, sizeof(symlink_path), "%s/link", tmpdir);
	snprintf(dir_path, sizeof(dir_path), "%s/dir", tmpdir);
	fd = open(handler, O_WRONLY | O_CREAT | O_EXCL, 0755);
	if (fd < 0 || write(fd, "#!/bin/sh\nexit 0\n", 17) != 17) {
		perror(handler);
		exit(2);
	}
	close(fd);
	if (symlink(handler, symlink_path) || mkdir(dir_path, 0755)) {
		perror("setup");
		exit(2);
	}
	snprintf(in_dir, sizeof(in_dir), "%s/h", dir_path);
	snprintf(link_dir, sizeof(link_dir), "%s/link-dir", tmpdir);
	snprintf(via_link_dir, sizeof(via_link_dir), "%s/h", link_dir);
	snprintf(open_dir, sizeof(open_dir), "%s/open", tmpdir);
	snprintf(in_open_dir, sizeof(in_open_dir), "%s/h", open_dir);
	snprintf(group_writable, sizeof(group_writable), "%s/gw", tmpdir);
	snprintf(not_exec, sizeof(not_exec), "%s/noexec", tmpdir);
	snprintf(not_root, sizeof(not_root), "%s/nobody", tmpdir);
	make_handler(in_dir, 0755, 0);
	if (symlink(dir_path, link_dir) || mkdir(open_dir, 0755) ||
	    chmod(open_dir, 0777)) {
		perror("setup");
		exit(2);
	}
	make_handler(in_open_dir, 0755, 0);
	make_handler(group_writable, 0775, 0);
	make_handler(not_exec, 0644, 0);
	make_handler(not_root, 0755, 65534);
}

static void cleanup_files(void)
{
	unlink(handler);
	unlink(symlink_path);
	unlink(in_dir);
	unlink(link_dir);
	unlink(in_open_dir);
	rmdir(open_dir);
	unlink(group_writable);
	unlink(not_exec);
	unlink(not_root);
	rmdir(dir_path);
	rmdir(tmpdir);
}

/* signal= needs a grace (hook), reserve_kb= oom_victim_ops v3 (patch 0005). */
static void test_register_options(pid_t p)
{
	int api = status_hook_api();
	int want_signal = api > 0 ? 0 : -EOPNOTSUPP;
	int want_both = want_signal ? want_signal : api >= 3 ? 0 : -EOPNOTSUPP;
	char line[512];

	printf("# options: hook_api=%d\n", api);
	ok(wrf("%d %s signal=TERM\n", p, handler) == want_signal,
	   "signal=TERM: accepted with a grace, else EOPNOTSUPP");
	snprintf(line, sizeof(line), "%d %s timeout_ms=3000 signal=TERM", p,
		 handler);
	ok(want_signal || listed(line), "listed with its signal");
	ok(wrf("%d %s reserve_kb=2048 signal=USR1 timeout_ms=1000\n", p,
	       handler) == want_both,
	   "reserve_kb=2048: accepted from hook API 3, else EOPNOTSUPP");
	snprintf(line, sizeof(line),
		 "%d %s timeout_ms=1000 signal=USR1 reserve_kb=2048", p,
		 handler);
	ok(want_both || listed(line), "listed with its signal and reserve");
	ok(wrf("%d %s early=90\n", p, handler) == 0,
	   "early=90: accepted on every backend (the runner arms it)");
	snprintf(line, sizeof(line), "%d %s timeout_ms=3000 early=90 then=kill",
		 p, handler);
	ok(listed(line), "listed with early=90 and the default then=kill");
	ok(wrf("%d %s early=75 then=continue timeout_ms=2000\n", p,
	       handler) == 0, "early=75 then=continue");
	snprintf(line, sizeof(line),
		 "%d %s timeout_ms=2000 early=75 then=continue", p, handler);
	ok(listed(line), "listed with early=75 then=continue");
	ok(wrf("%d %s then=term\n", p, handler) == -EINVAL,
	   "then= without early=: EINVAL");
	ok(wrf("%d %s early=100\n", p, handler) == -ERANGE,
	   "early=100: ERANGE");
	ok(wrf("%d %s signal=KILL\n", p, handler) == -EINVAL,
	   "signal=KILL: EINVAL");
	ok(wrf("%d %s reserve_kb=1048577\n", p, handler) == -ERANGE,
	   "reserve_kb=1048577: ERANGE");
	ok(wrf("%d %s timeout_ms=5 timeout_ms=5\n", p, handler) == -EINVAL,
	   "an option twice: EINVAL");
	ok(wrf("%d %s caps=20 user=65534:65533\n", p, handler) == 0,
	   "user=65534:65533 caps=20: accepted on every backend");
	snprintf(line, sizeof(line),
		 "%d %s timeout_ms=3000 user=65534:65533 caps=20", p, handler);
	ok(listed(line), "listed with user=65534:65533 caps=20");
	ok(wrf("%d %s\n", p, handler) == 0, "registered again without them");
	snprintf(line, sizeof(line), "%d %s timeout_ms=3000", p, handler);
	ok(listed(line), "listed without user= and caps= (the owner, none)");
	ok(wrf("%d %s user=nobody:nogroup\n", p, handler) == -EINVAL,
	   "user=nobody:nogroup (names): EINVAL");
	ok(wrf("%d %s caps=20000000000\n", p, handler) == -EINVAL,
	   "caps= above capability 40: EINVAL");
}

/* cgroup=CGROUP: every process of a cgroup v2; dropped when it is removed. */
static void test_register_cgroup(void)
{
	char cg[160], rel[64], line[512];

	snprintf(rel, sizeof(rel), "/gs-proc-test-reg-%d", getpid());
	snprintf(cg, sizeof(cg), "/sys/fs/cgroup%s", rel);
	ok(wrf("cgroup=%s %s\n", rel, handler) == -ENOENT,
	   "cgroup= of a cgroup that does not exist: ENOENT");
	if (mkdir(cg, 0755)) {
		ok(0, "create %s: %s", cg, strerror(errno));
		return;
	}
	ok(wrf("cgroup=%s %s timeout_ms=2000 user=65534:65534\n", rel, handler) == 0,
	   "cgroup=%s registered", rel);
	snprintf(line, sizeof(line), "cgroup=%s %s timeout_ms=2000 user=65534:65534",
		 rel, handler);
	ok(listed(line), "listed as cgroup=%s", rel);
	ok(wrf("cgroup=%s %s early=90\n", rel, handler) == -EINVAL,
	   "early= with cgroup=: EINVAL");
	ok(wrf("cgroup=/ %s\n", handler) == -EINVAL, "the root cgroup: EINVAL");
	ok(wrf("-cgroup=%s\n", rel) == 0, "-cgroup=%s unregistered", rel);
	ok(!listed(line), "not listed after -cgroup=");
	ok(wrf("-cgroup=%s\n", rel) == -ENOENT, "-cgroup= again: ENOENT");
	ok(wrf("cgroup=%s %s\n", rel, handler) == 0, "registered again");
	ok(rmdir(cg) == 0, "remove %s", cg);
	snprintf(line, sizeof(line), "cgroup=%s %s timeout_ms=3000", rel, handler);
	ok(!listed(line), "dropped once the cgroup is removed");
}

static void test_register(void)
{
	char line[512], big[5000];
	pid_t p = spawn_sleeper(), p2 = spawn_sleeper(), dead, tid = 0;
	pthread_t th;

	ok(wrf("%d %s\n", p, handler) == 0, "register PID PATH");
	snprintf(line, sizeof(line), "%d %s timeout_ms=3000", p, handler);
	ok(listed(line), "listed with the default timeout");
	ok(wrf("%d %s timeout_ms=1500\n", p, handler) == 0,
	   "re-register with timeout_ms=1500");
	snprintf(line, sizeof(line), "%d %s timeout_ms=1500", p, handler);
	ok(listed(line), "entry replaced in place");
	test_register_options(p);
	test_register_cgroup();
	ok(wrf("%d %s", p, handler) == 0, "prototype format, no newline");

	ok(wrf("abc %s\n", handler) == -EINVAL, "malformed PID: EINVAL");
	ok(wrf("0 %s\n", handler) == -EINVAL, "PID 0: EINVAL");
	ok(wrf("%d relative/h\n", p) == -EINVAL, "relative path: EINVAL");
	ok(wrf("%d %s/../handler\n", p, dir_path) == -EINVAL,
	   "'..' component: EINVAL");
	ok(wrf("%d %s\001\n", p, handler) == -EINVAL,
	   "control character: EINVAL");
	ok(wrf("%d %s timeout_ms=0\n", p, handler) == -ERANGE,
	   "timeout_ms=0: ERANGE");
	ok(wrf("%d %s timeout_ms=60001\n", p, handler) == -ERANGE,
	   "timeout_ms=60001: ERANGE");
	ok(wrf("%d %s timeout_ms=x\n", p, handler) == -EINVAL,
	   "timeout_ms=x: EINVAL");
	ok(wrf("%d %s extra\n", p, handler) == -EINVAL,
	   "unknown option: EINVAL");
	ok(wrf("%d %s/missing\n", p, tmpdir) == -ENOENT,
	   "missing handler: ENOENT");
	ok(wrf("%d %s\n", p, dir_path) == -EINVAL, "directory: EINVAL");
	ok(wrf("%d %s\n", p, symlink_path) == -EINVAL, "symlink: EINVAL");
	ok(wrf("%d %s\n", p, in_dir) == 0, "handler in a safe directory");
	ok(wrf("%d %s\n", p, via_link_dir) == -EINVAL,
	   "symlinked directory on the way: EINVAL");
	ok(wrf("%d /proc/self/root%s\n", p, handler) == -EINVAL,
	   "/proc/self/root on the way: EINVAL");
	ok(wrf("%d %s\n", p, in_open_dir) == -EACCES,
	   "world-writable directory on the way: EACCES");
	ok(wrf("%d %s\n", p, group_writable) == -EACCES,
	   "group-writable handler: EACCES");
	ok(wrf("%d %s\n", p, not_exec) == -EACCES,
	   "handler not executable: EACCES");
	ok(wrf("%d %s\n", p, not_root) == -EACCES,
	   "handler not owned by root: EACCES");
	ok(wrf("%d %s", p, handler) == 0, "the safe handler again");
	memset(line, 'a', 300);
	line[300] = '\0';
	ok(wrf("%d /%s\n", p, line) == -ENAMETOOLONG,
	   "301-char path: ENAMETOOLONG");
	memset(big, ' ', sizeof(big));
	ok(write_file(REG_FILE, big, sizeof(big)) == -E2BIG,
	   "5000-byte write: E2BIG");
	ok(write_file(REG_FILE, "1 /a\0b\n", 7) == -EINVAL, "NUL byte: EINVAL");
	ok(wrf("%d %s\n%d %s\n", p, handler, p, handler) == -EINVAL,
	   "same PID twice: EINVAL");
	ok(wrf("2 %s\n", handler) == -EINVAL, "kernel thread: EINVAL");
	ok(wrf("1 %s\n", handler) == -EINVAL, "init: EINVAL");

	dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	ok(wrf("%d %s\n", dead, handler) == -ESRCH, "dead PID: ESRCH");
	ok(wrf("-%d\n", dead) == -ENOENT, "unregister dead PID: ENOENT");
	ok(wrf("99999999 %s\n", handler) == -ESRCH, "huge PID: ESRCH");

	if (!pthread_create(&th, NULL, thread_fn, &tid)) {
		while (!__atomic_load_n(&tid, __ATOMIC_SEQ_CST))
			usleep(1000);
		ok(wrf("%d %s\n", tid, handler) == -ESRCH,
		   "thread id: ESRCH");
		pthread_cancel(th);
		pthread_join(th, NULL);
	}

	/* All or nothing: a bad line keeps the good one out. */
	ok(wrf("%d %s\nbad line\n", p2, handler) == -EINVAL,
	   "batch with a bad line: EINVAL");
	ok(!pid_listed(p2), "nothing of the bad batch applied");
	ok(wrf("%d %s timeout_ms=100\n-%d\n", p2, handler, p) == 0,
	   "batch register + unregister");
	ok(pid_listed(p2) && !pid_listed(p), "batch applied");
	ok(wrf("-%d\n", p) == -ENOENT, "unregister twice: ENOENT");

	/* A dead process disappears from the listing. */
	reap(p2);
	ok(!pid_listed(p2), "entry of a dead process dropped");
	reap(p);
}

static void test_table_bound(void)
{
	static pid_t kids[MAX_REG + 1];
	long used = status_value("registrations");
	int i, n, ret = 0;
	char buf[8192];
	size_t o = 0;

	if (used < 0 || used >= MAX_REG) {
		ok(0, "table bound (registrations=%ld)", used);
		return;
	}
	n = MAX_REG - used;
	for (i = 0; i <= n; i++)
		kids[i] = spawn_sleeper();
	/* In chunks that fit in one write. */
	for (i = 0; i < n && !ret; i++) {
		o += snprintf(buf + o, sizeof(buf) - o, "%d %s\n", kids[i],
			      handler);
		if (o > 3500 || i == n - 1) {
			ret = write_file(REG_FILE, buf, o);
			o = 0;
		}
	}
	ok(ret == 0, "fill the table to %d entries", MAX_REG);
	ok(status_value("registrations") == MAX_REG, "registrations=%d",
	   MAX_REG);
	ok(wrf("%d %s\n", kids[n], handler) == -ENOSPC, "one more: ENOSPC");
	ok(wrf("%d %s timeout_ms=9\n", kids[0], handler) == 0,
	   "replacing still works when full");
	for (i = 0; i <= n; i++)
		reap(kids[i]);
	ok(status_value("registrations") == used, "dead entries pruned");
}

static void test_permissions(void)
{
	char line[300];
	pid_t p = spawn_sleeper();

	ok(in_child(open_as_nobody, REG_FILE) == EACCES,
	   "uid 65534 cannot open %s", REG_FILE);
	ok(in_child(open_as_nobody, EV_FILE) == EACCES,
	   "uid 65534 cannot open %s", EV_FILE);
	ok(in_child(open_without_cap, REG_FILE) == EPERM,
	   "root without CAP_SYS_ADMIN: open EPERM");
	ok(in_child(open_without_cap, EV_FILE) == EPERM,
	   "root without CAP_SYS_ADMIN: events open EPERM");
	snprintf(line, sizeof(line), "%d %s\n", p, handler);
	ok(in_child(write_after_drop, line) == EPERM,
	   "write after dropping CAP_SYS_ADMIN: EPERM");
	ok(!pid_listed(p), "nothing registered by it");
	reap(p);
}

static void test_events(void)
{
	struct pollfd pfd;
	char buf[1024];
	int fd, fd2;

	fd = open(EV_FILE, O_RDWR | O_NONBLOCK);
	ok(fd >= 0, "open %s", EV_FILE);
	if (fd < 0)
		return;
	fd2 = open(EV_FILE, O_RDWR);
	ok(fd2 < 0 && errno == EBUSY, "second opener: EBUSY");
	if (fd2 >= 0)
		close(fd2);
	ok(status_value("runner") == 1, "status runner=1");
	pfd.fd = fd;
	pfd.events = POLLIN;
	ok(poll(&pfd, 1, 0) == 1, "poll after open: POLLIN (registrations)");
	memset(buf, 0, sizeof(buf));
	ok(read(fd, buf, sizeof(buf) - 1) == (ssize_t)strlen(REGS_LINE) &&
	   !strcmp(buf, REGS_LINE), "first read after open: registrations");
	ok(read(fd, buf, sizeof(buf)) < 0 && errno == EAGAIN,
	   "nothing queued: EAGAIN");
	ok(poll(&pfd, 1, 0) == 0, "poll: no POLLIN");
	ok(wrf("%d %s early=90 then=term\n", getpid(), handler) == 0,
	   "register self in early mode");
	ok(poll(&pfd, 1, 0) == 1, "registration written: POLLIN");
	memset(buf, 0, sizeof(buf));
	ok(read(fd, buf, sizeof(buf) - 1) > 0 && !strcmp(buf, REGS_LINE),
	   "registration written: registrations");
	ok(wrf("%d %s\n-%d\n", getpid(), handler, getpid()) < 0,
	   "a rejected write: no registrations line");
	ok(read(fd, buf, sizeof(buf)) < 0 && errno == EAGAIN,
	   "a rejected write: EAGAIN");
	ok(wrf("-%d\n", getpid()) == 0, "unregister self");
	memset(buf, 0, sizeof(buf));
	ok(read(fd, buf, sizeof(buf) - 1) > 0 && !strcmp(buf, REGS_LINE),
	   "unregistered: registrations");
	ok(write(fd, "done 999999999\n", 15) < 0 && errno == ENOENT,
	   "done for an unknown id: ENOENT");
	ok(write(fd, "done 1\n", 7) < 0 && errno == ENOENT,
	   "done for an id of an earlier load: ENOENT");
	ok(write(fd, "done x\n", 7) < 0 && errno == EINVAL,
	   "done x: EINVAL");
	ok(write(fd, "bogus\n", 6) < 0 && errno == EINVAL, "bogus: EINVAL");
	close(fd);
	ok(status_value("runner") == 0, "status runner=0 after close");
	fd = open(EV_FILE, O_RDONLY);
	ok(fd >= 0, "reopen after close");
	if (fd >= 0)
		close(fd);
}

/* --oom: a real memcg OOM of a registered child. */
/* The hog of a cgroup= case runs as nobody: its handler then does too. */
static bool hog_as_nobody;

/* Move the calling process into @cg ("" for none); 0 or -1. */
static int join_cgroup(const char *cg)
{
	char path[512], pid[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d\n", getpid());
	return cg[0] && write_file(path, pid, strlen(pid)) ? -1 : 0;
}

static int child_hog(const char *cg)
{
	if (join_cgroup(cg))
		return 3;
	if (hog_as_nobody && (setgid(65534) || setuid(65534)))
		return 6;
	for (;;) {
		char *p = malloc(1 << 20);

		if (!p)
			return 4;
		memset(p, 0x5a, 1 << 20);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int proc_alive(pid_t pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_all(path, buf, sizeof(buf)) <= 0)
		return 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/*
 * Fork a hog that runs @hog(@cg) once the parent writes to @go[1]; the
 * parent keeps @go[1] (and @fd, which the child closes: a holder of the
 * event file would keep the runner "open").
 */
static pid_t fork_hog(int fd, int go[2], int (*hog)(const char *),
		      const char *cg)
{
	pid_t kid = fork();

	if (kid == 0) {
		char c;

		if (fd >= 0)
			close(fd);
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(5);
		_exit(hog(cg));
	}
	close(go[0]);
	return kid;
}

/*
 * One OOM of a registered hog. @mode: "none" (backend none: no event),
 * "done" (grace, then done), "close" (grace, then the runner closes the
 * file: the kill must follow at once), "killed" (sysctl 0: no grace),
 * "norunner" (no runner: killed at once, no event), "global" (no memory
 * cgroup: a global OOM, killed event after the kill). Backend notify (a
 * stock kernel) has "killed", "norunner" and "global" only.
 */
static void oom_case(const char *mode)
{
	bool global, norunner;
	char cg[128], buf[1024], line[256];
	int fd = -1, go[2], status;
	long no_runner = 0;
	double t;
	pid_t kid;

	bool by_cgroup = !strncmp(mode, "cgroup-", 7);

	printf("# oom case: %s\n", mode);
	if (by_cgroup)
		mode += 7;
	hog_as_nobody = by_cgroup;
	global = !strcmp(mode, "global");
	norunner = !strcmp(mode, "norunner");
	snprintf(cg, sizeof(cg), "/sys/fs/cgroup/gs-proc-test-%d", getpid());
	if (global) {
		cg[0] = '\0';
	} else if (mkdir(cg, 0755)) {
		ok(0, "create %s: %s", cg, strerror(errno));
		return;
	} else {
		snprintf(line, sizeof(line), "%s/memory.max", cg);
		ok(write_file(line, "64M", 3) == 0, "memory.max=64M");
		snprintf(line, sizeof(line), "%s/memory.swap.max", cg);
		write_file(line, "0", 1);
	}

	if (norunner) {
		no_runner = status_value("events_no_runner");
	} else {
		fd = open(EV_FILE, O_RDWR | O_CLOEXEC);
		ok(fd >= 0, "runner opens the event file");
		if (fd < 0)
			goto out_cg;
	}
	if (pipe(go))
		goto out_fd;
	kid = fork_hog(fd, go, child_hog, cg);
	if (by_cgroup)
		ok(wrf("cgroup=%s %s timeout_ms=5000\n", cg + strlen("/sys/fs/cgroup"),
		       handler) == 0, "register the hog's cgroup, not the hog");
	else
		ok(wrf("%d %s timeout_ms=5000\n", kid, handler) == 0,
		   "register the hog");
	t = now_s();
	if (write(go[1], "g", 1) != 1)
		perror("pipe");
	close(go[1]);
	if (norunner) {
		waitpid(kid, &status, 0);
		t = (now_s() - t) * 1000;
		ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
		   t < 3000, "no runner: SIGKILLed %.0f ms after start", t);
		ok(status_value("events_no_runner") > no_runner,
		   "events_no_runner counted");
		ok(!pid_listed(kid), "registration used up");
		goto out_cg;
	}

	if (!wait_event_line(fd, buf, sizeof(buf), 20000)) {
		ok(!strcmp(mode, "none"), "no event within 20 s");
		reap(kid);
		goto out_fd;
	}
	ok(strcmp(mode, "none"), "event read: %.*s",
	   (int)strcspn(buf, "\n"), buf);
	snprintf(line, sizeof(line), " pid=%d ", kid);
	ok(strstr(buf, line) &&
	   strstr(buf, global ? " reason=global " : " reason=memcg "),
	   "event names the hog and reason=%s", global ? "global" : "memcg");
	ok(strstr(buf, by_cgroup ? " uid=65534 gid=65534 caps=0 handler=" :
			 " uid=0 gid=0 caps=0 handler=") != NULL,
	   "event: the handler runs as the hog's owner (%s), no capabilities",
	   by_cgroup ? "nobody" : "root");
	if (!strcmp(mode, "done") || !strcmp(mode, "close")) {
		unsigned long long id = 0;

		ok(strstr(buf, "phase=grace") != NULL, "phase=grace");
		ok(proc_alive(kid), "victim alive at the grace event");
		usleep(200000);
		ok(proc_alive(kid), "victim still alive 200 ms later");
		sscanf(buf, "id=%llu", &id);
		snprintf(line, sizeof(line), "done %llu\n", id);
		t = now_s();
		if (!strcmp(mode, "done")) {
			ok(write(fd, line, strlen(line)) ==
			   (ssize_t)strlen(line), "done %llu", id);
		} else {
			close(fd);
			fd = -1;
		}
		waitpid(kid, &status, 0);
		t = (now_s() - t) * 1000;
		ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
		   t < 2000, "victim SIGKILLed %.0f ms after %s", t, mode);
		if (fd >= 0)
			ok(write(fd, line, strlen(line)) ==
			   (ssize_t)strlen(line), "second done: nothing to do");
	} else {
		ok(strstr(buf, "phase=killed") != NULL, "phase=killed");
		waitpid(kid, &status, 0);
		ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		   "victim SIGKILLed");
	}
out_fd:
	if (fd >= 0)
		close(fd);
out_cg:
	if (cg[0])
		rmdir(cg);
}

/*
 * --oom, patched kernel with a reserve: a victim whose thread that handles
 * the signal is not the one that ran into the OOM.  Both threads of the hog
 * charge the memcg; the second one blocks SIGUSR1.  Whichever starts the
 * OOM, the main thread must get to run its handler on the reserve (allocate
 * and write a little, then exit 0) during the grace; it must not sleep
 * through the grace in the OOM path because its own charge was under way
 * when the grace began.
 */
static void *hog_thread(void *arg)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	child_hog(arg);
	return NULL;
}

static void save_and_exit(int sig)
{
	char *p = malloc(1 << 20);

	(void)sig;
	if (p)
		memset(p, 0x5a, 1 << 20);
	_exit(p ? 0 : 7);
}

static int child_hog_two_threads(const char *cg)
{
	pthread_t th;

	if (join_cgroup(cg))
		return 3;
	signal(SIGUSR1, save_and_exit);
	if (pthread_create(&th, NULL, hog_thread, (void *)""))
		return 8;
	return child_hog("");
}

static void oom_case_reserve_threads(int round)
{
	char cg[128], buf[1024], line[256];
	int fd, go[2], status = 0;
	double t;
	pid_t kid;

	printf("# oom case: reserve, two threads (round %d)\n", round);
	snprintf(cg, sizeof(cg), "/sys/fs/cgroup/gs-proc-test-%d", getpid());
	if (mkdir(cg, 0755)) {
		ok(0, "create %s: %s", cg, strerror(errno));
		return;
	}
	snprintf(line, sizeof(line), "%s/memory.max", cg);
	write_file(line, "32M", 3);
	snprintf(line, sizeof(line), "%s/memory.swap.max", cg);
	write_file(line, "0", 1);
	fd = open(EV_FILE, O_RDWR | O_CLOEXEC);
	if (fd < 0 || pipe(go)) {
		ok(0, "open %s", EV_FILE);
		goto out;
	}
	kid = fork_hog(fd, go, child_hog_two_threads, cg);
	wrf("%d %s timeout_ms=3000 signal=USR1 reserve_kb=8192\n", kid, handler);
	t = now_s();
	if (write(go[1], "g", 1) != 1)
		perror("pipe");
	close(go[1]);
	if (!wait_event_line(fd, buf, sizeof(buf), 20000)) {
		ok(0, "round %d: no event within 20 s", round);
		reap(kid);
		goto out;
	}
	waitpid(kid, &status, 0);
	t = (now_s() - t) * 1000;
	ok(strstr(buf, "phase=grace") && WIFEXITED(status) &&
	   WEXITSTATUS(status) == 0,
	   "round %d: the hog's main thread ran its handler on the reserve and exited (%s %d, %.0f ms)",
	   round, WIFEXITED(status) ? "exit" : "signal",
	   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), t);
out:
	if (fd >= 0)
		close(fd);
	rmdir(cg);
}

static void test_oom_reserve_threads(void)
{
	static const char sysctl[] = "/proc/sys/vm/oom_victim_reserve_max_kb";
	char old[32] = "";
	int round;

	if (read_all(sysctl, old, sizeof(old)) <= 0)
		return;
	write_file(sysctl, "65536", 5);
	for (round = 1; round <= 6; round++)
		oom_case_reserve_threads(round);
	write_file(sysctl, old, strlen(old));
}

static void test_oom(bool global)
{
	static const char sysctl[] = "/proc/sys/vm/oom_victim_grace_max_ms";
	char buf[4096], backend[64] = "", old[32] = "";
	long grace_max = -1;
	char *p;

	if (read_all(sysctl, old, sizeof(old)) > 0)
		grace_max = strtol(old, NULL, 10);
	if (read_all(STATUS_FILE, buf, sizeof(buf)) > 0 &&
	    (p = strstr(buf, "backend=")))
		sscanf(p, "backend=%63s", backend);
	printf("# oom: backend=%s vm.oom_victim_grace_max_ms=%ld\n", backend,
	       grace_max);
	if (!strcmp(backend, "notify")) {
		/* A stock kernel: every OOM kill reported after the fact. */
		oom_case("killed");
		oom_case("cgroup-killed");
		oom_case("norunner");
		if (global)
			oom_case("global");
		ok(status_value("events_dropped") == 0, "events_dropped=0");
		return;
	}
	if (strcmp(backend, "hook")) {
		oom_case("none");
		return;
	}
	if (grace_max > 0) {
		oom_case("done");
		oom_case("cgroup-done");
		oom_case("close");
		test_oom_reserve_threads();
	}
	oom_case("norunner");
	if (write_file(sysctl, "0", 1) == 0) {
		oom_case("killed");
		write_file(sysctl, old, strlen(old));
	}
	if (global)
		oom_case("global");
	ok(status_value("events_dropped") == 0, "events_dropped=0");
}

/* Block on the event file until the module is unloaded. */
static int hold(const char *how)
{
	struct epoll_event ee = { .events = EPOLLIN };
	struct pollfd pfd;
	char buf[1024];
	fd_set rfds;
	int fd, ep;
	long r = -1;

	fd = open(EV_FILE, O_RDWR);
	if (fd < 0) {
		perror(EV_FILE);
		return 2;
	}
	/* the line every open starts with: then nothing until the unload */
	r = read(fd, buf, sizeof(buf));
	if (r != (long)strlen(REGS_LINE))
		return 2;
	printf("hold %s: waiting\n", how);
	fflush(stdout);
	errno = 0;
	if (!strcmp(how, "read")) {
		r = read(fd, buf, sizeof(buf));
	} else if (!strcmp(how, "poll")) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, -1);
		if (r > 0)
			r = pfd.revents;
	} else if (!strcmp(how, "select")) {
		FD_ZERO(&rfds);
		FD_SET(fd, &rfds);
		r = select(fd + 1, &rfds, NULL, NULL, NULL);
	} else if (!strcmp(how, "epoll")) {
		ep = epoll_create1(0);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ee))
			return 2;
		r = epoll_wait(ep, &ee, 1, -1);
		if (r > 0)
			r = ee.events;
		/* Wait again: the file is gone now, this must not hang. */
		printf("hold %s: woke (%ld), second wait\n", how, r);
		fflush(stdout);
		r = epoll_wait(ep, &ee, 1, 2000);
		close(ep);
	} else {
		return 2;
	}
	printf("hold %s: returned %ld (%s)\n", how, r, strerror(errno));
	/* The file still works as a file: reads fail cleanly. */
	r = read(fd, buf, sizeof(buf));
	printf("hold %s: read after unload %ld (%s)\n", how, r,
	       strerror(errno));
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	char buf[4096];

	if (argc > 2 && !strcmp(argv[1], "--hold"))
		return hold(argv[2]);

	if (geteuid()) {
		fprintf(stderr, "proc_test: run as root (in the test VM)\n");
		return 2;
	}
	if (read_all(STATUS_FILE, buf, sizeof(buf)) < 0) {
		fprintf(stderr, "proc_test: %s missing: module not loaded?\n",
			STATUS_FILE);
		return 2;
	}
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
		printf("# %s\n", l);
	setup_files();
	test_register();
	test_table_bound();
	test_permissions();
	test_events();
	if (argc > 1 && !strcmp(argv[1], "--oom"))
		test_oom(false);
	if (argc > 1 && !strcmp(argv[1], "--oom-global"))
		test_oom(true);
	cleanup_files();
	printf("1..%d\n# %d failed\n", tests, failed);
	return failed ? 1 : 0;
}
