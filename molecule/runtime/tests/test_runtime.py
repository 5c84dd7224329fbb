"""Graceful shutdown before the OOM kill, checked with real OOMs on the patched kernel.

Each test starts a memory hog, registers it (or not) in /proc/graceful_shutdown,
lets it run into an OOM and reads what happened: the kernel's console log (from
the host), the runner's journal and the test handlers' output files.

RUNTIME_GRACE_MAX_MS=0 turns the kernel's grace off for the run: the checks
that need the handler to run before the kill then fail (that is how they can
be shown to fail).
"""

import contextlib
import os
import re
import time

import pytest
from fixtures import env_int

MEMCG_LIMIT_MIB = 64
HANDLERS = "/usr/local/lib/oomgs-tests"
OUTPUT = "/var/lib/oomgs-tests"
GRACE_MAX_MS = env_int("RUNTIME_GRACE_MAX_MS", 5000)


class Hog:
    """A memory hog in a transient systemd unit, optionally inside a memory limit."""

    def __init__(self, host, name, mib=256, memcg_limit_mib=MEMCG_LIMIT_MIB, oom_score_adj=0, hold=0,
                 as_worker=False):
        """as_worker: the hog is a child of the unit's main process (a shell that waits for it), and
        the unit is kept after it ends (no --collect) so that its Result can be read."""
        self.host, self.name, self.unit = host, name, f"oomgs-{name}"
        self.pidfile, self.go = f"/run/oomgs-{name}.pid", f"/run/oomgs-{name}.go"
        host.run(f"rm -f {self.pidfile} {self.go}; systemctl reset-failed {self.unit} 2>/dev/null")
        limit = f"-p MemoryMax={memcg_limit_mib}M -p MemorySwapMax=0" if memcg_limit_mib else ""
        hog = f"/usr/local/bin/oomgs-memhog {mib} --pidfile {self.pidfile} --go-file {self.go} --hold {hold}"
        command = f"/bin/sh -c '{hog} & wait'" if as_worker else hog
        started = host.run(
            f"systemd-run --quiet {'' if as_worker else '--collect'} --unit={self.unit} {limit}"
            f" -p OOMScoreAdjust={oom_score_adj} {command}")
        assert started.rc == 0, started.stderr
        self.pid = int(wait_for(lambda: host.file(self.pidfile).exists and host.file(self.pidfile).content_string,
                                f"pidfile of {name}"))

    def register(self, handler, timeout_ms=10000):
        register(self.host, self.pid, handler, timeout_ms)

    def go_and_wait_dead(self, timeout=60):
        self.host.run(f"touch {self.go}")
        wait_for(lambda: not self.host.file(f"/proc/{self.pid}").exists, f"death of {self.name}", timeout)


def write_registry(host, line):
    """Write one line to the module's file. Through tee, whose message names the errno of a refused
    write whatever the shell (dash, which runs the checks under sudo, says only "I/O error")."""
    return host.run(f"printf '%s\\n' '{line}' | tee /proc/graceful_shutdown >/dev/null")


def register(host, pid, handler, timeout_ms, **options):
    """Register through the module's file; options are the line's name=value options."""
    line = " ".join([f"{pid} {handler} timeout_ms={timeout_ms}"] + [f"{k}={v}" for k, v in options.items()])
    result = write_registry(host, line)
    assert result.rc == 0, f"registration '{line}' refused: {result.stderr}"


@contextlib.contextmanager
def sysctls(host, **values):
    """Set vm.NAME=value for the block; the device's own values come back afterwards."""
    names = [f"vm.{name}" for name in values]
    before = host.check_output(f"sysctl -n {' '.join(names)}").split()
    host.run("sysctl -q -w " + " ".join(f"vm.{name}={value}" for name, value in values.items()))
    try:
        yield
    finally:
        host.run("sysctl -q -w " + " ".join(f"{name}={value}" for name, value in zip(names, before)))


def wait_for(probe, what, timeout=60, interval=0.25):
    """probe() until it returns something true. A failed ssh connection (testinfra's
    RuntimeError for ssh's exit status 255) counts as "not yet": during a global OOM a
    1-vCPU VM under TCG can stall sshd past the connect timeout, and the wait's own
    deadline is what decides."""
    deadline, unreachable = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except RuntimeError as error:
            if getattr(error.args[0] if error.args else None, "rc", None) != 255:
                raise
            unreachable, value = error, None
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}"
                + (f" (last ssh failure: {unreachable})" if unreachable else ""))


def cgroup_dir(host, pid):
    """The cgroup v2 directory of a live process."""
    return "/sys/fs/cgroup" + host.file(f"/proc/{pid}/cgroup").content_string.strip().split("::", 1)[1]


