# pg_migrate: the documentation of the pg_migrate_import action (plugins/action/pg_migrate_import.py).
# The action runs on the controller; this file holds only its documentation, for ansible-doc.

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_migrate_import
short_description: Convert another tool's migrations into pg_migrate's files
version_added: 1.2.0
description:
  - Reads the migrations of another tool in O(source) and writes them into O(dest) as this engine names them -
    C(V<version>__<description>.sql), its revert C(U<version>__<description>.sql), C(R__<description>.sql) - in
    the same order, with the same versions, carrying the reverts, and with C(-- pg_migrate:no-transaction) on the
    first line of every script the source runs outside a transaction (or that PostgreSQL refuses inside one).
  - "Versions: golang-migrate and goose - the integer as written; dbmate - the digits; Flyway - dotted
    (C(V1_1__x.sql) is 1.1); diesel - the directory's prefix without dashes; EF Core - the MigrationId's timestamp."
  - What it cannot carry (Go or Java migrations, Flyway callbacks and baselines, files that are no migration) is
    listed in RV(not_carried) and as warnings, never dropped silently.
  - Every problem - an unknown O(tool), a missing O(source), a file of O(dest) it would overwrite, two migrations
    of one version, a file that does not parse, a set the engine's discovery would refuse - stops it before the
    first file is written. Files O(dest) already holds with the same text are left as they are.
  - Runs on the controller; the playbook C(pg_migrate.engine.import) runs it.
extends_documentation_fragment:
  - pg_migrate.engine.controller_action
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
options:
  tool:
    description: The tool the migrations come from.
    type: str
    choices: [golang-migrate, goose, dbmate, flyway, diesel, efcore]
    required: true
  source:
    description: The directory of the other tool's migrations (relative paths - to the controller's working directory).
    type: path
    required: true
  dest:
    description: The directory to write the migrations into (created when missing).
    type: path
    required: true
attributes:
  check_mode:
    support: full
    details: Writes nothing; reports what it would write.
  diff_mode:
    support: full
    details: Shows each new file's text.
"""

EXAMPLES = r"""
- name: Import goose migrations
  pg_migrate.engine.pg_migrate_import:
    tool: goose
    source: db/migrations
    dest: migrations
  register: imported
"""

RETURN = r"""
files:
  description: The files written (in check mode - that would be written), in version order.
  returned: success
  type: list
  elements: str
unchanged:
  description: Files O(dest) already held with the same text.
  returned: success
  type: list
  elements: str
sources:
  description: Each written file's name and the source file it came from.
  returned: success
  type: dict
reverts:
  description: A line per migration - the revert written for it, or why it has none.
  returned: success
  type: list
  elements: str
no_transaction:
  description: A line per script given the no-transaction marker, with the reason.
  returned: success
  type: list
  elements: str
notes:
  description: What was changed on the way (a wrapping transaction stripped, a description renamed).
  returned: success
  type: list
  elements: str
not_carried:
  description: What could not be carried, each with what to do instead.
  returned: always
  type: list
  elements: str
summary:
  description: The lines an operator reads.
  returned: success
  type: list
  elements: str
problems:
  description: What stopped the import (nothing was written).
  returned: failure
  type: list
  elements: str
"""
