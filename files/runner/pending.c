// SPDX-License-Identifier: GPL-2.0
#include "pending.h"

int pending_add(struct pending *q, const struct event *ev, uint64_t read_ns)
{
	struct pending_event *p;
	uint64_t ms;

	if (q->n >= PENDING_MAX)
		return -1;
	p = &q->items[q->n++];
	p->ev = *ev;
	ms = ev->phase == PHASE_GRACE ? ev->deadline_ms : ev->timeout_ms;
	p->due_ns = read_ns + ms * 1000000ull;
	return 0;
}

int pending_take(struct pending *q, struct pending_event *out)
{
	unsigned int first = 0;

	if (!q->n)
		return -1;
	for (unsigned int i = 1; i < q->n; i++) {
		const struct pending_event *a = &q->items[i], *b = &q->items[first];

		if (a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->ev.id < b->ev.id))
			first = i;
	}
	*out = q->items[first];
	q->items[first] = q->items[--q->n];
	return 0;
}
