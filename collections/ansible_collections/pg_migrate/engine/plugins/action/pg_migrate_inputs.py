"""pg_migrate_inputs: check on the controller, before any connection, the inputs the argument spec cannot.

The checks are in module_utils/inputs.py; this plugin reports every problem in one message, each naming
its variable and the fix. It runs in the controller process (no module, no connection).
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.pg_migrate.engine.plugins.module_utils.inputs import input_problems, inputs_problems_message


class ActionModule(ActionBase):
    """See the module docstring."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("database", "login_user", "login_host", "durations", "minimums", "reports_dir"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        problems = input_problems(self._task.args)
        if problems:
            raise AnsibleActionFail(inputs_problems_message(problems, (task_vars or {}).get("inventory_hostname", "?")))
        result["changed"] = False
        return result