def handler_output(host, victim_pid, timeout=15):
    """The record-victim handler's output for this victim, as a dict (waits for it)."""
    def find():
        found = host.run(f"grep -l '^OOMGS_VICTIM_PID={victim_pid}$' {OUTPUT}/event-*.out")
        return found.stdout.split()[:1]
    (path,) = wait_for(find, f"handler output for victim {victim_pid}", timeout)
    return dict(line.split("=", 1) for line in host.file(path).content_string.splitlines() if "=" in line)


def runner_journal(host, since):
    return host.run(f"journalctl -u oomgs-runner.service -o cat --no-pager --since=@{since}").stdout


def handler_event_id(host, victim_pid, since):
    """The ID of the runner's event for this victim (from the runner's journal; waits for it)."""
    def find():
        return re.findall(rf"^event (\d+) \w+: victim pid={victim_pid}\b", runner_journal(host, since), re.M)
    return wait_for(find, f"the runner's event for victim {victim_pid}", 30)[0]


def chosen(host) -> bool:
    """RUNTIME_TEST_HOSTS=a,b limits the checks to these hosts (the default scenario runs them
    on one of its sensors); unset, they run on every host."""
    hosts = os.environ.get("RUNTIME_TEST_HOSTS")
    return not hosts or host.backend.get_hostname() in hosts.split(",")


@pytest.fixture(autouse=True)
def only_on_the_chosen_hosts(host):
    if not chosen(host):
        pytest.skip(f"RUNTIME_TEST_HOSTS={os.environ['RUNTIME_TEST_HOSTS']}")


@pytest.fixture(scope="module", autouse=True)
def grace_cap(host):
    """The kernel's grace cap for this run (RUNTIME_GRACE_MAX_MS=0 shows the checks failing);
    the device's own value comes back afterwards. Hosts not chosen are left alone (a
    module-scoped fixture runs before the skip of only_on_the_chosen_hosts)."""
    if not chosen(host):
        yield None
        return
    with sysctls(host, oom_victim_grace_max_ms=GRACE_MAX_MS):
        yield GRACE_MAX_MS


@pytest.fixture(autouse=True)
def clean_outputs(host):
    host.run(f"rm -f {OUTPUT}/*")
    assert host.run("systemctl start oomgs-runner").rc == 0


def test_device_runs_the_patched_kernel_with_module_and_runner(host):
    assert re.search(r"-oomgs-[0-9a-f]{8}$", host.run("uname -r").stdout.strip())
    status = host.file("/proc/graceful_shutdown_status").content_string
    assert "backend=hook" in status and "runner=1" in status, status
    assert host.service("oomgs-runner").is_running
    assert host.file("/proc/sys/vm/oom_victim_grace_max_ms").exists
    # the daemon role persists the reserve cap of patch 0005 and sets it live
    persisted = re.search(r"^-vm\.oom_victim_reserve_max_kb = (\d+)$",
                          host.file("/etc/sysctl.d/60-oom-graceful-shutdown.conf").content_string, re.M)
    assert persisted and host.check_output("sysctl -n vm.oom_victim_reserve_max_kb") == persisted.group(1)


def test_a_memcg_oom_runs_the_handler_while_the_victim_is_alive(host, console):
    since = console.offset()
    bystander = host.run("systemd-run --quiet --collect --unit=oomgs-bystander sleep 600")
    assert bystander.rc == 0
    hog = Hog(host, "memcg-a")
    hog.register(f"{HANDLERS}/record-victim")
    cgroup = cgroup_dir(host, hog.pid)
    hog.go_and_wait_dead()

    seen = handler_output(host, hog.pid)
    assert seen["complete"] == "yes"
    assert seen["OOMGS_PHASE"] == "grace", seen
    assert seen["OOMGS_REASON"] == "memcg"
    # the victim's memcg ran out: the handler is told its directory twice
    assert seen["OOMGS_VICTIM_CGROUP"] == seen["OOMGS_OOM_CGROUP"] == cgroup, (seen, cgroup)
    assert seen["victim_name"] == "oomgs-memhog"
    assert seen["victim_state"] not in ("gone", "") and not seen["victim_state"].startswith("Z"), seen
    # the runner starts each handler in a leaf of its own under the runner's handlers cgroup
    assert seen["handler_cgroup"].endswith(f"/handlers/event-{seen['OOMGS_EVENT_ID']}"), seen
    # no user= in the registration: the hog's owner (root), and no capabilities even so
    assert (seen["uid"], seen["gid"], seen["cap_eff"], seen["no_new_privs"]) == ("0", "0", "0" * 16, "1"), seen
    kills = console.oom_kills(since)
    assert [k.pid for k in kills] == [hog.pid], f"exactly the victim must die: {kills}"
    (grace,) = [g for g in console.graces(since) if g.pid == hog.pid]
    # printk time and /proc/uptime are different clocks: allow them a little drift
    assert grace.time - 0.25 <= float(seen["started_uptime"]) <= kills[0].time + 0.25, (grace, seen, kills)
    assert host.service("oomgs-bystander").is_running, "a process outside the OOM domain died"
    host.run("systemctl stop oomgs-bystander")


