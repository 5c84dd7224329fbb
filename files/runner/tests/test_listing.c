// SPDX-License-Identifier: GPL-2.0
/* Unit test of the registration listing parser. Prints "N passed, N failed". */
#include <stdio.h>
#include <string.h>

#include "listing.h"

static int passed, failed;

#define CHECK(cond) do { if (cond) passed++; else { failed++; \
	fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)

static int bad(const char *line)
{
	struct registration reg;
	const char *why = NULL;

	return listing_parse(line, &reg, &why) == -1 && why != NULL;
}

int main(void)
{
	struct registration reg;
	const char *why;

	CHECK(listing_parse("123 /usr/local/lib/h timeout_ms=3000\n", &reg, &why) == 0);
	CHECK(reg.pid == 123 && !strcmp(reg.handler, "/usr/local/lib/h") && reg.timeout_ms == 3000);
	CHECK(reg.early_pct == 0 && reg.then == THEN_KILL && !reg.has_user && reg.caps == 0);
	CHECK(listing_parse("8 /h timeout_ms=3000 early=90 then=kill user=998:997 caps=20\n", &reg, &why) == 0);
	CHECK(reg.has_user && reg.uid == 998 && reg.gid == 997 && reg.caps == 0x20);
	CHECK(listing_parse("cgroup=/system.slice/w.service /h timeout_ms=3000\n", &reg, &why) == 0);
	CHECK(reg.pid == 0 && !strcmp(reg.handler, "/h") && reg.early_pct == 0);
	CHECK(bad("cgroup= /h timeout_ms=3000\n"));
	CHECK(bad("8 /h timeout_ms=3000 user=998\n"));
	CHECK(bad("8 /h timeout_ms=3000 caps=xyz\n"));

	CHECK(listing_parse("7 /h timeout_ms=2000 signal=TERM reserve_kb=64 early=90 then=continue\n",
			    &reg, &why) == 0);
	CHECK(reg.pid == 7 && reg.timeout_ms == 2000 && reg.early_pct == 90 && reg.then == THEN_CONTINUE);
	CHECK(listing_parse("7 /h timeout_ms=2000 early=75 then=term", &reg, &why) == 0);
	CHECK(reg.early_pct == 75 && reg.then == THEN_TERM);
	CHECK(listing_parse("7 /h timeout_ms=2000 early=60 then=kill newer=1\n", &reg, &why) == 0);
	CHECK(reg.early_pct == 60 && reg.then == THEN_KILL);
	CHECK(!strcmp(then_name(THEN_TERM), "term") && !strcmp(then_name(THEN_CONTINUE), "continue"));

	CHECK(bad(""));
	CHECK(bad("\n"));
	CHECK(bad("123\n"));
	CHECK(bad("123 /h\n"));			/* no timeout_ms */
	CHECK(bad("0 /h timeout_ms=1\n"));
	CHECK(bad("-5 /h timeout_ms=1\n"));
	CHECK(bad("x /h timeout_ms=1\n"));
	CHECK(bad("99999999 /h timeout_ms=1\n"));
	CHECK(bad("12 h timeout_ms=1\n"));
	CHECK(bad("12 /h timeout_ms=0\n"));
	CHECK(bad("12 /h timeout_ms=x\n"));
	CHECK(bad("12 /h timeout_ms=1 early=0\n"));
	CHECK(bad("12 /h timeout_ms=1 early=100\n"));
	CHECK(bad("12 /h timeout_ms=1 early=90%\n"));
	CHECK(bad("12 /h timeout_ms=1 early=90 then=stop\n"));
	CHECK(bad("12 /h timeout_ms=1 stray\n"));

	printf("test_listing: %d passed, %d failed\n", passed, failed);
	return failed != 0;
}
