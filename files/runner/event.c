// SPDX-License-Identifier: GPL-2.0
/* Parse an event line: space-separated key=value tokens; unknown keys are skipped. */
#include "event.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int parse_u64(const char *s, size_t len, uint64_t *out)
{
	char buf[24];
	char *end;

	if (len == 0 || len >= sizeof(buf) || s[0] < '0' || s[0] > '9')
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return (errno || *end) ? -1 : 0;
}

int parse_hex_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 16)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static int parse_id(const char *s, size_t len, uint32_t *out)
{
	uint64_t v;

	if (parse_u64(s, len, &v) || v >= 0xffffffffull)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int parse_user(const char *s, size_t len, uint32_t *uid, uint32_t *gid)
{
	const char *colon = memchr(s, ':', len);

	if (!colon)
		return -1;
	return parse_id(s, colon - s, uid) || parse_id(colon + 1, len - (colon - s) - 1, gid) ? -1 : 0;
}

static int copy_str(char *dst, size_t size, const char *s, size_t len)
{
	if (len == 0 || len >= size)
		return -1;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

int event_parse(const char *line, struct event *ev, const char **why)
{
	const char *p = line;
	unsigned int seen = 0;
	enum { ID = 1, PHASE = 2, PID = 4, HANDLER = 8, TIMEOUT = 16, UID = 32, GID = 64 };

	memset(ev, 0, sizeof(*ev));
	while (*p && *p != '\n') {
		const char *tok = p, *eq, *val;
		size_t klen, vlen;
		uint64_t num;
		int bad = 0;

		while (*p && *p != ' ' && *p != '\n')
			p++;
		eq = memchr(tok, '=', p - tok);
		if (!eq) {
			*why = "token without '='";
			return -1;
		}
		klen = eq - tok;
		val = eq + 1;
		vlen = p - val;
		if (klen == 2 && !memcmp(tok, "id", 2)) {
			bad = parse_u64(val, vlen, &ev->id);
			seen |= ID;
		} else if (klen == 5 && !memcmp(tok, "phase", 5)) {
			if (vlen == 5 && !memcmp(val, "grace", 5))
				ev->phase = PHASE_GRACE;
			else if (vlen == 6 && !memcmp(val, "killed", 6))
				ev->phase = PHASE_KILLED;
			else
				bad = 1;
			seen |= PHASE;
		} else if (klen == 3 && !memcmp(tok, "pid", 3)) {
			bad = parse_u64(val, vlen, &num);
			ev->pid = (long)num;
			seen |= PID;
		} else if (klen == 4 && !memcmp(tok, "comm", 4)) {
			bad = copy_str(ev->comm, sizeof(ev->comm), val, vlen);
		} else if (klen == 9 && !memcmp(tok, "cgroup_id", 9)) {
			bad = parse_u64(val, vlen, &ev->cgroup_id);
		} else if (klen == 13 && !memcmp(tok, "oom_cgroup_id", 13)) {
			bad = parse_u64(val, vlen, &ev->oom_cgroup_id);
		} else if (klen == 6 && !memcmp(tok, "reason", 6)) {
			bad = copy_str(ev->reason, sizeof(ev->reason), val, vlen);
		} else if (klen == 5 && !memcmp(tok, "ts_ms", 5)) {
			bad = parse_u64(val, vlen, &ev->ts_ms);
		} else if (klen == 11 && !memcmp(tok, "deadline_ms", 11)) {
			bad = parse_u64(val, vlen, &ev->deadline_ms);
		} else if (klen == 10 && !memcmp(tok, "timeout_ms", 10)) {
			bad = parse_u64(val, vlen, &ev->timeout_ms);
			seen |= TIMEOUT;
		} else if (klen == 3 && !memcmp(tok, "uid", 3)) {
			bad = parse_id(val, vlen, &ev->uid);
			seen |= UID;
		} else if (klen == 3 && !memcmp(tok, "gid", 3)) {
			bad = parse_id(val, vlen, &ev->gid);
			seen |= GID;
		} else if (klen == 4 && !memcmp(tok, "caps", 4)) {
			bad = parse_hex_u64(val, vlen, &ev->caps);
		} else if (klen == 7 && !memcmp(tok, "handler", 7)) {
			bad = copy_str(ev->handler, sizeof(ev->handler), val, vlen) || val[0] != '/';
			seen |= HANDLER;
		}
		if (bad) {
			*why = "malformed value";
			return -1;
		}
		while (*p == ' ')
			p++;
	}
	if ((seen & (ID | PHASE | PID | HANDLER | TIMEOUT)) != (ID | PHASE | PID | HANDLER | TIMEOUT)) {
		*why = "missing one of id, phase, pid, timeout_ms, handler";
		return -1;
	}
	ev->has_user = (seen & (UID | GID)) == (UID | GID);
	if (ev->reason[0] == '\0')
		strcpy(ev->reason, "unknown");
	return 0;
}
