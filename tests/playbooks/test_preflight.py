"""site.yml's first play: what the devices declare is checked on the controller, and a bad
registration stops the whole run before anything is built or any device is touched.

The devices of these inventories point at a closed port on the loopback address: a run that got
past the checks would show UNREACHABLE, and none may. Runs ansible-playbook for real (about 5 s
each); scripts/test-all calls it with ANSIBLE_COLLECTIONS_PATH set to this checkout.
"""

import json
import os
import subprocess
from pathlib import Path

SITE = Path(__file__).resolve().parents[2] / "playbooks" / "site.yml"
GOOD = {"name": "data-logger", "service": "data-logger.service", "handler": "/usr/local/lib/data-logger/save-buffer"}


def run_site(tmp_path, registrations_by_host):
    hosts = {
        host: {"ansible_host": "127.0.0.1", "ansible_port": 9, "ansible_user": "nobody",
               "graceful_shutdown_registrations": registrations}
        for host, registrations in registrations_by_host.items()
    }
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"devices": {"hosts": hosts}}))  # JSON is YAML
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_TIMEOUT="5", ANSIBLE_NOCOLOR="1",
               ANSIBLE_STRATEGY="linear")
    return subprocess.run(["ansible-playbook", "-v", "-i", str(inventory), str(SITE)], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_a_typo_stops_every_device_before_anything_changes(tmp_path):
    typo = dict(GOOD, handlr=GOOD["handler"], group="data-logger", capabilities=["CAP_KIL"])
    del typo["handler"]
    early_whole = dict(GOOD, name="early-whole", mode="early", scope="service")
    comm_scope = {"name": "by-comm", "comm": "data-logger", "scope": "main", "handler": GOOD["handler"]}
    run = run_site(tmp_path, {"sensor-a": [GOOD], "sensor-b": [GOOD, typo, early_whole, comm_scope]})
    out = run.stdout
    assert run.returncode != 0
    assert ("sensor-b: graceful_shutdown_registrations[1] (data-logger): name 'data-logger' is used by "
            "graceful_shutdown_registrations[0] too") in out
    assert ("sensor-b: graceful_shutdown_registrations[1] (data-logger): unknown key 'handlr' "
            "(did you mean 'handler'?)") in out
    assert "sensor-b: graceful_shutdown_registrations[1] (data-logger): group needs user" in out
    assert ("sensor-b: graceful_shutdown_registrations[1] (data-logger): capabilities: unknown capability 'CAP_KIL' "
            "(did you mean 'CAP_KILL'?)") in out
    assert ("sensor-b: graceful_shutdown_registrations[2] (early-whole): scope: service registers the unit's whole "
            "cgroup, and mode: early covers one process: use scope: main") in out
    assert ("sensor-b: graceful_shutdown_registrations[3] (by-comm): scope is for the service selector only") in out
    assert "sensor-a: 1 registration(s) declared, all valid" in out
    assert "UNREACHABLE" not in out, out  # nothing connected to any device
    assert "PLAY [Build the patched kernel" not in out, out


def test_valid_declarations_pass_to_the_rollout(tmp_path):
    run = run_site(tmp_path, {"sensor-a": [dict(GOOD, user="data-logger", group=998, capabilities=["CAP_KILL"]),
                                           dict(GOOD, name="main-only", scope="main"),
                                           dict(GOOD, name="early", mode="early", scope="main")],
                              "sensor-b": []})
    out = run.stdout
    assert "sensor-a: 3 registration(s) declared, all valid" in out
    assert "sensor-b: 0 registration(s) declared, all valid" in out
    # past the checks: the next play tries the devices (which are not there)
    assert "PLAY [Build the patched kernel" in out and "UNREACHABLE" in out, out
