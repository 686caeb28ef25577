"""plugins/filter/fleet.py (pg_migrate.engine.fleet_halt) called directly, over Ansible's real hostvars: an
InventoryManager of the play's hosts and a VariableManager holding what the play registered (the preflight's
verdict on the first host, each database's pg_migrate_run result), as playbooks/fleet.yml asks it at the start
of each wave: `ansible_play_hosts_all | pg_migrate.engine.fleet_halt(hostvars)`."""

from __future__ import annotations

import pytest
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.hostvars import HostVars
from ansible.vars.manager import VariableManager

from tests.unit.plugins import load

FILTER = load("filter/fleet.py", "pg_migrate_fleet_filter")
HOSTS = ["db1-canary", "db1-a", "db2-b", "db2-c"]
PREFLIGHT = "__pg_migrate_fleet_preflight"
GOOD_PREFLIGHT = {"problems": [], "allowed": 1, "canaries": ["db1-canary"], "canary_stops": True}
APPLIED = {"action": "migrate", "applied": [{"version": "002"}], "plan": {"from_version": "001"}}
CURRENT = {"action": "migrate", "applied": [], "plan": {"from_version": "002"}}


def failed(message: str = "V002__x.sql failed at statement 1", **extra: object) -> dict:
    return {"action": "migrate", "failed": True, "msg": message, **extra}


def hostvars(registered: dict[str, dict], hosts: list[str] = HOSTS) -> HostVars:
    """Ansible's hostvars over HOSTS with REGISTERED (host -> {variable: value}) set as a play's register sets it."""
    loader = DataLoader()
    inventory = InventoryManager(loader, sources=[",".join(hosts) + ","])
    variables = VariableManager(loader=loader, inventory=inventory)
    for host, facts in registered.items():
        variables.set_nonpersistent_facts(host, facts)
    return HostVars(inventory=inventory, variable_manager=variables, loader=loader)


def halt(registered: dict[str, dict], hosts: list[str] = HOSTS) -> str:
    return FILTER.fleet_halt(hosts, hostvars(registered, hosts))


def test_the_collection_names_the_filter_fleet_halt():
    assert FILTER.FilterModule().filters() == {"fleet_halt": FILTER.fleet_halt}


def test_the_first_wave_starts_after_a_clean_preflight_and_later_waves_after_good_runs():
    assert halt({HOSTS[0]: {PREFLIGHT: GOOD_PREFLIGHT}}) == ""
    registered = {
        HOSTS[0]: {PREFLIGHT: GOOD_PREFLIGHT, "__pg_migrate_run": APPLIED},
        HOSTS[1]: {"__pg_migrate_run": CURRENT},
    }
    assert halt(registered) == ""


def test_no_hosts_left_is_no_reason_to_halt():
    assert FILTER.fleet_halt([], hostvars({})) == ""
    assert FILTER.fleet_halt(None, hostvars({})) == ""


@pytest.mark.parametrize(
    "preflight",
    [None, {}, {"allowed": 3}],
    ids=["not registered", "empty (the task was skipped)", "no problems key (the task failed)"],
)
def test_without_a_preflight_verdict_nothing_may_start(preflight):
    registered = {} if preflight is None else {HOSTS[0]: {PREFLIGHT: preflight}}
    assert halt(registered) == "the fleet preflight has no result (it did not run, or failed): nothing may be changed"


def test_the_preflight_is_read_from_the_first_play_host_only():
    # On another host it is not the play's verdict (the preflight registers it on the first host).
    assert halt({HOSTS[1]: {PREFLIGHT: GOOD_PREFLIGHT}}).startswith("the fleet preflight has no result")


def test_preflight_problems_halt_before_the_first_wave_with_their_count():
    verdict = dict(GOOD_PREFLIGHT, problems=["db2-b: drift in V001__x.sql", "db2-c: no status"])
    assert halt({HOSTS[0]: {PREFLIGHT: verdict}}) == "the fleet preflight found 2 problem(s)"


def test_a_failed_canary_halts_the_rollout_even_within_the_budget():
    registered = {HOSTS[0]: {PREFLIGHT: GOOD_PREFLIGHT, "__pg_migrate_run": failed()}}
    assert halt(registered) == "the canary failed (db1-canary)"
    no_stop = dict(GOOD_PREFLIGHT, canary_stops=False)
    assert halt({HOSTS[0]: {PREFLIGHT: no_stop, "__pg_migrate_run": failed()}}) == ""


def test_failures_beyond_the_budget_halt_naming_every_failed_database():
    registered = {
        HOSTS[0]: {PREFLIGHT: GOOD_PREFLIGHT, "__pg_migrate_run": APPLIED},
        HOSTS[1]: {"__pg_migrate_run": failed()},
    }
    assert halt(registered) == ""  # one failure, one allowed
    registered[HOSTS[3]] = {"__pg_migrate_run": failed("connection refused")}
    assert halt(registered) == "the failure budget is exhausted: 2 failed, 1 allowed (db1-a, db2-c)"


def test_a_failed_health_gate_is_named_first():
    registered = {
        HOSTS[0]: {PREFLIGHT: GOOD_PREFLIGHT, "__pg_migrate_run": failed()},
        HOSTS[2]: {"__pg_migrate_run": failed("the health check failed", health_failed=True)},
    }
    assert halt(registered) == "the health gate failed on db2-b"


def test_a_background_job_whose_result_never_came_back_counts_as_failed():
    deferred = {"action": "migrate", "deferred": True, "plan": {"pending_versions": ["002"]}}
    registered = {
        HOSTS[0]: {PREFLIGHT: dict(GOOD_PREFLIGHT, allowed=0), "__pg_migrate_run": APPLIED},
        HOSTS[1]: {"__pg_migrate_run": deferred},
    }
    assert halt(registered) == "the failure budget is exhausted: 1 failed, 0 allowed (db1-a)"
    registered[HOSTS[1]]["__pg_migrate_finish"] = CURRENT  # the finish task read the job's result
    assert halt(registered) == ""


def test_runs_of_other_actions_do_not_count():
    status = {"action": "status", "msg": "the status run failed"}
    registered = {HOSTS[0]: {PREFLIGHT: dict(GOOD_PREFLIGHT, allowed=0)}, HOSTS[1]: {"__pg_migrate_run": status}}
    assert halt(registered) == ""
