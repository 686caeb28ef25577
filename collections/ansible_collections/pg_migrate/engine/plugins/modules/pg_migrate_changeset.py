# pg_migrate: the documentation of the pg_migrate_changeset action (plugins/action/pg_migrate_changeset.py).
# The action runs on the controller; this file holds only its documentation, for ansible-doc.

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_migrate_changeset
short_description: Discover and validate a pg_migrate change set on the controller and bundle it
description:
  - Reads the migrations (V, U and verify scripts) from O(migrations_dir), the repeatable (R__) scripts from
    O(seeds_dir) and, if given, the backfill's batch and count scripts, and checks them before anything connects
    to a database. It checks the file names and their pairing, duplicate and ambiguous versions, UTF-8 and the SQL
    (parsed with C(pglast)), and records each script's SHA-256 and statement offsets.
  - Every problem is reported in one message, and the task fails; nothing is changed.
  - Writes the scripts into one tar file (the bundle) in Ansible's per-run temporary directory on the controller,
    for the role to copy to the managed host; it is removed when ansible-playbook exits.
  - This is an action plugin. It runs entirely on the controller and opens no connection, neither to the managed
    host nor to the database. The role C(pg_migrate.engine.pg_migrate) runs it once per play (C(run_once)).
options:
  migrations_dir:
    description:
      - The directory on the controller with the migrations, C(V<version>__<description>.sql),
        C(U<version>__<description>.sql) and C(V<version>__<description>.verify.sql), and optionally repeatable
        C(R__<description>.sql) scripts. The role passes C(pg_migrate_migrations_dir).
    type: str
    required: true
  seeds_dir:
    description:
      - The directory on the controller with repeatable C(R__<description>.sql) scripts only. Empty or unset, no
        seeds are read.
    type: str
  backfill_script:
    description:
      - The backfill's batch script (one statement, a C(.sql) file); its count script C(<name>.count.sql) must sit
        beside it. Empty or unset, no backfill is read.
    type: str
  file_mode:
    description: The mode of the script files in the bundle, in octal.
    type: str
    default: "0640"
  dir_mode:
    description: The mode of the directories in the bundle, in octal.
    type: str
    default: "0750"
attributes:
  check_mode:
    support: full
    details: It changes nothing, in check mode or not.
  platform:
    platforms: all
extends_documentation_fragment:
  - pg_migrate.engine.controller_action
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
notes:
  - Requires the Python library C(pglast) on the controller.
"""

EXAMPLES = r"""
- name: Discover and validate the change set
  pg_migrate.engine.pg_migrate_changeset:
    migrations_dir: "{{ playbook_dir }}/migrations"
    seeds_dir: "{{ playbook_dir }}/seeds"
    backfill_script: ""
  run_once: true
  register: discovery

- name: Copy the bundle to the managed host
  ansible.builtin.unarchive:
    src: "{{ discovery.bundle }}"
    dest: /var/lib/pg_migrate/app
"""

RETURN = r"""
changeset:
  description:
    - The change set, as the module C(pg_migrate.engine.pg_migrate) takes it in its option
      O(pg_migrate.engine.pg_migrate#module:changeset).
  returned: success
  type: dict
  contains:
    migrations:
      description:
        - One entry per version, sorted by version, with its migration, its revert script and its verify script
          (each with its file name, SHA-256 and statement offsets).
      type: list
      elements: dict
    repeatables:
      description: The repeatable (R__) scripts of both directories, sorted by name, each with its SHA-256.
      type: list
      elements: dict
    backfill:
      description: The backfill's C(batch) and C(count) scripts.
      returned: when O(backfill_script) is set
      type: dict
bundle:
  description: The path of the bundle (a tar file) on the controller.
  returned: success
  type: str
  sample: /home/operator/.ansible/tmp/ansible-local-1234abcd/pg_migrate-x1y2z3/changeset.tar
warnings:
  description: What is odd about the change set without being an error (Ansible shows them as warnings).
  returned: success
  type: list
  elements: str
"""
