# Copyright: oom.graceful_shutdown contributors
# GNU General Public License v2.0 (see COPYING or https://www.gnu.org/licenses/gpl-2.0.txt)
"""Mitogen's linear strategy, for the test bed's playbook runs.

Under TCG every module run costs seconds of guest CPU: a new Python, the module's
zip unpacked and compiled again. Mitogen keeps one Python per device and its
imported modules across tasks (measured on one Debian 12 VM, 9 tasks: 61 s with
plain ssh and pipelining, 15 s with this strategy). The modules, the devices and
what they run are the same; only the transport differs. The smoke scenario keeps
Ansible's own linear strategy, so the plain ssh path users run stays tested.

Mitogen documents pointing strategy_plugins at its own folder; this file does
what its proxy module there does, so the test bed needs no path into the venv.

Mitogen's CPU placement is turned off. On a machine with 2 or 3 CPUs it keeps CPU 0
for its connection multiplexer and pins the playbook's process, its workers and
every process they start to the others: on the test bed's 2 cores, everything on
CPU 1, the qemu of each test VM (started by a local task) and the nested
ansible-playbook runs included. Two VMs then shared one core (47 % each in `top`,
2026-12-03) while CPU 0 stayed almost idle.
"""

from __future__ import annotations

import ansible_mitogen.affinity
import ansible_mitogen.loaders
import ansible_mitogen.strategy

# The base Policy places nothing: processes run where the kernel schedules them.
ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    """Ansible's linear strategy with Mitogen's connection and module runner."""
