# pg_migrate: the documentation of the pg_migrate_inputs action (plugins/action/pg_migrate_inputs.py).
# The action runs on the controller; this file holds only its documentation, for ansible-doc.

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_migrate_inputs
short_description: Check the pg_migrate role's inputs on the controller before anything connects
description:
  - Checks what an argument spec cannot, before any connection is made, and fails with one message that lists
    every problem, each naming its variable and the fix.
  - The database name and the login user must not be empty (libpq would fall back to defaults and the run would
    touch another database), the login host must not be white space only.
  - Each of O(durations) must be a PostgreSQL duration (a number with one of the units C(us), C(ms), C(s),
    C(min), C(h), C(d), or a bare number of milliseconds).
  - Each of O(minimums) must be a number of at least its minimum.
  - O(reports_dir) is created when it is missing, and a file must be writable there.
  - This is an action plugin. It runs entirely on the controller and opens no connection, neither to the managed
    host nor to the database.
options:
  database:
    description: The database the run is to change (the role passes C(pg_migrate_db)).
    type: str
  login_user:
    description: The role to log in as (the role passes C(pg_migrate_login_user)).
    type: str
  login_host:
    description: The server's host name or address; empty means the local Unix socket.
    type: str
  durations:
    description: Variable name to value, each of which must be a PostgreSQL duration.
    type: dict
  minimums:
    description:
      - Variable name to a list of two, the value and its minimum; the value must be a number of at least the
        minimum.
    type: dict
  reports_dir:
    description: The directory on the controller the run reports go to.
    type: str
attributes:
  check_mode:
    support: full
    details: It creates O(reports_dir) when it is missing, in check mode too; nothing else is changed.
  platform:
    platforms: all
extends_documentation_fragment:
  - pg_migrate.engine.controller_action
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
"""

EXAMPLES = r"""
- name: Check the inputs before anything connects
  pg_migrate.engine.pg_migrate_inputs:
    database: "{{ pg_migrate_db }}"
    login_user: "{{ pg_migrate_login_user }}"
    login_host: "{{ pg_migrate_login_host }}"
    durations:
      pg_migrate_lock_timeout: "{{ pg_migrate_lock_timeout }}"
    minimums:
      pg_migrate_lock_retries: ["{{ pg_migrate_lock_retries }}", 0]
    reports_dir: "{{ pg_migrate_reports_dir }}/{{ inventory_hostname }}"
"""

RETURN = r"""
changed:
  description: Always false.
  returned: success
  type: bool
msg:
  description: Every problem found, one per line, each naming its variable and the fix.
  returned: failure
  type: str
"""