def test_a_the_victim_sleeps_during_its_grace(host, console):
    """Patch 0003: the victim waits for the end of its grace instead of looping through reclaim
    and aborted OOM passes (which took about one CPU from the handler)."""
    since = console.offset()
    hog = Hog(host, "sleep-a")
    hog.register(f"{HANDLERS}/never-exits", timeout_ms=4000)  # the kernel caps the grace
    host.run(f"touch {hog.go}")
    wait_for(lambda: [g for g in console.graces(since) if g.pid == hog.pid], "the grace line")
    # 10 samples of the victim's scheduler state, 0.2 s apart, and its CPU ticks over them
    sampled = host.run(
        f"t0=$(awk '{{print $14 + $15}}' /proc/{hog.pid}/stat); "
        f"for i in 1 2 3 4 5 6 7 8 9 10; do awk '{{print $3}}' /proc/{hog.pid}/stat; sleep 0.2; done; "
        f"echo ticks $(( $(awk '{{print $14 + $15}}' /proc/{hog.pid}/stat) - t0 )) of $(getconf CLK_TCK)/s")
    hog.go_and_wait_dead()
    states = sampled.stdout.split()[:10]
    running = states.count("R")
    assert len(states) == 10 and running <= 2, (
        f"the victim was running in {running} of 10 samples during its grace: {sampled.stdout}")


def test_b_global_oom_kills_at_once_then_runs_the_handler(host, console):
    since, since_wall = console.offset(), int(time.time()) - 1
    # No memory limit: the whole VM runs out; the hog is the preferred victim.
    hog = Hog(host, "global-b", mib=4096, memcg_limit_mib=None, oom_score_adj=1000)
    hog.register(f"{HANDLERS}/record-victim")
    hog.go_and_wait_dead(timeout=180)

    kills = [k for k in console.oom_kills(since) if k.pid == hog.pid]
    assert kills and kills[0].kind == "global", console.oom_kills(since)
    assert [g for g in console.graces(since) if g.pid == hog.pid] == [], "a global OOM victim got a grace"
    seen = handler_output(host, hog.pid)
    assert seen["OOMGS_PHASE"] == "killed" and seen["OOMGS_REASON"] == "global", seen
    assert seen["OOMGS_VICTIM_COMM"] == "oomgs-memhog"
    assert float(seen["started_uptime"]) >= kills[0].time
    assert host.run("systemctl is-system-running").stdout.strip() == "running"
    assert "event" in runner_journal(host, since_wall)


def test_b_global_oom_is_not_held_up_by_a_memcg_grace(host, console):
    # The longest grace there is, so that a global OOM held up by it would clearly end after
    # it (filling the VM's memory alone takes about 25 s under TCG).
    long_grace_ms = 60000
    with sysctls(host, oom_victim_grace_max_ms=long_grace_ms if GRACE_MAX_MS else 0):
        since, since_wall = console.offset(), int(time.time()) - 1
        graced = Hog(host, "memcg-b")
        graced.register(f"{HANDLERS}/never-exits", timeout_ms=long_grace_ms)
        host.run(f"touch {graced.go}")
        grace = wait_for(lambda: [g for g in console.graces(since) if g.pid == graced.pid], "the memcg grace")[0]
        grace_end = grace.time + grace.ms / 1000

        global_hog = Hog(host, "global-b2", mib=4096, memcg_limit_mib=None, oom_score_adj=1000)
        global_hog.go_and_wait_dead(timeout=180)
        assert host.run(f"kill -0 {graced.pid}").rc == 0, "the global OOM took the graced victim"
        kills = {k.pid: k for k in console.oom_kills(since)}
        assert kills[global_hog.pid].kind == "global"
        assert kills[global_hog.pid].time < grace_end, (
            f"the global OOM waited for the memcg grace: kill at {kills[global_hog.pid].time}, grace {grace}")
        # Its grace need not run out (half a minute more per device): ending the handler ends it,
        # and the graced victim's own memcg then kills it.
        event_id = handler_event_id(host, graced.pid, since_wall)
        handler_pid = host.file(f"{OUTPUT}/never-exits-{event_id}.pid").content_string.strip()
        assert host.run(f"kill {handler_pid}").rc == 0
        graced.go_and_wait_dead(timeout=30)
        kills = {k.pid: k for k in console.oom_kills(since)}
        assert kills[graced.pid].kind == "memcg" and kills[graced.pid].time > kills[global_hog.pid].time, (kills, grace)


