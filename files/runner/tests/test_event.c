// SPDX-License-Identifier: GPL-2.0
/* Unit test of the event line parser. Prints "N passed, N failed". */
#include <stdio.h>
#include <string.h>

#include "event.h"

static int passed, failed;

#define CHECK(cond) do { if (cond) passed++; else { failed++; \
	fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)

int main(void)
{
	struct event ev;
	const char *why = NULL;

	CHECK(event_parse("id=7 phase=grace pid=1234 comm=telemetry cgroup_id=8812 oom_cgroup_id=8812 "
			  "reason=memcg ts_ms=51234 deadline_ms=2991 timeout_ms=3000 "
			  "handler=/usr/local/lib/telemetry/flush\n", &ev, &why) == 0);
	CHECK(ev.id == 7 && ev.phase == PHASE_GRACE && ev.pid == 1234);
	CHECK(!strcmp(ev.comm, "telemetry") && !strcmp(ev.reason, "memcg"));
	CHECK(ev.cgroup_id == 8812 && ev.oom_cgroup_id == 8812 && ev.ts_ms == 51234);
	CHECK(ev.deadline_ms == 2991 && ev.timeout_ms == 3000);
	CHECK(!strcmp(ev.handler, "/usr/local/lib/telemetry/flush"));
	CHECK(!ev.has_user && ev.uid == 0 && ev.caps == 0);	/* a module older than the runner */

	/* the handler's user, group and capabilities */
	CHECK(event_parse("id=9 phase=grace pid=5 timeout_ms=10 uid=998 gid=997 caps=1000020 handler=/h",
			  &ev, &why) == 0);
	CHECK(ev.has_user && ev.uid == 998 && ev.gid == 997 && ev.caps == 0x1000020);
	CHECK(event_parse("id=9 phase=grace pid=5 timeout_ms=10 uid=998 handler=/h", &ev, &why) == 0);
	CHECK(!ev.has_user);
	CHECK(event_parse("id=9 phase=grace pid=5 timeout_ms=10 uid=4294967295 gid=0 handler=/h",
			  &ev, &why) == -1);
	CHECK(event_parse("id=9 phase=grace pid=5 timeout_ms=10 uid=0 gid=0 caps=0x20 handler=/h",
			  &ev, &why) == -1);
	CHECK(event_parse("id=9 phase=grace pid=5 timeout_ms=10 uid=0 gid=0 caps=12345678901234567 handler=/h",
			  &ev, &why) == -1);

	/* killed event, unknown keys skipped, escaped comm kept as sent */
	CHECK(event_parse("id=8 phase=killed pid=99 comm=a\\x20b future=1 reason=global timeout_ms=10 "
			  "handler=/h", &ev, &why) == 0);
	CHECK(ev.phase == PHASE_KILLED && !strcmp(ev.comm, "a\\x20b") && !strcmp(ev.reason, "global"));

	/* malformed lines are refused */
	CHECK(event_parse("id=x phase=grace pid=1 timeout_ms=1 handler=/h", &ev, &why) == -1);
	CHECK(event_parse("id=1 phase=maybe pid=1 timeout_ms=1 handler=/h", &ev, &why) == -1);
	CHECK(event_parse("id=1 phase=grace pid=1 timeout_ms=1 handler=relative", &ev, &why) == -1);
	CHECK(event_parse("id=1 phase=grace pid=1 timeout_ms=1", &ev, &why) == -1);
	CHECK(event_parse("id=1 phase=grace garbage pid=1 timeout_ms=1 handler=/h", &ev, &why) == -1);
	CHECK(event_parse("id=-1 phase=grace pid=1 timeout_ms=1 handler=/h", &ev, &why) == -1);
	CHECK(event_parse("id=99999999999999999999999 phase=grace pid=1 timeout_ms=1 handler=/h",
			  &ev, &why) == -1);
	CHECK(event_parse("", &ev, &why) == -1);

	printf("test_event: %d passed, %d failed\n", passed, failed);
	return failed != 0;
}
