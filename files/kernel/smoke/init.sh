#!/bin/busybox sh
# /init of the smoke-test initramfs (see run-smoke.sh): exercises the OOM
# victim grace hook with gracetest.ko, prints "SMOKE <uptime> ..." lines and
# the relevant kernel messages, then powers off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t cgroup2 none /sys/fs/cgroup
CG=/sys/fs/cgroup
P=/sys/module/gracetest/parameters
up() { cut -d' ' -f1 /proc/uptime; }
log() { echo "SMOKE $(up) $*"; }
hog() { # hog CGROUP: 'tail /dev/zero' grows until the 32M limit of CGROUP
	mkdir -p "$CG/$1"
	echo 32M > "$CG/$1/memory.max"
	t0=$(up)
	sh -c "echo \$\$ > $CG/$1/cgroup.procs; exec tail /dev/zero" &
	HOGPID=$!
}
waithog() {
	wait "$HOGPID"
	rc=$?
	log "$1: hog $HOGPID exited rc=$rc after $(awk "BEGIN{print $(up)-$t0}") s"
}

log "kernel $(uname -r) sysctl=$(cat /proc/sys/vm/oom_victim_grace_max_ms)"
insmod /gracetest.ko || log "insmod failed"
echo +memory > $CG/cgroup.subtree_control

log "T1 sysctl=0: kill at once, killed(graced=0)"
hog t1; waithog T1

echo 5000 > /proc/sys/vm/oom_victim_grace_max_ms
echo 1500 > $P/grace_ms
log "T2 sysctl=5000 grace=1500: kill at the deadline (~1.5 s)"
hog t2; waithog T2

echo 60000 > $P/grace_ms
log "T3 grace=60000 capped to 5000, oom_end_grace() after 1 s"
hog t3; sleep 1; log "T3 victim alive: $(kill -0 $HOGPID && echo yes)"
echo 1 > $P/end; waithog T3

echo 20000 > /proc/sys/vm/oom_victim_grace_max_ms
echo 15000 > $P/grace_ms
log "T4 memcg grace 15000 while a root-cgroup hog makes a global OOM"
hog t4; MEMCGHOG=$HOGPID; sleep 1
t1=$(up); tail /dev/zero & GHOG=$!
wait $GHOG
log "T4 global hog exited rc=$? after $(awk "BEGIN{print $(up)-$t1}") s; memcg victim alive: $(kill -0 $MEMCGHOG 2>/dev/null && echo yes || echo no)"
echo 1 > $P/end; HOGPID=$MEMCGHOG; waithog T4
echo 5000 > /proc/sys/vm/oom_victim_grace_max_ms

echo 5000 > $P/grace_ms
log "T5 parent memcg OOM while a child's victim is in grace: the parent takes its other task"
mkdir -p $CG/p; echo 48M > $CG/p/memory.max; echo +memory > $CG/p/cgroup.subtree_control
mkdir -p $CG/p/a $CG/p/b; echo 24M > $CG/p/a/memory.max
t0=$(up); sh -c "echo \$\$ > $CG/p/a/cgroup.procs; exec tail /dev/zero" & A=$!
sleep 1; t1=$(up)
sh -c "echo \$\$ > $CG/p/b/cgroup.procs; exec tail /dev/zero" & B=$!
wait $B
log "T5 parent-domain task B exited rc=$? after $(awk "BEGIN{print $(up)-$t1}") s"
HOGPID=$A; waithog T5

log "T6 victim killed from outside during its grace; the next OOM of its memcg is not held up"
hog t6; Z=$HOGPID; sleep 0.5; kill -9 $Z
echo 300 > $P/grace_ms
hog t6; waithog T6; wait $Z

log "T7 sysctl above the cap is refused"
if echo 60001 > /proc/sys/vm/oom_victim_grace_max_ms 2>/dev/null; then
	log "T7 accepted (BAD)"
else
	log "T7 refused (ok), value $(cat /proc/sys/vm/oom_victim_grace_max_ms)"
fi

log "T8 after rmmod: memcg OOM kills at once"
rmmod gracetest; hog t8; waithog T8

log "T9 sysrq-f (global, no grace)"
insmod /gracetest.ko; sleep 10 & echo f > /proc/sysrq-trigger; sleep 0.2

dmesg | grep -E "gracetest|grace period|Killed process|WARNING|BUG|circular|sleeping function|soft lockup|hung_task"
log "DONE"
poweroff -f