def test_c_a_handler_that_never_exits_is_bounded(host, console):
    since = console.offset()
    timeout_ms = 2000
    hog = Hog(host, "hang-c")
    hog.register(f"{HANDLERS}/never-exits", timeout_ms=timeout_ms)
    hog.go_and_wait_dead()

    (grace,) = [g for g in console.graces(since) if g.pid == hog.pid]
    (kill,) = [k for k in console.oom_kills(since) if k.pid == hog.pid]
    assert kill.time - grace.time <= timeout_ms / 1000 + 1, f"grace at {grace.time}, kill at {kill.time}"
    # [0]: the pattern must not match the shell (and sudo) that runs pgrep
    wait_for(lambda: host.run("pgrep -f 'sleep 10000[0]'").rc == 1, "the handler and its child to be gone", 10)
    service_cgroup = host.run("systemctl show -p ControlGroup --value oomgs-runner").stdout.strip()
    leaves = host.run(f"ls /sys/fs/cgroup{service_cgroup}/handlers/").stdout.split()
    assert not [leaf for leaf in leaves if leaf.startswith("event-")], leaves


def test_d_an_unregistered_victim_is_killed_as_usual(host, console):
    since, since_wall = console.offset(), int(time.time()) - 1
    hog = Hog(host, "plain-d")
    hog.go_and_wait_dead()
    assert [k.pid for k in console.oom_kills(since)] == [hog.pid]
    assert console.graces(since) == []
    assert host.run(f"ls {OUTPUT}").stdout.strip() == ""
    assert not re.search(rf"victim pid={hog.pid}\b", runner_journal(host, since_wall))


def test_e_without_the_runner_the_victim_is_killed_as_usual(host, console):
    assert host.run("systemctl stop oomgs-runner").rc == 0
    since = console.offset()
    started = time.monotonic()
    hog = Hog(host, "norunner-e")
    hog.register(f"{HANDLERS}/record-victim")
    hog.go_and_wait_dead(timeout=30)
    assert time.monotonic() - started < 30
    assert [k.pid for k in console.oom_kills(since)] == [hog.pid]
    assert [g for g in console.graces(since) if g.pid == hog.pid] == [], "grace granted with no runner"
    assert host.run("systemctl start oomgs-runner").rc == 0


def test_f_non_root_cannot_register(host):
    victim = host.run("sleep 300 >/dev/null 2>&1 & echo $!").stdout.strip()
    as_nobody = host.run(
        f"setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "
        f"'echo \"{victim} {HANDLERS}/record-victim\" > /proc/graceful_shutdown'")
    assert as_nobody.rc != 0
    assert "Permission denied" in as_nobody.stderr or "not permitted" in as_nobody.stderr
    # root without CAP_SYS_ADMIN is refused too
    no_cap = host.run(
        f"setpriv --inh-caps=-all --bounding-set=-sys_admin sh -c "
        f"'echo \"{victim} {HANDLERS}/record-victim\" > /proc/graceful_shutdown'")
    assert no_cap.rc != 0, "a writer without CAP_SYS_ADMIN was accepted"
    assert victim not in host.file("/proc/graceful_shutdown").content_string
    host.run(f"kill {victim}")


def test_f_an_unsafe_handler_is_refused_at_registration_and_by_the_runner(host, console):
    since_wall = int(time.time()) - 1
    hog = Hog(host, "unsafe-f")
    # the module refuses at once what the runner would never run
    for handler, errno_text in [(f"{HANDLERS}/world-writable", "Permission denied"),
                                (f"/proc/self/root{HANDLERS}/record-victim", "Invalid argument")]:
        refused = write_registry(host, f"{hog.pid} {handler}")
        assert refused.rc != 0 and errno_text in refused.stderr, (handler, refused.stderr)
    # the runner checks again before each run: this one became unsafe after its registration
    changed = f"{HANDLERS}/made-unsafe"
    host.run(f"install -m 0755 {HANDLERS}/record-victim {changed}")
    try:
        hog.register(changed)
        host.run(f"chmod 0777 {changed}")
        hog.go_and_wait_dead()
        journal = wait_for(lambda: "refusing" in runner_journal(host, since_wall) and runner_journal(host, since_wall),
                           "the runner's refusal")
    finally:
        host.run(f"rm -f {changed}")
    assert "writable by group or others" in journal
    assert host.run(f"ls {OUTPUT}").stdout.strip() == "", "the unsafe handler ran"


