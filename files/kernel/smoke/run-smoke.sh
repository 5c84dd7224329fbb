#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# run-smoke.sh KERNEL_TREE [WORKDIR]
#
# Quick check of the OOM victim grace hook without the VM test bed: builds
# gracetest.ko against a built, patched KERNEL_TREE, packs it with a static
# busybox (Debian: busybox-static) and init.sh into an initramfs, boots
# KERNEL_TREE/arch/x86/boot/bzImage under qemu (TCG, 256 MB, 2 CPUs) and checks
# the kernel log. About 30 s. Exit 0 when every expectation holds.

set -eu
[ "$#" -ge 1 ] || { sed -n '4,10p' "$0" >&2; exit 2; }
tree=$(cd "$1" && pwd)
work=${2:-$(mktemp -d)}
here=$(cd "$(dirname "$0")" && pwd)
busybox=${BUSYBOX:-/bin/busybox}

mkdir -p "$work/mod" "$work/root/bin" "$work/root/proc" "$work/root/sys" \
	"$work/root/dev"
cp "$here/gracetest.c" "$here/Makefile" "$work/mod/"
make -s -C "$tree" M="$work/mod" modules
cp "$work/mod/gracetest.ko" "$work/root/"
cp "$busybox" "$work/root/bin/busybox"
cp "$here/init.sh" "$work/root/init"
chmod +x "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd.gz"

log=$work/smoke.log
timeout 600 qemu-system-x86_64 -accel tcg -cpu qemu64 -m 256 -smp 2 \
	-nographic -no-reboot -kernel "$tree/arch/x86/boot/bzImage" \
	-initrd "$work/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet loglevel=4" > "$log" 2>&1 || true
tr -d '\r' < "$log" | grep -a -E "^SMOKE|^\[" | grep -a -v "invoked oom-killer" > "$work/out.log" || true
cat "$work/out.log"

fail=0
expect() { # expect DESCRIPTION EXTENDED-REGEX
	if grep -a -q -E "$2" "$work/out.log"; then
		echo "ok:   $1"
	else
		echo "FAIL: $1"
		fail=1
	fi
}
expect "module registered, second -EBUSY" "gracetest: register=0 second=-16"
expect "sysctl 0: killed without grace" "gracetest: killed [0-9]+ \(tail\) memcg=1 graced=0"
expect "grace granted" "grace period of 1500 ms for process"
expect "graced victim killed" "gracetest: killed [0-9]+ \(tail\) memcg=1 graced=1 in_grace=0"
expect "oom_end_grace" "gracetest: end [0-9]+ \(tail\): in_grace=1 end=1 in_grace_after=0"
expect "global OOM not held up by a memcg grace" "T4 global hog exited rc=137 .* memcg victim alive: yes"
expect "global kill reported" "gracetest: killed [0-9]+ \(tail\) memcg=0 graced=0"
expect "sysctl cap" "T7 refused \(ok\), value 5000"
expect "unregister" "gracetest: unregistered"
expect "finished" "SMOKE .* DONE"
if grep -a -q -E "WARNING|BUG:|circular locking|sleeping function|soft lockup|hung_task" "$work/out.log"; then
	echo "FAIL: kernel warnings in the log"
	fail=1
else
	echo "ok:   no kernel warnings"
fi
exit $fail
