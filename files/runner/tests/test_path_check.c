// SPDX-License-Identifier: GPL-2.0
/*
 * Unit test of the handler path checks, on real files. Needs root (the safe
 * case needs root-owned files); prints "N passed, N failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path_check.h"

static int passed, failed;
static char base[64], why[400];

#define CHECK(cond) do { if (cond) passed++; else { failed++; \
	fprintf(stderr, "FAIL %s:%d: %s (why: %s)\n", __FILE__, __LINE__, #cond, why); } } while (0)

static const char *at(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", base, name);
	return path;
}

static void must(int rc, const char *what)
{
	if (rc) {
		perror(what);
		exit(1);
	}
}

static void link_to(const char *target, const char *name)
{
	char from[256];

	snprintf(from, sizeof(from), "%s", at(target));
	must(symlink(from, at(name)), "symlink");
}

static void make_file(const char *name, mode_t mode)
{
	FILE *f = fopen(at(name), "w");

	fputs("#!/bin/sh\nexit 0\n", f);
	fclose(f);
	chmod(at(name), mode);
}

int main(void)
{
	char cmd[300];

	if (geteuid() != 0) {
		printf("test_path_check: needs root, skipped\n0 passed, 0 failed, 1 skipped\n");
		return 0;
	}
	/* /run is root-owned 0755: a safe place for root-owned test files */
	strcpy(base, "/run/oomgs-path-check-XXXXXX");
	if (!mkdtemp(base))
		return 1;
	chmod(base, 0755);
	make_file("ok", 0755);
	make_file("group-writable", 0775);
	make_file("world-writable", 0757);
	make_file("not-executable", 0644);
	make_file("owned-by-nobody", 0755);
	must(chown(at("owned-by-nobody"), 65534, 65534), "chown");
	link_to("ok", "link");
	mkdir(at("open-dir"), 0777);
	chmod(at("open-dir"), 0777);
	make_file("open-dir/h", 0755);
	mkdir(at("dir"), 0755);
	make_file("dir/h", 0755);
	link_to("dir", "dirlink");

	CHECK(handler_path_safe(at("ok"), why, sizeof(why)) == 0);
	CHECK(handler_path_safe(at("dir/h"), why, sizeof(why)) == 0);
	CHECK(handler_path_safe(at("./ok"), why, sizeof(why)) == 0);
	CHECK(handler_path_safe(at("group-writable"), why, sizeof(why)) == -1 && strstr(why, "writable"));
	CHECK(handler_path_safe(at("world-writable"), why, sizeof(why)) == -1 && strstr(why, "writable"));
	CHECK(handler_path_safe(at("not-executable"), why, sizeof(why)) == -1 && strstr(why, "executable"));
	CHECK(handler_path_safe(at("owned-by-nobody"), why, sizeof(why)) == -1 && strstr(why, "uid 65534"));
	CHECK(handler_path_safe(at("link"), why, sizeof(why)) == -1 && strstr(why, "symlink"));
	CHECK(handler_path_safe(at("dirlink/h"), why, sizeof(why)) == -1 && strstr(why, "symlink"));
	CHECK(handler_path_safe(at("open-dir/h"), why, sizeof(why)) == -1 && strstr(why, "directory"));
	CHECK(handler_path_safe(at("dir/../ok"), why, sizeof(why)) == -1 && strstr(why, ".."));
	CHECK(handler_path_safe(at("missing"), why, sizeof(why)) == -1 && strstr(why, "cannot open"));
	CHECK(handler_path_safe(at("dir"), why, sizeof(why)) == -1 && strstr(why, "regular"));
	CHECK(handler_path_safe("relative/h", why, sizeof(why)) == -1 && strstr(why, "absolute"));
	CHECK(handler_path_safe("/", why, sizeof(why)) == -1);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd))
		return 1;
	printf("test_path_check: %d passed, %d failed\n", passed, failed);
	return failed != 0;
}
