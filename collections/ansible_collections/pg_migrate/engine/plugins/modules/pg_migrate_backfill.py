# pg_migrate: the documentation of the pg_migrate_backfill action (plugins/action/pg_migrate_backfill.py).
# The action runs on the controller; this file holds only its documentation, for ansible-doc.

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_migrate_backfill
short_description: Run a pg_migrate backfill in time slices, with progress lines
description:
  - Calls the module C(pg_migrate.engine.pg_migrate) with O(pg_migrate.engine.pg_migrate#module:action=backfill) again
    and again, each call working for about O(progress_every) seconds and returning its keyset cursor, and prints a
    progress line between calls (rows done, of how many, batches, elapsed time, rate), until the backfill is done or
    fails. It is one task for Ansible, however many rows there are.
  - Stopping ansible-playbook stops the current call; its open batch rolls back, committed batches stay, and the next
    run carries on with what is left. When ansible-playbook is gone, the loop ends after the current time slice.
  - In check mode the module is called once and only counts what is left (the dry run).
  - Every option other than O(progress_every), O(unit) and O(blocked_hint) is passed to the module. The action sets
    the module's O(pg_migrate.engine.pg_migrate#module:action), O(pg_migrate.engine.pg_migrate#module:cursor),
    O(pg_migrate.engine.pg_migrate#module:phase), O(pg_migrate.engine.pg_migrate#module:high_water),
    O(pg_migrate.engine.pg_migrate#module:measure) and O(pg_migrate.engine.pg_migrate#module:max_seconds) itself.
  - This is an action plugin. It runs on the controller; the module it calls runs on the managed host.
options:
  progress_every:
    description: Seconds each module call works before it returns for a progress line.
    type: float
    default: 10.0
  unit:
    description:
      - What the rows are, as a plural noun, in the lines an operator reads. Unset or empty, the variable
        C(pg_migrate_backfill_unit) when it is set and not empty, else C(rows).
    type: str
  blocked_hint:
    description:
      - What to do when the count finds rows that the batch script cannot process yet. Unset or empty, the variable
        C(pg_migrate_backfill_blocked_hint) when it is set and not empty, else a generic hint.
    type: str
  changeset:
    description: The change set as returned by the action C(pg_migrate.engine.pg_migrate_changeset).
    type: dict
    required: true
  scripts_dir:
    description: Directory on the managed host that holds the copied scripts.
    type: path
    required: true
  backfill:
    description: The backfill's C(batch) and C(count) scripts, as in the change set's C(backfill).
    type: dict
    required: true
  batch_size:
    description: Rows per batch (each batch is one transaction).
    type: int
    default: 5000
  batch_pause:
    description: Seconds to sleep between batches.
    type: float
    default: 0
  allow_out_of_order:
    description: Passed to the module, which checks the history before it runs the backfill.
    type: bool
    default: false
extends_documentation_fragment:
  - pg_migrate.engine.controller_action
  - community.postgresql.postgres
  - pg_migrate.engine.session
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
    details: In check mode it only counts what is left.
  platform:
    platforms: posix
seealso:
  - module: pg_migrate.engine.pg_migrate_changeset
"""

EXAMPLES = r"""
- name: Run the backfill in batches
  pg_migrate.engine.pg_migrate_backfill:
    progress_every: 10
    unit: orders
    backfill: "{{ discovery.changeset.backfill }}"
    batch_size: 5000
    changeset: "{{ discovery.changeset }}"
    scripts_dir: /var/lib/pg_migrate/app
    login_db: app
  register: result
"""

RETURN = r"""
backfill:
  description:
    - The module's backfill report of the last call, with C(batches) and C(linked) (rows changed) added up over all
      calls, and outside check mode C(duration_s) (the whole backfill) and C(linked_of) (the rows to do when it
      started). Null when the backfill did not start.
  returned: always
  type: dict
summary:
  description: The run summary an operator reads (also of the dry run).
  returned: always
  type: list
  elements: str
  sample:
    - "db1 app: backfill: linked 12,000 orders in 3 batch(es) of up to 5,000, 4.2 s"
    - "  done: every order is linked"
changed:
  description: Rows were changed (in check mode, rows would be).
  returned: always
  type: bool
msg:
  description: Why the backfill failed or stopped.
  returned: failure
  type: str
"""
