#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# User-space checks of the loaded graceful_shutdown module. Run as root in
# the test VM (needs gcc and make, or a built proc_test, and setpriv and
# unshare from util-linux):
#   files/lkm/tests/run-tests.sh [--oom | --oom-global]
# Runs proc_test (parser, bounds, permissions, event file; --oom adds a
# real memcg OOM) and then the same permission checks through setpriv and
# a user namespace. Exit status 0 only if everything passed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
fail=0

# Rebuilt when make is there, else a proc_test built beforehand is used.
if command -v make >/dev/null && ! make -s -C "$here" proc_test; then
	echo "not ok - build proc_test"
	exit 2
fi
[ -x "$here/proc_test" ] || { echo "not ok - no proc_test"; exit 2; }
"$here/proc_test" "$@" || fail=1

check() {
	# check DESCRIPTION EXPECTED-MESSAGE COMMAND...
	desc=$1 want=$2
	shift 2
	out=$(timeout 5 "$@" 2>&1 </dev/null)
	case $out in
	*"$want"*) echo "ok - $desc" ;;
	*) echo "not ok - $desc (got: $out)"; fail=1 ;;
	esac
}

for f in /proc/graceful_shutdown /proc/graceful_shutdown_events; do
	check "uid 65534 cannot open $f" "Permission denied" \
		setpriv --reuid=65534 --regid=65534 --clear-groups cat "$f"
	check "root without CAP_SYS_ADMIN cannot open $f" \
		"Operation not permitted" \
		setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin cat "$f"
	if unshare --user --map-root-user true 2>/dev/null; then
		check "root of a user namespace cannot open $f" \
			"Operation not permitted" \
			unshare --user --map-root-user cat "$f"
	else
		echo "ok - # SKIP no user namespaces (CONFIG_USER_NS)"
	fi
done
check "uid 65534 cannot read the status" "Permission denied" \
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	cat /proc/graceful_shutdown_status
check "root reads the status" "backend=" cat /proc/graceful_shutdown_status

exit $fail
