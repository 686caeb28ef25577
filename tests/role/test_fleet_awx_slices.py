"""The fleet rolled out as AWX / Automation Platform runs a sliced job: ansible-runner (the library AWX's execution
nodes run jobs with) runs playbooks/fleet.yml as 4 concurrent slices, each with AWX's sliced inventory (the hosts
in name order, slice k of 4 takes hosts[k::4], the groups' variables kept) and AWX's extra variables
(awx_job_id per slice, awx_workflow_job_id shared), over 40 databases on two servers sharing one fleet ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.ansible_run import ROOT, playbook_env
from tests.role.fleet_support import TINY_CHANGESET_VARS, ActivitySampler, Fleet, rollout_order, states

ansible_runner = pytest.importorskip("ansible_runner")

SLICES = 4
# A tiny change set: V002 lasts long enough for the per-server limit to matter; V003 fails where broken_marker is.
CHANGESET = {
    "V001__probe.sql": "CREATE TABLE probe (id int);\n",
    "V002__slow.sql": "SELECT pg_sleep(0.25);\n",
    "V003__check.sql": "DO $$ BEGIN IF to_regclass('broken_marker') IS NOT NULL THEN "
    "RAISE EXCEPTION 'this shard is broken'; END IF; END $$;\n",
}
RUNNER = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}


def awx_inventory(fleet: Fleet, part: list[str]) -> dict:
    """What AWX hands one slice after syncing the fleet file: PART's hosts with their variables, the groups with
    their variables (the whole fleet in rollout order among them)."""
    spec = yaml.safe_load(fleet.file.read_text())
    order = rollout_order(fleet)
    server_of = {host: host.split("-", 1)[0] for host in fleet.hosts}
    hosts = {
        host: RUNNER | spec["vars"] | {"pg_migrate_db": fleet.hosts[host], "pg_migrate_fleet_server": server_of[host]}
        for host in sorted(part)
    }
    members = [{"host": h, "server": server_of[h], "database": fleet.hosts[h]} for h in order]
    servers = {
        f"pg_migrate_server_{name}": {"hosts": {h: {} for h in sorted(part) if server_of[h] == name}}
        for name in spec["servers"]
    }
    targets = {"hosts": hosts, "vars": {"pg_migrate_fleet_members": members}}
    return {"all": {"children": {"pg_migrate_targets": targets, **servers}}}


def run_slices(fleet: Fleet, base: Path, workflow: str, extravars: dict) -> list:
    """The sliced job: SLICES ansible-runner runs at once, as AWX's execution nodes run them; their runners."""
    hosts = sorted(fleet.hosts)
    env = playbook_env(fleet.anchor)
    started = []
    for number in range(SLICES):
        data = base / f"{workflow}-slice{number + 1}"
        (data / "inventory").mkdir(parents=True)
        inventory = data / "inventory" / "hosts.yml"
        inventory.write_text(yaml.safe_dump(awx_inventory(fleet, hosts[number::SLICES]), sort_keys=False))
        variables = extravars | {
            "awx_workflow_job_id": workflow,
            "awx_job_id": f"{workflow}-{number + 1}",
            "pg_migrate_reports_dir": str(data / "reports"),
        }
        started.append(
            ansible_runner.run_async(
                private_data_dir=str(data),
                project_dir=str(ROOT),
                playbook=str(ROOT / "playbooks" / "fleet.yml"),
                inventory=str(inventory),
                extravars=variables,
                envvars={key: value for key, value in env.items() if key.startswith(("PG", "ANSIBLE_", "PATH"))},
                forks=5,
                quiet=True,
            )
        )
    runners = []
    for thread, runner in started:
        thread.join(600)
        assert not thread.is_alive(), "a slice ran for more than 10 minutes"
        runners.append(runner)
    return runners


def slice_reports(base: Path, workflow: str) -> list[dict]:
    return [
        json.loads((base / f"{workflow}-slice{n + 1}" / "reports" / "fleet.json").read_text()) for n in range(SLICES)
    ]


def fleet_with_a_broken_shard(fleet_maker, settings: dict) -> tuple[Fleet, list[str], str]:
    fleet = fleet_maker({"eu": 20, "us": 20}, at=None, settings=settings)
    order = rollout_order(fleet)
    broken = order[2]  # waves 1, 5% (2), 25% (10), 100%: the broken shard is in wave 2
    fleet.query(broken, "CREATE TABLE broken_marker (id int)")
    return fleet, order, broken


