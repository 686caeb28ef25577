# pg_migrate: the fleet preflight's read-only status of every database, in one task. A forked Ansible task per
# database was the larger part of what the preflight cost the controller; here each database the controller
# reaches (the controller execution path) is read in this process, with its own variables (host_variables.py),
# exactly as the role's status run on that host would read it - its status report written, its result the
# same. The databases that go through their managed host (pg_migrate_execution: host) are listed instead:
# the playbook reads those with the role's task on each of them.

from __future__ import annotations

import os
from collections.abc import Callable

from ansible.errors import AnsibleError

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import one_line
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.host_variables import HostVariables, role_defaults
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.in_process import execution_path, read_status
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.render_memo import RenderMemo
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.role_settings import (
    connection_from_variables,
    settings_from_variables,
    validated_role_variables,
)

# The preflight play's own variables (playbooks/fleet.yml): a status, which never fails its host.
PREFLIGHT_PLAY = {"pg_migrate_action": "status", "pg_migrate_fail_host": False}


def read_statuses(templar, task_vars: dict, check: bool, show: Callable[[str], None], each: bool = False) -> dict:
    """{"statuses": {host: its status run's result}, "on_hosts": [the hosts read through their managed host]}
    for every host of the play; EACH: SHOW each database's line as it is read (the fleet status)."""
    hostvars = task_vars["hostvars"]
    defaults = role_defaults()
    memo = RenderMemo()
    below = {"pg_migrate_project_dir": os.path.realpath(".")}  # the preflight play's default (fleet.yml)
    statuses: dict[str, dict] = {}
    on_hosts: list[str] = []
    hosts = list(task_vars.get("ansible_play_hosts_all") or [])
    show("fleet: reading the status of %d database(s)" % len(hosts))
    for host in hosts:
        variables = HostVariables(templar, hostvars.raw_get(host), PREFLIGHT_PLAY, below, hostvars, defaults, memo)
        try:
            role_variables = validated_role_variables(variables.render, variables.__contains__)
            settings = settings_from_variables(role_variables.get)
            if execution_path(settings.execution, str(variables.get("ansible_connection", "ssh"))) == "host":
                on_hosts.append(host)
                continue
            connection = connection_from_variables(role_variables.get)
            statuses[host] = read_status(settings, connection, host, check, show)
        except (AnsibleError, RunFailed, ValueError, OSError) as exc:
            # Listed by the preflight as this database's problem, as a failed status task was.
            statuses[host] = {"failed": True, "changed": False, "msg": "%s: %s" % (host, exc), "summary": []}
        if each:
            show(status_line(host, statuses[host]))
    return {"statuses": statuses, "on_hosts": on_hosts}


def status_line(host: str, status: dict) -> str:
    """A database's line as it is read: its summary's first line, or why it could not be read."""
    if status.get("msg"):
        return "%s: could not be read: %s" % (host, one_line(status["msg"]))
    return (status.get("summary") or ["%s: read" % host])[0]
