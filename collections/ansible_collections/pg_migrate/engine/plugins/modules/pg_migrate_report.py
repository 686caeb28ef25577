# pg_migrate: the documentation of the pg_migrate_report action (plugins/action/pg_migrate_report.py).
# The action runs on the controller; this file holds only its documentation, for ansible-doc.

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_migrate_report
short_description: Write a pg_migrate run's JSON and JUnit reports on the controller
description:
  - Writes O(name).json (the O(report) as indented JSON with sorted keys) and O(name).junit.xml (O(junit)) into
    O(directory), which is created (mode 0755) when it is missing; both files get mode 0644.
  - Each file is written under a temporary name and renamed, so no reader sees half a report.
  - This is an action plugin. It runs entirely on the controller, in Ansible's own process, and opens no
    connection. Reports are written in check mode too (they describe the run; nothing on the managed host changes).
options:
  directory:
    description: The folder of this host's reports (the role passes C(pg_migrate_reports_dir)/<inventory_hostname>).
    type: path
    required: true
  name:
    description: The base name of both files, e.g. C(migrate) or C(verify).
    type: str
    required: true
  report:
    description: The report (schema_version 1, documented in the project's docs/reports.md).
    type: dict
    required: true
  junit:
    description: The JUnit XML text.
    type: str
    required: true
attributes:
  check_mode:
    support: full
    details: The reports are written in check mode too; the task never reports a change.
  platform:
    platforms: all
extends_documentation_fragment:
  - pg_migrate.engine.controller_action
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
"""

EXAMPLES = r"""
- name: Write the run reports
  pg_migrate.engine.pg_migrate_report:
    directory: "{{ pg_migrate_reports_dir }}/{{ inventory_hostname }}"
    name: migrate
    report: "{{ run_report }}"
    junit: "{{ run_report | pg_migrate.engine.run_junit }}"
  check_mode: false
"""

RETURN = r"""
files:
  description: The paths of the JSON and the JUnit file, in that order.
  returned: always
  type: list
  elements: str
"""
