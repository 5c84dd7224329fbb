"""cgroup v1 through libcgroup after converge and one reboot: limits, units, rules, a memcg OOM."""

import re
import time
from pathlib import Path

import pytest
import yaml
from fixtures import env_int

ROOT = Path(__file__).resolve().parents[3]
CONVERGE = yaml.safe_load((ROOT / "molecule" / "cgroups" / "converge.yml").read_text())[0]["vars"]
DEFAULTS = yaml.safe_load((ROOT / "roles" / "cgroups" / "defaults" / "main.yml").read_text())
MEMORY = "/sys/fs/cgroup/memory"
APPS = DEFAULTS["cgroups_apps_group"]
HANDLERS = DEFAULTS["cgroups_handlers_group"]
APP_SERVICE = "oomgs-test-app.service"
HOG = "/usr/local/bin/oomgs-memhog"


def memory_cgroup(host, pid: int) -> str:
    """The memory controller's cgroup of a process (cgroup v1: a line N:memory:/PATH)."""
    for line in host.file(f"/proc/{pid}/cgroup").content_string.splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return path
    raise AssertionError(f"pid {pid} has no memory cgroup: {host.file(f'/proc/{pid}/cgroup').content_string}")


def wait_for_memory_cgroup(host, pid: int, wanted: str, timeout: float = 20) -> str:
    """cgrulesengd moves a process shortly after its exec: wait for it."""
    deadline = time.monotonic() + timeout
    while True:
        path = memory_cgroup(host, pid)
        if path == wanted or time.monotonic() > deadline:
            return path
        time.sleep(0.5)


def wait_for_pidfile(host, path: str, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while not host.file(path).exists:
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.5)
    return int(host.file(path).content_string)


def expected_apps_limit(host) -> int:
    """25% of MemTotal in whole pages, as the role (and systemd, for v2) computes it."""
    share = CONVERGE["cgroups_apps_memory_max"]
    assert share.endswith("%")
    total = int(re.search(r"MemTotal:\s+(\d+) kB", host.file("/proc/meminfo").content_string)[1]) * 1024
    page = int(host.check_output("getconf PAGESIZE"))
    return total // page * round(float(share[:-1]) * 100) // 10000 * page


def test_rebooted_into_cgroup_v1(host):
    before = host.file("/var/lib/oomgs-tests/boot-id-before-reboot").content_string
    assert host.file("/proc/sys/kernel/random/boot_id").content_string != before, "the side effect did not reboot"
    cmdline = host.file("/proc/cmdline").content_string.split()
    for flag in ("cgroup_enable=memory", "swapaccount=1", "systemd.unified_cgroup_hierarchy=0"):
        assert flag in cmdline, cmdline
    assert not host.file("/sys/fs/cgroup/cgroup.controllers").exists, "cgroup v2 at /sys/fs/cgroup"
    assert host.file(f"{MEMORY}/memory.usage_in_bytes").exists
    state = host.run("systemctl is-system-running --wait")
    assert state.stdout.strip() == "running", host.run("systemctl --failed --no-legend").stdout


@pytest.mark.parametrize("unit", ["cgconfigparser.service", "cgrulesengd.service"])
def test_libcgroup_units_enabled_and_active(host, unit):
    assert host.run(f"systemctl is-enabled {unit}").stdout.strip() == "enabled"
    assert host.run(f"systemctl is-active {unit}").stdout.strip() == "active", host.run(
        f"journalctl -b -u {unit} --no-pager"
    ).stdout


def test_apps_group_has_the_configured_limit(host):
    limit = expected_apps_limit(host)
    assert int(host.file(f"{MEMORY}/{APPS}/memory.limit_in_bytes").content_string) == limit
    # no swap beyond the limit (cgroups_apps_swap: false)
    assert int(host.file(f"{MEMORY}/{APPS}/memory.memsw.limit_in_bytes").content_string) == limit


def test_handlers_group_has_its_soft_limit(host):
    soft = int(host.file(f"{MEMORY}/{HANDLERS}/memory.soft_limit_in_bytes").content_string)
    assert soft == 48 * 1024 * 1024
    # no cap by default: the kernel's "unlimited" (a huge page-aligned number)
    assert int(host.file(f"{MEMORY}/{HANDLERS}/memory.limit_in_bytes").content_string) > 2**60


