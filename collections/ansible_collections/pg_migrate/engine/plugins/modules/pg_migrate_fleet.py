# pg_migrate: the documentation of the pg_migrate_fleet action (plugins/action/pg_migrate_fleet.py).
# The action runs on the controller; this file holds only its documentation, for ansible-doc.

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_migrate_fleet
short_description: The fleet-wide steps of a fleet rollout - status read, preflight verdict, report, status
description:
  - Run once (C(run_once)) in the playbooks C(pg_migrate.engine.fleet) and C(pg_migrate.engine.fleet_status).
  - O(phase=read) reads the read-only status of every database of the play that the controller reaches (the
    controller execution path) in this one task, each with its own host's variables, as the role's status run
    on it would (its status report written); it returns them under C(statuses) and lists under C(on_hosts)
    the databases that go through their managed host (C(pg_migrate_execution=host)), which the playbook
    reads with the role's task on each.
  - The later phases read each database's run from C(hostvars) (the role's task), else from the read phase's
    registered result (C(__pg_migrate_fleet_read)) and the wave phase's (C(__pg_migrate_fleet_wave)).
  - O(phase=preflight) - from every database's read-only status - lists the problems that stop the rollout
    before its first change (unreachable, hot standby, drift, a database not on the fleet's version), cuts the
    waves (C(pg_migrate_fleet_waves), as Ansible's serial) and fixes the failure budget
    (C(pg_migrate_fleet_max_failures)).
  - O(phase=wave) migrates the databases of the current wave (C(ansible_play_batch)) that the controller reaches
    in this one task, as many at once as Ansible's forks, each with its own host's variables, as the role's
    migrate run on it would (its fleet ledger turn, its reports, its line of the in-progress fleet report, a
    progress line as it finishes); it returns them under C(runs) and lists under C(on_hosts) the databases that
    go through their managed host, which the playbook migrates with the role's task on each.
  - O(phase=report) writes C(fleet.json), C(fleet.junit.xml), C(fleet.html) and C(fleet.resume) into
    C(pg_migrate_reports_dir) and returns the summary lines and the verdict, whatever happened.
  - O(phase=status) writes C(fleet-status.json) and returns a table - databases per version, behind, drift.
extends_documentation_fragment:
  - pg_migrate.engine.controller_action
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
options:
  phase:
    description: Which step.
    type: str
    choices: [read, preflight, gate, wave, report, status]
    required: true
  each:
    description: (read) Print each database's line as it is read (the fleet status does).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Decide whether the rollout may start
  pg_migrate.engine.pg_migrate_fleet:
    phase: preflight
  run_once: true
  register: __pg_migrate_fleet_preflight
"""

RETURN = r"""
statuses:
  description: (read) Each database's status run, by host, as the role's run task returns it.
  returned: phase=read
  type: dict
runs:
  description: (wave) Each database's migrate run, by host, as the role's run task returns it.
  returned: phase=wave
  type: dict
tally:
  description: (wave) The running totals after the wave on this controller (C(done), C(failed)).
  returned: phase=wave
  type: dict
diff:
  description: (wave, with --diff) Each database's scripts as its run shows them, in wave order.
  returned: phase=wave and diff mode
  type: list
  elements: dict
on_hosts:
  description: (read, wave) The databases left to the role's task on their managed host.
  returned: phase=read or phase=wave
  type: list
  elements: str
problems:
  description: (preflight) One line per database that stops the rollout.
  returned: phase=preflight
  type: list
  elements: str
waves:
  description: (preflight) The hosts of each wave, in order.
  returned: phase=preflight
  type: list
  elements: list
verdict:
  description: (report) complete, halted, blocked or failed.
  returned: phase=report
  type: str
summary:
  description: (report, status) The lines an operator reads.
  returned: phase=report or phase=status
  type: list
  elements: str
"""
