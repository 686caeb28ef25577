# pg_migrate: the fleet filter - whether a rollout must halt before its next wave. The fleet playbook asks it in
# a meta task at the start of each wave (decided in the controller's main process, no task per database).

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.rules import halt_reason_of
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.host_variables import registered_of


def fleet_halt(hosts: list, hostvars, batch: list | None = None) -> str:
    """Why no further wave may start ('' to go on): a preflight problem, a failed health gate, a failed canary,
    or more failed databases than the budget allows. HOSTS are the play's hosts; HOSTVARS Ansible's hostvars;
    BATCH the wave starting now, whose gate (with a fleet ledger) decided for every controller."""
    hosts = list(hosts or [])
    if not hosts:
        return ""
    if batch:
        current = registered_of(hostvars, next(iter(batch)))
        gate = current.get("__pg_migrate_fleet_gate") if "__pg_migrate_fleet_gate" in current else None
        if gate and "ledger" in gate:
            return str(gate.get("halt") or "")
    first = registered_of(hostvars, hosts[0])
    preflight = first.get("__pg_migrate_fleet_preflight") if "__pg_migrate_fleet_preflight" in first else None
    # Only the registered results are read: unrendered (rendering a wave's result walks every database of it).
    return halt_reason_of(preflight or {}, {host: registered_of(hostvars, host) for host in hosts})


class FilterModule:
    def filters(self):
        return {"fleet_halt": fleet_halt}