def test_rules(host):
    rules = [
        line.split()
        for line in host.file("/etc/cgrules.conf").content_string.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules == [
        ["root:oomgs-runner", "memory", f"{HANDLERS}/"],
        ["root:oomgs-v1-ruled", "memory", f"{APPS}/"],
        ["*:oomgs-memhog", "memory", f"{APPS}/"],
    ]


def test_no_v2_placement_in_v1_mode(host):
    assert not host.file(f"/etc/systemd/system/{APP_SERVICE}.d/50-oomgs-cgroup.conf").exists


def test_application_service_placed_at_boot(host):
    """The service started at boot; cgrulesengd, up before basic.target, moved it at its exec."""
    pid = int(host.check_output(f"systemctl show -p MainPID --value {APP_SERVICE}"))
    assert pid, f"{APP_SERVICE} does not run"
    assert memory_cgroup(host, pid) == f"/{APPS}"


def test_application_service_placed_again_after_restart(host):
    before = int(host.check_output(f"systemctl show -p MainPID --value {APP_SERVICE}"))
    host.check_output(f"systemctl restart {APP_SERVICE}")
    pid = int(host.check_output(f"systemctl show -p MainPID --value {APP_SERVICE}"))
    assert pid and pid != before
    assert wait_for_memory_cgroup(host, pid, f"/{APPS}") == f"/{APPS}"
    # systemd still tracks the service in its own hierarchy
    assert host.run(f"systemctl is-active {APP_SERVICE}").stdout.strip() == "active"


def test_a_rule_of_cgroups_v1_rules_places_a_program(host):
    """root:oomgs-v1-ruled (from cgroups_v1_rules) and the runner's rule root:oomgs-runner."""
    # copies of sleep under the rules' process names (/run is noexec)
    bin_dir = "/var/lib/oomgs-tests/bin"
    host.check_output(
        f"install -d {bin_dir} && cp /bin/sleep {bin_dir}/oomgs-v1-ruled && cp /bin/sleep {bin_dir}/oomgs-runner"
    )
    for program, group in (("oomgs-v1-ruled", APPS), ("oomgs-runner", HANDLERS)):
        unit = f"oomgs-test-{program}"
        host.check_output(f"systemd-run --quiet --collect --unit={unit} {bin_dir}/{program} 300")
        try:
            pid = int(host.check_output(f"systemctl show -p MainPID --value {unit}"))
            assert wait_for_memory_cgroup(host, pid, f"/{group}") == f"/{group}", program
        finally:
            host.run(f"systemctl stop {unit}")


def test_memcg_oom_in_the_apps_group_kills_only_the_hog(host, console):
    app_pid = int(host.check_output(f"systemctl show -p MainPID --value {APP_SERVICE}"))
    assert memory_cgroup(host, app_pid) == f"/{APPS}"
    outside = "oomgs-test-bystander"
    host.check_output(f"systemd-run --quiet --collect --unit={outside} /bin/sleep 600")
    outside_pid = int(host.check_output(f"systemctl show -p MainPID --value {outside}"))
    oom_kills_before = int(
        re.search(r"oom_kill (\d+)", host.file(f"{MEMORY}/{APPS}/memory.oom_control").content_string)[1]
    )
    # CGROUPS_HOG_MIB below the limit (about 170) makes this test fail: no OOM, no console line.
    hog_mib = env_int("CGROUPS_HOG_MIB", 2 * expected_apps_limit(host) // 2**20)

    host.run("rm -f /run/oomgs-tests/hog.pid /run/oomgs-tests/hog.go && install -d /run/oomgs-tests")
    since = console.offset()
    # The hog is placed by the rule *:oomgs-memhog when it starts, and allocates only once it is.
    host.check_output(
        f"systemd-run --quiet --collect --unit=oomgs-test-hog {HOG} {hog_mib}"
        " --pidfile /run/oomgs-tests/hog.pid --go-file /run/oomgs-tests/hog.go"
    )
    try:
        hog = wait_for_pidfile(host, "/run/oomgs-tests/hog.pid")
        assert wait_for_memory_cgroup(host, hog, f"/{APPS}") == f"/{APPS}", "the rule did not place the hog"
        host.check_output("touch /run/oomgs-tests/hog.go")

        kill = console.wait_for_oom_kill(hog, since, timeout=120)
        assert kill is not None, f"no OOM kill of the hog (pid {hog}) on the console"
        assert kill.kind == "memcg", kill.line
        assert [k.pid for k in console.oom_kills(since)] == [hog], "the OOM killed more than the hog"
        oom_control = host.file(f"{MEMORY}/{APPS}/memory.oom_control").content_string
        assert int(re.search(r"oom_kill (\d+)", oom_control)[1]) == oom_kills_before + 1, oom_control

        # the other process of the group and the one outside it live on, the machine is fine
        assert host.file(f"/proc/{app_pid}").exists, f"{APP_SERVICE} died"
        assert int(host.check_output(f"systemctl show -p MainPID --value {APP_SERVICE}")) == app_pid
        assert host.file(f"/proc/{outside_pid}").exists
        assert host.run("systemctl is-system-running").stdout.strip() == "running"
        assert console.kernel_problems(since) == []
    finally:
        host.run(f"systemctl stop oomgs-test-hog {outside}")