def test_f_malformed_registrations_get_an_errno(host):
    for line, errno_text in [("abc /bin/true", "Invalid argument"),
                             ("1 relative/path", "Invalid argument"),
                             ("999999 /bin/true", "No such process"),
                             (f"1 {HANDLERS}/record-victim", "Invalid argument"),
                             ("1 /bin/true timeout_ms=0", "out of range")]:
        result = write_registry(host, line)
        assert result.rc != 0 and errno_text in result.stderr, (line, result.stderr)


def test_g_a_stale_registration_never_fires_for_a_reused_pid(host, console):
    short = host.run("sleep 30 >/dev/null 2>&1 & echo $!").stdout.strip()
    assert write_registry(host, f"{short} {HANDLERS}/record-victim").rc == 0
    host.run(f"kill {short}; sleep 0.5")
    assert f"{short} " not in host.file("/proc/graceful_shutdown").content_string
    host.run(f"mkdir -p /sys/fs/cgroup/oomgs-g && echo {MEMCG_LIMIT_MIB}M > /sys/fs/cgroup/oomgs-g/memory.max")
    since = console.offset()
    reuse = host.run(f"oomgs-pid-reuse {short} /sys/fs/cgroup/oomgs-g /usr/local/bin/oomgs-memhog 256")
    assert reuse.rc == 0, reuse.stderr
    assert [k.pid for k in console.oom_kills(since)] == [int(short)]
    assert console.graces(since) == []
    assert host.run(f"ls {OUTPUT}").stdout.strip() == "", "a handler ran for the new owner of the PID"
    host.run("rmdir /sys/fs/cgroup/oomgs-g")


def load_the_module_again(host):
    """modprobe after an rmmod; returns its result. The declared registrations (default scenario)
    come back now rather than at the next timer run."""
    loaded = host.run("modprobe graceful_shutdown")
    host.run("! command -v oomgs-register >/dev/null || oomgs-register apply")
    return loaded


def wait_for_the_runner(host, what="the runner"):
    """Until the runner has the module's event file open (status runner=1)."""
    wait_for(lambda: "runner=1" in host.file("/proc/graceful_shutdown_status").content_string, what, 30)


def test_h_unloading_the_module_ends_a_grace(host, console):
    """rmmod during a grace: the grace ends, the victim is killed, the kernel has nothing to
    say; modprobe and a runner restart bring everything back."""
    if not GRACE_MAX_MS:
        pytest.skip("no grace with RUNTIME_GRACE_MAX_MS=0")
    since = console.offset()
    hog = Hog(host, "rmmod-h")
    hog.register(f"{HANDLERS}/never-exits", timeout_ms=GRACE_MAX_MS)
    host.run(f"touch {hog.go}")
    (grace,) = wait_for(lambda: [g for g in console.graces(since) if g.pid == hog.pid], "the grace line")
    unload = host.run("rmmod graceful_shutdown")
    try:
        assert unload.rc == 0, unload.stderr
        hog.go_and_wait_dead(timeout=30)
        (kill,) = [k for k in console.oom_kills(since) if k.pid == hog.pid]
        assert kill.time < grace.time + grace.ms / 1000, f"the grace did not end at rmmod: {grace}, {kill}"
        assert console.kernel_problems(since) == []
    finally:
        assert load_the_module_again(host).rc == 0
        assert host.run("systemctl restart oomgs-runner").rc == 0
    status = host.file("/proc/graceful_shutdown_status").content_string
    assert "backend=hook" in status, status
    wait_for_the_runner(host)


def test_h_a_reload_retires_the_handlers_of_the_old_module(host, console):
    """Module reloaded while a handler runs (issue 10): the runner kills that handler (its event
    is gone with the old module) and never writes its "done" to the new one, whose event IDs
    differ from the old ones anyway; a new grace then lasts until its own handler has ended."""
    if not GRACE_MAX_MS:
        pytest.skip("no grace with RUNTIME_GRACE_MAX_MS=0")
    since, since_wall = console.offset(), int(time.time()) - 1
    old = Hog(host, "reload-old")
    old.register(f"{HANDLERS}/never-exits", timeout_ms=GRACE_MAX_MS)
    host.run(f"touch {old.go}")
    wait_for(lambda: [g for g in console.graces(since) if g.pid == old.pid], "the first grace")
    wait_for(lambda: host.run("pgrep -f 'sleep 10000[0]'").rc == 0, "the first handler to run", 10)
    try:
        assert host.run("rmmod graceful_shutdown").rc == 0
        assert host.run("modprobe graceful_shutdown").rc == 0
        # no runner restart: the runner reopens the event file by itself and retires the old
        # handler at once, long before its budget would have ended it
        wait_for(lambda: host.run("pgrep -f 'sleep 10000[0]'").rc == 1, "the old handler to be retired", 4)
        wait_for_the_runner(host, "the runner to reopen the event file")
    finally:
        load_the_module_again(host)
    old.go_and_wait_dead(timeout=30)

    new = Hog(host, "reload-new")
    new.register(f"{HANDLERS}/record-victim-slowly", timeout_ms=GRACE_MAX_MS)
    new.go_and_wait_dead()
    seen = handler_output(host, new.pid)
    assert seen["complete"] == "yes" and seen["OOMGS_PHASE"] == "grace", seen
    (kill,) = [k for k in console.oom_kills(since) if k.pid == new.pid]
    # printk time and /proc/uptime are different clocks: allow them a little drift
    assert kill.time >= float(seen["ended_uptime"]) - 0.25, f"the grace ended before its handler: {kill}, {seen}"
    journal = runner_journal(host, since_wall)
    assert "retired (its event channel closed)" in journal and "no done (channel closed)" in journal, journal
    assert console.kernel_problems(since) == []


