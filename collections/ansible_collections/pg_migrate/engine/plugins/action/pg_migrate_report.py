"""pg_migrate_report: write a run's JSON and JUnit reports on the controller, in the controller process.

One task instead of a directory task and two copy tasks (each a module run in a fresh interpreter): the
report costs what Ansible's own task costs. The JSON is Ansible's to_nice_json of the report, so the
files are what the copy tasks wrote before, byte for byte.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.plugins.filter.core import to_nice_json

from ansible_collections.pg_migrate.engine.plugins.module_utils.report import write_report_files


class ActionModule(ActionBase):
    """See the module docstring."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("directory", "name", "report", "junit"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        missing = [key for key in ("directory", "name", "report", "junit") if args.get(key) in (None, "")]
        if missing:
            raise AnsibleActionFail("pg_migrate_report needs %s" % ", ".join(missing))
        try:
            files = write_report_files(
                str(args["directory"]), str(args["name"]), to_nice_json(args["report"]) + "\n", str(args["junit"])
            )
        except OSError as exc:
            raise AnsibleActionFail(
                "cannot write the %s reports to %s: %s (pg_migrate_reports_dir names where they go)"
                % (args["name"], args["directory"], exc.strerror or exc)
            ) from None
        result.update(changed=False, files=files)  # a report of the run, not a change to the managed host
        return result