def version_of(fleet: Fleet, host: str) -> str | None:
    """HOST's version, None while it has no history (a database nobody migrated yet)."""
    if fleet.query(host, "SELECT to_regclass('pg_migrate_history') IS NULL")[0][0]:
        return None
    return fleet.version(host)


def outcome_by_position(report: dict, order: list[str]) -> list[tuple]:
    entries = {entry["host"]: entry for entry in report["databases"]}
    return [(entries[h]["state"], entries[h]["version_before"], entries[h]["version_after"]) for h in order]


def test_four_awx_slices_roll_out_one_fleet_with_one_canary_one_budget_one_halt_and_one_report(
    fleet_maker, ledger_db: str, pg_server, tmp_path: Path
):
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    for name, text in CHANGESET.items():
        (migrations / name).write_text(text)
    shared = {
        "pg_migrate_migrations_dir": str(migrations),
        "pg_migrate_verify_schema": False,
        "pg_migrate_required_extensions": [],
        "pg_migrate_expected_schema": "",
        "pg_migrate_probes": "",
        "pg_migrate_fleet_per_server": 2,
        "pg_migrate_fleet_slot_db": fleet_maker.anchor.name,
    }
    ledger = {
        "pg_migrate_fleet_ledger_db": ledger_db,
        "pg_migrate_fleet_ledger_host": "{{ lookup('ansible.builtin.env', 'PGHOST') }}",
        "pg_migrate_fleet_ledger_port": "{{ lookup('ansible.builtin.env', 'PGPORT') | int }}",
    }
    fleet, order, broken = fleet_with_a_broken_shard(fleet_maker, shared | ledger)
    group_of = {fleet.hosts[h]: h.split("-", 1)[0] for h in fleet.hosts}

    with ActivitySampler(pg_server, group_of, "SELECT pg_sleep(0.25)") as first_sampler:
        runners = run_slices(fleet, tmp_path, "wf1", {})
    reports = slice_reports(tmp_path, "wf1")
    found = states(reports[0])
    assert [report["run_id"] for report in reports] == [reports[0]["run_id"]] * SLICES
    for report in reports:  # each slice's report is the whole fleet's, the same
        assert report["verdict"] == "halted" and broken in report["halt_reason"], report["halt_reason"]
        assert outcome_by_position(report, order) == outcome_by_position(reports[0], order)
    assert found[order[0]] == "applied" and found[broken] == "failed"
    assert found[order[1]] == "applied"  # wave 2 finished, then the fleet-wide budget (0) halted every slice
    assert {found[h] for h in order[3:]} == {"halted-not-attempted"}, found
    for host in fleet.hosts:  # the report agrees with every database
        assert version_of(fleet, host) == {"applied": "003", "failed": "002"}.get(found[host]), host
    assert [runner.status for runner in runners].count("successful") == 0  # a halted rollout fails every slice
    assert max(first_sampler.peak.values()) <= 2, first_sampler.peak

    # The resume: the broken shard repaired, a new sliced job (a new workflow job): every database ends at 003, and
    # no server ever ran more than 2 of its databases at once, across the 4 slices.
    fleet.query(broken, "DROP TABLE broken_marker")
    with ActivitySampler(pg_server, group_of, "SELECT pg_sleep(0.25)") as sampler:
        runners = run_slices(fleet, tmp_path, "wf2", {})
    resumed = slice_reports(tmp_path, "wf2")
    why = [(report["halt_reason"], states(report)) for report in resumed]
    assert {report["verdict"] for report in resumed} == {"complete"}, ([r.status for r in runners], why)
    assert {version_of(fleet, host) for host in fleet.hosts} == {"003"}
    assert sampler.peak == {"eu": 2, "us": 2}, sampler.peak  # the limit held, and was reached

    # The same fleet through one controller, without a ledger: the same report, database by database.
    single, single_order, _broken = fleet_with_a_broken_shard(fleet_maker, shared)
    single.play("fleet.yml", "-e", f"pg_migrate_migrations_dir={migrations}", *TINY_CHANGESET_VARS).assert_failed()
    assert outcome_by_position(single.report(), single_order) == outcome_by_position(reports[0], order)
