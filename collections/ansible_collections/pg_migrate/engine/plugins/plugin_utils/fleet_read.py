# pg_migrate: the fleet preflight's read-only status of every database, in one task. A forked Ansible task per
# database was the larger part of what the preflight cost the controller; here each database the controller
# reaches (the controller execution path) is read in this process, with its own variables (host_variables.py),
# exactly as the role's status run on that host would read it - its status report written, its result the
# same. The databases that go through their managed host (pg_migrate_execution: host) are listed instead:
# the playbook reads those with the role's task on each of them.

from __future__ import annotations

from collections.abc import Callable

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import one_line
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_hosts import UNREADABLE, FleetHosts, failed_run
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.in_process import read_status

# The preflight play's own variables (playbooks/fleet.yml): a status, which never fails its host.
PREFLIGHT_PLAY = {"pg_migrate_action": "status", "pg_migrate_fail_host": False}


def read_statuses(templar, task_vars: dict, check: bool, show: Callable[[str], None], each: bool = False) -> dict:
    """{"statuses": {host: its status run's result}, "on_hosts": [the hosts read through their managed host]}
    for every host of the play; EACH: SHOW each database's line as it is read (the fleet status)."""
    fleet = FleetHosts(templar, task_vars, PREFLIGHT_PLAY)
    statuses: dict[str, dict] = {}
    on_hosts: list[str] = []
    hosts = list(task_vars.get("ansible_play_hosts_all") or [])
    show("fleet: reading the status of %d database(s)" % len(hosts))
    for host in hosts:
        try:
            read = fleet.read(host)
            if read.on_host:
                on_hosts.append(host)
                continue
            statuses[host] = read_status(read.settings, read.connection, host, check, show)
        except UNREADABLE as exc:
            # Listed by the preflight as this database's problem, as a failed status task was.
            statuses[host] = failed_run(host, exc)
        if each:
            show(status_line(host, statuses[host]))
    return {"statuses": statuses, "on_hosts": on_hosts}


def status_line(host: str, status: dict) -> str:
    """A database's line as it is read: its summary's first line, or why it could not be read."""
    if status.get("msg"):
        return "%s: could not be read: %s" % (host, one_line(status["msg"]))
    return (status.get("summary") or ["%s: read" % host])[0]