def survive_a_grace(host, console, name):
    """A hog whose handler raises its limit: it survives its grace. Returns (hog, cgroup dir)."""
    since = console.offset()
    hog = Hog(host, name, mib=96, hold=600)
    hog.register(f"{HANDLERS}/raise-limit", timeout_ms=3000)
    host.run(f"touch {hog.go}")
    (grace,) = wait_for(lambda: [g for g in console.graces(since) if g.pid == hog.pid], "the first grace")
    assert handler_output(host, hog.pid)["OOMGS_PHASE"] == "grace"
    cgroup = cgroup_dir(host, hog.pid)
    wait_for(lambda: int(host.file(f"{cgroup}/memory.current").content_string) > 80 << 20,
             "the survivor to grow past its old limit")
    time.sleep(2)  # a grace is spent one second after it ended
    assert host.file(f"/proc/{hog.pid}").exists, "the survivor died"
    assert [k for k in console.oom_kills(since) if k.pid == hog.pid] == []
    host.run(f"rm -f {OUTPUT}/*")
    return hog, cgroup


def test_i_a_survivor_registered_again_gets_another_grace(host, console):
    if not GRACE_MAX_MS:
        pytest.skip("no grace with RUNTIME_GRACE_MAX_MS=0")
    hog, cgroup = survive_a_grace(host, console, "again-i")
    hog.register(f"{HANDLERS}/record-victim", timeout_ms=2000)
    since = console.offset()
    # the write blocks during the grace: in the background
    host.run(f"nohup sh -c 'echo 64M > {cgroup}/memory.max' >/dev/null 2>&1 &")
    wait_for(lambda: not host.file(f"/proc/{hog.pid}").exists, "the second OOM kill", 60)
    assert [g for g in console.graces(since) if g.pid == hog.pid], "no grace at the second OOM"
    seen = handler_output(host, hog.pid)
    assert seen["OOMGS_PHASE"] == "grace" and seen["complete"] == "yes", seen


def test_i_a_survivor_not_registered_again_dies_with_its_handler_after(host, console):
    if not GRACE_MAX_MS:
        pytest.skip("no grace with RUNTIME_GRACE_MAX_MS=0")
    hog, cgroup = survive_a_grace(host, console, "once-i")
    # The module counts a kill up to 10 s after a grace's end as the end of that grace
    # (GS_GRACE_KILL_SLACK_MS, a late kill after a long reclaim): this OOM comes later.
    time.sleep(10)
    since = console.offset()
    host.run(f"nohup sh -c 'echo 64M > {cgroup}/memory.max' >/dev/null 2>&1 &")
    wait_for(lambda: not host.file(f"/proc/{hog.pid}").exists, "the second OOM kill", 60)
    assert [g for g in console.graces(since) if g.pid == hog.pid] == [], "a second grace without a new registration"
    (kill,) = [k for k in console.oom_kills(since) if k.pid == hog.pid]
    seen = handler_output(host, hog.pid)
    assert seen["OOMGS_PHASE"] == "killed", seen
    assert float(seen["started_uptime"]) >= kill.time - 0.25


# Long enough for Debian's Redis to save its 44 MB data set under TCG (2-3 s on the test kernels);
# a lockdep kernel (/proc/lockdep) is several times slower and did not finish in 15 s (6.12, 2026-12-02).
REDIS_GRACE_MS = 15000
REDIS_GRACE_MS_LOCKDEP = 45000
REDIS_MEMCG_MIB = 48
REDIS_RESERVE_KB = 65536


