# pg_migrate: the documentation of the pg_migrate_run action (plugins/action/pg_migrate_run.py).
# The action runs on the controller; this file holds only its documentation, for ansible-doc.

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_migrate_run
short_description: One pg_migrate run against one database, as one task
description:
  - The task the pg_migrate role runs per database. O(phase=start) checks every input (before anything
    connects), discovers and validates the change set, then runs the action - preflight, then migrate,
    rollback, status, verify or seed, and after a migrate the verification - and writes the run and
    verification reports (JSON and JUnit) under the C(reports_dir) of O(settings), in <inventory_hostname>/.
  - With C(execution=controller) in O(settings) the database work runs in the controller process with psycopg on the
    controller - no module is copied, no interpreter started, no background job, and the login password is
    never written to a file. Progress lines for long steps are printed by the action itself.
  - With C(execution=host) in O(settings) it runs through the M(pg_migrate.engine.pg_migrate) module on the managed
    host, with the change set unpacked there. A migrate or rollback that has work to do returns RV(deferred)
    instead; the role then runs it as a background job, follows it with M(pg_migrate.engine.pg_migrate_watch)
    and calls O(phase=finish) with the job's result for the reports and the summary.
  - C(execution=auto) in O(settings) takes the controller when the task's connection is local (the local
    inventory, or delegate_to localhost), the managed host otherwise.
  - Without O(settings) and connection options (as the role runs it), the action reads the role's variables
    (C(pg_migrate_*)) itself, validates them against the role's C(meta/argument_specs.yml) - every error in
    one message, before anything connects - and renders only those whose values are templates.
  - Given O(settings), the connection options (login_db, login_host, ...) come from the task or from
    C(module_defaults) of the action group C(group/pg_migrate.engine.all).
options:
  phase:
    description: C(start) runs the action; C(finish) concludes a background job of the host path.
    type: str
    choices: [start, finish]
    default: start
  settings:
    description:
      - The role's variables without their C(pg_migrate_) prefix, e.g. action, execution, migrations_dir,
        reports_dir, history_table, verify_schema, expected_schema; a setting left out takes its declared default.
      - When omitted, the action reads the role's variables itself (see above). The host path's finish task gets
        the settings the first task validated (its result's C(settings)).
    type: dict
  job:
    description: With O(phase=finish), the background job's result (from pg_migrate_watch, or the backfill's).
    type: dict
attributes:
  check_mode:
    support: full
    details: Nothing is changed; a migrate rehearses with C(rehearse) in O(settings) and is linted with squawk.
  diff_mode:
    support: full
extends_documentation_fragment:
  - pg_migrate.engine.session
  - pg_migrate.engine.controller_action
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
"""

EXAMPLES = r"""
- name: Migrate one database
  pg_migrate.engine.pg_migrate_run:
    login_db: xp
    settings:
      action: migrate
      execution: auto
      migrations_dir: "{{ playbook_dir }}/migrations"
      reports_dir: "{{ playbook_dir }}/reports"
      history_schema: public
      history_table: pg_migrate_history
  register: run
"""

RETURN = r"""
summary:
  description: The lines an operator reads (versions, what ran, verification counts, report paths).
  returned: always
  type: list
  elements: str
msg:
  description: Why the run or its verification failed (the role fails the host with it after the summary).
  returned: on failure
  type: str
files:
  description: The report files written.
  returned: when the run reached the database
  type: list
  elements: str
deferred:
  description: The host path's change waits for the background job (phase start).
  returned: sometimes
  type: bool
plan:
  description: The plan of the run (as the pg_migrate module returns it).
  returned: when the run reached the database
  type: dict
started_at:
  description:
    - When the run began, UTC ISO 8601 to the millisecond - the engine's own time (on the host path by the
      managed host's clock), else this task's; the fleet page's timeline places the run by it.
  returned: when the run ran (not the host path's phase start)
  type: str
finished_at:
  description: When the run ended, by the same clock as RV(started_at).
  returned: when the run ran (not the host path's phase start)
  type: str
"""
