# pg_migrate: the databases of a fleet task that runs once for all of them (the preflight's read, a wave), each
# with the settings the role's task on its host would have: that host's variables under the play's own
# (host_variables.py), rendered (templates shared between hosts where they cannot differ: render_memo.py),
# validated against the role's argument spec, and the execution path they give.

from __future__ import annotations

import os
from dataclasses import dataclass

from ansible.errors import AnsibleError

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.settings.declared import RunSettings
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.host_variables import HostVariables, role_defaults
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.in_process import execution_path
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.render_memo import RenderMemo
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.role_settings import (
    connection_from_variables,
    settings_from_variables,
    validated_role_variables,
)

# What reading a host's settings may raise: that database's problem, never the task's.
UNREADABLE = (AnsibleError, RunFailed, ValueError, OSError)


@dataclass(frozen=True)
class FleetHost:
    """A database's settings as the role's task on its host would have them."""

    host: str
    settings: RunSettings
    connection: dict
    variables: dict  # the role's variables, rendered and validated (the fleet ledger's settings are read there)
    on_host: bool  # it goes through its managed host (pg_migrate_execution: host): the role's task runs it


class FleetHosts:
    """The hosts of a task that runs once for the fleet (TASK_VARS: its variables), under PLAY (the play's own
    variables, which win over the host's) and PLAY_DEFAULTS (the play's defaults, below the host's)."""

    def __init__(self, templar, task_vars: dict, play: dict, play_defaults: dict | None = None) -> None:
        self.templar = templar
        self.hostvars = task_vars["hostvars"]
        self.play = play
        # The fleet playbook's plays default the project directory to the one ansible-playbook runs in.
        self.below = {"pg_migrate_project_dir": os.path.realpath("."), **(play_defaults or {})}
        self.defaults = role_defaults()
        self.memo = RenderMemo()

    def read(self, host: str) -> FleetHost:
        """HOST's settings (raises one of UNREADABLE when they cannot be read or are refused)."""
        raw = self.hostvars.raw_get(host)
        variables = HostVariables(self.templar, raw, self.play, self.below, self.hostvars, self.defaults, self.memo)
        role_variables = validated_role_variables(variables.render, variables.__contains__)
        settings = settings_from_variables(role_variables.get)
        on_host = execution_path(settings.execution, str(variables.get("ansible_connection", "ssh"))) == "host"
        connection = {} if on_host else connection_from_variables(role_variables.get)
        return FleetHost(host, settings, connection, role_variables, on_host)


def failed_run(host: str, exc: BaseException) -> dict:
    """The result of a database whose settings could not be read, or whose run raised: a failed role task's."""
    return {"failed": True, "changed": False, "msg": "%s: %s" % (host, exc), "summary": []}
