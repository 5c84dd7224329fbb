// SPDX-License-Identifier: GPL-2.0
/* Unit test of the pending queue: most urgent first. Prints "N passed, N failed". */
#include <stdio.h>
#include <string.h>

#include "pending.h"

static int passed, failed;

#define CHECK(cond) do { if (cond) passed++; else { failed++; \
	fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)

static struct event make(uint64_t id, enum event_phase phase, uint64_t deadline_ms, uint64_t timeout_ms)
{
	struct event ev;

	memset(&ev, 0, sizeof(ev));
	ev.id = id;
	ev.phase = phase;
	ev.deadline_ms = deadline_ms;
	ev.timeout_ms = timeout_ms;
	return ev;
}

int main(void)
{
	static struct pending q;
	struct pending_event out;
	struct event ev;
	uint64_t ms = 1000000ull;
	int full = 0;

	CHECK(pending_take(&q, &out) == -1);

	/* read in this order, due in another: grace by its grace left, killed by its timeout */
	ev = make(1, PHASE_GRACE, 5000, 9000);
	CHECK(pending_add(&q, &ev, 0) == 0);
	ev = make(2, PHASE_KILLED, 0, 1000);
	CHECK(pending_add(&q, &ev, 0) == 0);
	ev = make(3, PHASE_GRACE, 300, 3000);
	CHECK(pending_add(&q, &ev, 100 * ms) == 0);
	ev = make(4, PHASE_GRACE, 200, 3000);
	CHECK(pending_add(&q, &ev, 200 * ms) == 0);	/* due at 400 ms, like event 3 */

	CHECK(pending_take(&q, &out) == 0 && out.ev.id == 3 && out.due_ns == 400 * ms);
	CHECK(pending_take(&q, &out) == 0 && out.ev.id == 4 && out.due_ns == 400 * ms);
	CHECK(pending_take(&q, &out) == 0 && out.ev.id == 2 && out.due_ns == 1000 * ms);
	CHECK(pending_take(&q, &out) == 0 && out.ev.id == 1 && out.due_ns == 5000 * ms);
	CHECK(pending_take(&q, &out) == -1 && q.n == 0);

	/* bounded: the 65th is refused, nothing is lost */
	for (uint64_t id = 1; id <= PENDING_MAX + 1; id++) {
		ev = make(id, PHASE_GRACE, 1000 - id, 3000);
		if (pending_add(&q, &ev, 0))
			full++;
	}
	CHECK(full == 1 && q.n == PENDING_MAX);
	CHECK(pending_take(&q, &out) == 0 && out.ev.id == PENDING_MAX);

	printf("test_pending: %d passed, %d failed\n", passed, failed);
	return failed != 0;
}