class Redis:
    """Debian's redis-server in its own memory limit, saving its data set on SIGTERM (save points set)."""

    def __init__(self, host, name):
        self.host, self.unit = host, f"oomgs-redis-{name}"
        self.dir = f"{OUTPUT}/redis-{name}"
        self.socket, self.dump, self.log = f"{self.dir}/redis.sock", f"{self.dir}/dump.rdb", f"{self.dir}/redis.log"
        host.run(f"systemctl stop {self.unit} 2>/dev/null; systemctl reset-failed {self.unit} 2>/dev/null;"
                 f" rm -rf {self.dir}; mkdir -p {self.dir}")
        started = host.run(
            f"systemd-run --quiet --collect --unit={self.unit} -p MemoryMax={REDIS_MEMCG_MIB}M -p MemorySwapMax=0"
            f" /usr/bin/redis-server --port 0 --unixsocket {self.socket} --unixsocketperm 700 --dir {self.dir}"
            f" --dbfilename dump.rdb --save '3600 1' --appendonly no --daemonize no --logfile {self.log}")
        assert started.rc == 0, started.stderr
        wait_for(lambda: host.file(self.socket).exists, "redis to listen", 30)
        self.pid = int(host.check_output(f"systemctl show -p MainPID --value {self.unit}"))

    def register(self, grace_ms, reserve_kb):
        register(self.host, self.pid, f"{HANDLERS}/record-victim", grace_ms, signal="TERM", reserve_kb=reserve_kb)

    def fill_until_gone(self):
        """A client outside the limit stores 1 MiB values, 20 a second, until the server is gone.
        Small values at a slow pace do not end in an OOM but in thrashing: between requests the
        server refaults its own program text, and every charge finds some text to reclaim, so the
        limit is never "out of memory" (seen with 64 KiB values: 2 min of refaults, no OOM). A
        large value is one allocation that reclaim cannot feed from a few text pages."""
        filled = self.host.run(f"timeout 300 redis-fill {self.socket} --value-kib 1024 --per-second 20")
        wait_for(lambda: not self.host.file(f"/proc/{self.pid}").exists, "the end of redis", 60)
        return filled.stdout.strip()


@pytest.fixture
def long_grace_and_reserve(host):
    """The server needs a grace long enough to write its data set under TCG, and a reserve cap.
    Gives the grace in ms."""
    if not GRACE_MAX_MS:
        pytest.skip("no grace with RUNTIME_GRACE_MAX_MS=0")
    if host.run("command -v redis-server").rc != 0:
        pytest.skip("redis-server is not installed (the runtime scenario installs it, the default one does not)")
    if not host.file("/proc/sys/vm/oom_victim_reserve_max_kb").exists:
        pytest.fail("the kernel has no vm.oom_victim_reserve_max_kb (patch 0005)")
    grace_ms = REDIS_GRACE_MS_LOCKDEP if host.file("/proc/lockdep").exists else REDIS_GRACE_MS
    with sysctls(host, oom_victim_grace_max_ms=grace_ms, oom_victim_reserve_max_kb=REDIS_RESERVE_KB):
        yield grace_ms


