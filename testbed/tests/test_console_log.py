import console_log

MEMCG = ("[   41.112233] Memory cgroup out of memory: Killed process 812 (oomgs-memhog) "
         "total-vm:90000kB, anon-rss:65000kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:200kB oom_score_adj:0")
GLOBAL = "[   99.000001] Out of memory: Killed process 1234 (python3) total-vm:1kB, anon-rss:1kB"


def test_finds_memcg_and_global_kills():
    kills = console_log.oom_kills(f"boot\n{MEMCG}\nnoise\n{GLOBAL}\n")
    assert [(k.kind, k.pid, k.comm) for k in kills] == [("memcg", 812, "oomgs-memhog"), ("global", 1234, "python3")]


def test_no_oom_means_no_kill():
    assert console_log.oom_kills("[ 1.0] Linux version 6.1\n[ 2.0] oom_reaper started\n") == []


def test_wait_for_oom_kill_fails_when_no_oom_happened(tmp_path):
    log = tmp_path / "console.log"
    log.write_text("[ 1.0] nothing to see\n")
    assert console_log.wait_for_oom_kill(log, 812, timeout=0) is None


def test_wait_for_oom_kill_ignores_other_pids_and_earlier_text(tmp_path):
    log = tmp_path / "console.log"
    log.write_text(MEMCG + "\n")
    since = log.stat().st_size
    assert console_log.wait_for_oom_kill(log, 812, since=since, timeout=0) is None
    with log.open("a") as f:
        f.write(GLOBAL + "\n")
    assert console_log.wait_for_oom_kill(log, 812, since=since, timeout=0) is None
    assert console_log.wait_for_oom_kill(log, 1234, since=since, timeout=0).kind == "global"


def test_kernel_problems():
    text = "[1] ok\n[2] BUG: kernel NULL pointer dereference\n[3] watchdog: BUG: soft lockup - CPU#0\n[4] fine\n"
    assert len(console_log.kernel_problems(text)) == 2
    assert console_log.kernel_problems("[1] all good\n") == []


def test_timestamps_and_graces():
    text = ("[  10.500000] Memory cgroup out of memory: grace period of 3000 ms for process 812 (oomgs-memhog)\n"
            + MEMCG + "\n")
    (grace,) = console_log.graces(text)
    assert (grace.pid, grace.ms, grace.time) == (812, 3000, 10.5)
    assert console_log.oom_kills(text)[0].time == 41.112233
    assert console_log.graces(MEMCG) == []
