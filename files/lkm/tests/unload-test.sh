#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Module unload while the runner's event file is open and blocked in
# read, poll, select or epoll: rmmod must finish quickly, the blocked
# call must return, and nothing may oops. Run as root in the test VM with
# the module loaded; it is reloaded (insmod KO or modprobe) between runs.
#   files/lkm/tests/unload-test.sh [path/to/graceful_shutdown.ko]
set -u
here=$(cd "$(dirname "$0")" && pwd)
ko=${1:-}
fail=0

load() {
	if [ -n "$ko" ]; then insmod "$ko"; else modprobe graceful_shutdown; fi
}

[ -x "$here/proc_test" ] || make -s -C "$here" proc_test || exit 2
[ -e /proc/graceful_shutdown_status ] || load || exit 2

for how in read poll select epoll; do
	"$here/proc_test" --hold "$how" &
	holder=$!
	sleep 1
	start=$(date +%s)
	if ! rmmod graceful_shutdown; then
		echo "not ok - rmmod with the event file in $how"
		fail=1
	fi
	end=$(date +%s)
	if [ $((end - start)) -gt 5 ]; then
		echo "not ok - rmmod took $((end - start)) s ($how)"
		fail=1
	fi
	i=0
	while kill -0 "$holder" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$holder" 2>/dev/null; then
		echo "not ok - $how still blocked after unload"
		kill "$holder"
		fail=1
	else
		echo "ok - unload with the event file in $how"
	fi
	wait "$holder" 2>/dev/null
	load || { echo "not ok - reload"; exit 1; }
done
if dmesg | grep -E "BUG:|WARNING:|Oops|general protection" >/dev/null; then
	echo "not ok - kernel log has a BUG/WARNING/Oops"
	fail=1
else
	echo "ok - kernel log clean"
fi
exit $fail
