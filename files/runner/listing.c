// SPDX-License-Identifier: GPL-2.0
/* Parse a line of the module's registration listing: PID, PATH, then key=value options. */
#include "listing.h"

#include <string.h>

static const char *const then_names[] = {
	[THEN_KILL] = "kill",
	[THEN_TERM] = "term",
	[THEN_CONTINUE] = "continue",
};

const char *then_name(enum early_then then)
{
	return (unsigned int)then < sizeof(then_names) / sizeof(then_names[0]) ? then_names[then] : "?";
}

int listing_parse(const char *line, struct registration *reg, const char **why)
{
	const char *p = line, *tok;
	size_t len;
	uint64_t num;
	int field = 0, have_timeout = 0;

	memset(reg, 0, sizeof(*reg));
	reg->then = THEN_KILL;
	while (*p && *p != '\n') {
		while (*p == ' ')
			p++;
		tok = p;
		while (*p && *p != ' ' && *p != '\n')
			p++;
		len = p - tok;
		if (!len)
			break;
		if (field == 0 && len > 8 && !memcmp(tok, "cgroup=/", 8)) {
			reg->pid = 0;	/* a whole cgroup: never in early mode */
		} else if (field == 0) {
			if (parse_u64(tok, len, &num) || num == 0 || num > 4194304) {
				*why = "malformed PID";
				return -1;
			}
			reg->pid = (long)num;
		} else if (field == 1) {
			if (tok[0] != '/' || len >= sizeof(reg->handler)) {
				*why = "malformed handler path";
				return -1;
			}
			memcpy(reg->handler, tok, len);
			reg->handler[len] = '\0';
		} else if (len > 11 && !memcmp(tok, "timeout_ms=", 11)) {
			if (parse_u64(tok + 11, len - 11, &reg->timeout_ms) || !reg->timeout_ms) {
				*why = "malformed timeout_ms";
				return -1;
			}
			have_timeout = 1;
		} else if (len > 6 && !memcmp(tok, "early=", 6)) {
			if (parse_u64(tok + 6, len - 6, &num) || num < 1 || num > 99) {
				*why = "malformed early";
				return -1;
			}
			reg->early_pct = (unsigned int)num;
		} else if (len > 5 && !memcmp(tok, "then=", 5)) {
			int found = 0;

			for (unsigned int i = 0; i < sizeof(then_names) / sizeof(then_names[0]); i++) {
				if (strlen(then_names[i]) == len - 5 && !memcmp(tok + 5, then_names[i], len - 5)) {
					reg->then = (enum early_then)i;
					found = 1;
				}
			}
			if (!found) {
				*why = "unknown then";
				return -1;
			}
		} else if (len > 5 && !memcmp(tok, "user=", 5)) {
			if (parse_user(tok + 5, len - 5, &reg->uid, &reg->gid)) {
				*why = "malformed user";
				return -1;
			}
			reg->has_user = 1;
		} else if (len > 5 && !memcmp(tok, "caps=", 5)) {
			if (parse_hex_u64(tok + 5, len - 5, &reg->caps)) {
				*why = "malformed caps";
				return -1;
			}
		} else if (!memchr(tok, '=', len)) {
			*why = "token without '=' after the handler path";
			return -1;
		}	/* other options (signal=, reserve_kb=, newer ones) are the kernel's business */
		field++;
	}
	if (field < 2 || !have_timeout) {
		*why = "missing one of PID, handler path, timeout_ms";
		return -1;
	}
	return 0;
}