def test_j_a_server_with_a_reserve_saves_its_state_on_sigterm(host, console, long_grace_and_reserve):
    """Patch 0005: SIGTERM at the start of the grace, and a reserve over memory.max, let Redis run
    its own shutdown (a synchronous SAVE of its data set) and exit before the kill."""
    since = console.offset()
    redis = Redis(host, "reserve-j")
    redis.register(long_grace_and_reserve, REDIS_RESERVE_KB)
    filled = redis.fill_until_gone()
    (grace,) = [g for g in console.graces(since) if g.pid == redis.pid]
    log = host.file(redis.log).content_string
    assert "Received SIGTERM" in log and "DB saved on disk" in log, f"{filled}; redis log:\n{log[-2000:]}"
    assert host.file(redis.dump).size > (REDIS_MEMCG_MIB // 2) << 20, f"dump.rdb too small after {filled}"
    assert [k for k in console.oom_kills(since) if k.pid == redis.pid] == [], "redis was killed, not exited"
    text = console.text(since)
    assert f"reserve of {REDIS_RESERVE_KB} kB over the limit for process {redis.pid}" in text
    assert re.search(rf"Process {redis.pid} \(\S+\) exited during its grace, having used at most \d+ of its {REDIS_RESERVE_KB} kB", text)
    assert handler_output(host, redis.pid)["OOMGS_PHASE"] == "grace"
    assert host.run("true").rc == 0  # the machine still answers


def test_j_without_a_reserve_the_same_server_saves_nothing(host, console, long_grace_and_reserve):
    """The same server and signal without a reserve: its next charge waits for the end of the
    grace, its SIGTERM handler never runs, and the kill follows the grace."""
    since = console.offset()
    redis = Redis(host, "none-j")
    redis.register(long_grace_and_reserve, 0)
    filled = redis.fill_until_gone()
    (kill,) = [k for k in console.oom_kills(since) if k.pid == redis.pid]
    (grace,) = [g for g in console.graces(since) if g.pid == redis.pid]
    assert kill.time >= grace.time + long_grace_and_reserve / 1000 - 0.5, (grace, kill)
    log = host.file(redis.log).content_string
    assert "DB saved on disk" not in log and not host.file(redis.dump).exists, f"{filled}; redis log:\n{log[-2000:]}"


def test_k_a_handler_runs_as_the_user_its_registration_declares(host, console):
    """user=65534:65534 caps=20: the handler runs as nobody with CAP_KILL alone (bounding,
    effective and ambient), cannot gain privileges, in the host's network namespace and with a
    /tmp of its own (the runner's unit is sandboxed; its handlers are not in that sandbox)."""
    nobody = "65534"
    hog = Hog(host, "user-k")
    register(host, hog.pid, f"{HANDLERS}/record-identity", 10000, user=f"{nobody}:{nobody}", caps="20")
    hog.go_and_wait_dead()

    seen = handler_output(host, hog.pid)
    assert seen["complete"] == "yes", seen
    assert (seen["uid"], seen["gid"], seen["groups"]) == (nobody, nobody, nobody), seen
    cap_kill = f"{1 << 5:016x}"
    assert (seen["cap_eff"], seen["cap_bnd"], seen["cap_amb"], seen["no_new_privs"]) == (cap_kill,) * 3 + ("1",), seen
    identity = dict(line.split("=", 1) for line in host.file(
        f"{OUTPUT}/identity-{seen['OOMGS_EVENT_ID']}.out").content_string.splitlines() if "=" in line)
    assert identity["net_ns"] == host.check_output("readlink /proc/1/ns/net"), identity
    assert identity["own_tmp"] == f"oomgs-identity-{seen['OOMGS_EVENT_ID']}", identity
    assert host.run("ls /tmp/oomgs-identity-* /var/tmp/oomgs-identity-*").rc != 0, "the handler's /tmp is the host's"
    runner = host.check_output("journalctl -u oomgs-runner.service -o cat --no-pager -n 200")
    assert f"victim pid={hog.pid} " in runner and f"as uid {nobody} gid {nobody} caps 20," in runner


def test_l_a_service_worker_as_victim_runs_the_services_handler_first(host, console):
    """A registration of a whole service (cgroup=): its worker, an unregistered child of the main
    process, is the OOM victim. It gets the grace and the service's handler runs with the
    worker's pid, before the kill; only then does systemd's OOMPolicy=stop (the default) stop
    the unit, main process included."""
    hog = Hog(host, "worker-l", as_worker=True)
    unit, worker = hog.unit, hog.pid
    main = int(host.check_output(f"systemctl show -p MainPID --value {unit}"))
    assert main != worker
    cgroup = host.check_output(f"systemctl show -p ControlGroup --value {unit}")
    since = console.offset()
    write = write_registry(host, f"cgroup={cgroup} {HANDLERS}/record-victim timeout_ms=10000")
    assert write.rc == 0, write.stderr
    assert f"cgroup={cgroup} {HANDLERS}/record-victim timeout_ms=10000" in host.check_output("cat /proc/graceful_shutdown")
    hog.go_and_wait_dead()

    seen = handler_output(host, worker)
    assert seen["complete"] == "yes" and seen["OOMGS_VICTIM_PID"] == str(worker), seen
    (kill,) = [k for k in console.oom_kills(since) if k.pid == worker]
    if GRACE_MAX_MS:
        assert seen["OOMGS_PHASE"] == "grace", seen
        assert [g for g in console.graces(since) if g.pid == worker], "no grace for the worker"
        assert float(seen["started_uptime"]) <= kill.time + 0.25, (seen, kill)
        assert seen["victim_state"] not in ("gone", ""), seen
    # OOMPolicy=stop: systemd stops the unit after the kill, the main process with it
    wait_for(lambda: not host.file(f"/proc/{main}").exists, "systemd to stop the unit", 30)
    result = host.check_output(f"systemctl show -p Result --value {unit}")
    assert result == "oom-kill", result
    # the registration was used up by the kill (the reconciler registers a service again)
    assert f"cgroup={cgroup} " not in host.check_output("cat /proc/graceful_shutdown")
    host.run(f"systemctl reset-failed {unit}")


def test_module_proc_interface_checks(host):
    """The module's own checks (docs/lkm.md): parser, bounds, permissions, event file."""
    assert host.run("systemctl stop oomgs-runner").rc == 0  # the event file has one reader
    result = host.run("/usr/local/lib/oomgs-tests/lkm-tests/run-tests.sh")
    assert host.run("systemctl start oomgs-runner").rc == 0
    assert result.rc == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_kernel_reported_no_problem(console):
    assert console.kernel_problems() == []
