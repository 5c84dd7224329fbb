#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Quick check of a built module under QEMU, without the full test VM: a
# busybox initramfs boots KERNEL-IMAGE, loads MODULE.ko and runs
# run-tests.sh (parser, bounds, permissions, events, memcg OOMs; with
# --oom-global also a global OOM) and unload-test.sh. About 30 s with TCG.
#
#   files/lkm/tests/qemu-smoke.sh VMLINUZ graceful_shutdown.ko [--oom-global]
#
# The module must be built for that kernel. Needs qemu-system-x86,
# busybox-static, gcc with static glibc, util-linux, coreutils and dash.
# With a patched kernel the sysctl vm.oom_victim_grace_max_ms is set to
# 10000 so that the grace cases run. Exit status 0 if everything passed.
set -eu
kernel=$1 ko=$2 oom=${3:---oom}
here=$(cd "$(dirname "$0")" && pwd)
r=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$r" "$log"' EXIT
chmod 755 "$r"

mkdir -p "$r/bin" "$r/t" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/run" "$r/usr/bin" \
	"$r/lib/x86_64-linux-gnu" "$r/lib64"
cp "$(command -v busybox)" "$r/bin/busybox"
gcc -O2 -static -pthread -o "$r/t/proc_test" "$here/proc_test.c"
cp "$here/run-tests.sh" "$here/unload-test.sh" "$r/t/"
cp "$ko" "$r/t/graceful_shutdown.ko"
# Real tools: busybox applets would shadow setpriv and timeout.
for b in setpriv unshare timeout cat dash; do
	p=$(command -v "$b")
	cp "$p" "$r/usr/bin/"
	ldd "$p" | awk '/=> \//{print $3}' | while read -r lib; do
		cp -n "$lib" "$r/lib/x86_64-linux-gnu/"
	done
done
cp /lib64/ld-linux-x86-64.so.2 "$r/lib64/"

cat > "$r/init" <<EOI
#!/bin/busybox sh
/bin/busybox --install -s /bin
rm -f /bin/setpriv /bin/unshare /bin/timeout /bin/cat
export PATH=/usr/bin:/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t cgroup2 none /sys/fs/cgroup
echo +memory > /sys/fs/cgroup/cgroup.subtree_control
f=/proc/sys/vm/oom_victim_grace_max_ms
[ -e \$f ] && echo 10000 > \$f
echo "== uname: \$(uname -r)"
insmod /t/graceful_shutdown.ko
dash /t/run-tests.sh $oom; echo "== run-tests rc=\$?"
dash /t/unload-test.sh /t/graceful_shutdown.ko; echo "== unload-test rc=\$?"
rmmod graceful_shutdown
echo "== kernel messages:"
dmesg | grep -iE "graceful_shutdown: backend|grace period|lockdep|circular|inconsistent|sleeping function|BUG:|WARNING:|Oops|soft lockup|hung task"
echo "== END"
poweroff -f
EOI
chmod +x "$r/init"
(cd "$r" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$r.cpio.gz"
trap 'rm -rf "$r" "$r.cpio.gz" "$log"' EXIT

timeout 900 qemu-system-x86_64 -accel tcg -cpu qemu64 -smp 2 -m 512 \
	-nographic -no-reboot -kernel "$kernel" -initrd "$r.cpio.gz" \
	-append "console=ttyS0 panic=-1 quiet loglevel=4" >"$log" 2>&1 || true
# The console starts with escape sequences: match "== uname" anywhere.
sed -n '/== uname/,/^== END/p' "$log" | tr -d '\r'

grep -q "^== run-tests rc=0" "$log" &&
	grep -q "^== unload-test rc=0" "$log" &&
	! grep -qE "circular|inconsistent lock|sleeping function|BUG:|WARNING:|Oops|soft lockup|hung task" "$log"
