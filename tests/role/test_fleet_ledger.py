"""One rollout across several controllers (pg_migrate_fleet_ledger_db): controllers that each run a slice of the
fleet - AWX's job slicing, hosts[k::n] of the hosts in name order - share one canary, one failure budget, one halt,
and each writes the whole fleet's report; the ledger is a real PostgreSQL database."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.pgdb import Database
from tests.role.conftest import RoleTemplates
from tests.role.fleet_support import (
    BROKEN_FOR_V002,
    Fleet,
    FleetMaker,
    assert_report_matches_the_databases,
    rollout_order,
    start,
    states,
    versions,
)


@pytest.fixture
def fleet_maker(db: Database, pg_server, role_templates: RoleTemplates, tmp_path: Path) -> Iterator[FleetMaker]:
    maker = FleetMaker(pg_server, role_templates, db, tmp_path / "fleets")
    try:
        yield maker
    finally:
        maker.drop_all()


@pytest.fixture
def ledger_db(pg_server) -> Iterator[str]:
    """A ledger database of this test's own."""
    name = f"ledger_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(pg_server.conninfo(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ledger_settings(ledger_db: str) -> dict:
    return {
        "pg_migrate_fleet_ledger_db": ledger_db,
        "pg_migrate_fleet_ledger_host": "{{ lookup('ansible.builtin.env', 'PGHOST') }}",
        "pg_migrate_fleet_ledger_port": "{{ lookup('ansible.builtin.env', 'PGPORT') | int }}",
    }


def slices(fleet: Fleet, count: int) -> list[list[str]]:
    """AWX's job slicing: the hosts in name order, slice k of COUNT takes hosts[k::COUNT]."""
    hosts = sorted(fleet.hosts)
    return [hosts[number::count] for number in range(count)]


def rows_of(pg_server, ledger_db: str) -> list[tuple]:
    with psycopg.connect(pg_server.conninfo(ledger_db), autocommit=True) as conn:
        return conn.execute("SELECT host, state, controller FROM pgmigrate_fleet.databases ORDER BY host").fetchall()


def test_two_controllers_with_a_slice_each_run_one_rollout_with_one_canary_one_budget_and_one_report(
    fleet_maker, ledger_db: str, pg_server, tmp_path: Path
):
    settings = ledger_settings(ledger_db) | {"pg_migrate_fleet_waves": [1, 3, "100%"]}
    fleet = fleet_maker({"a": 4, "b": 4}, settings=settings)
    order = rollout_order(fleet)
    broken = order[1]  # in wave 2
    fleet.query(broken, BROKEN_FOR_V002)
    before = versions(fleet)
    runs = [
        start(
            fleet,
            "fleet.yml",
            "--limit",
            ",".join(part),
            "-e",
            f"pg_migrate_reports_dir={tmp_path / f'r{n}'}",
            "-e",
            "pg_migrate_fleet_attempt=first",
        )
        for n, part in enumerate(slices(fleet, 2))
    ]
    outputs = [run.finish(300) for run in runs]
    reports = [json.loads((tmp_path / f"r{n}" / "fleet.json").read_text()) for n in range(2)]
    for report in reports:
        assert report["verdict"] == "halted", report["verdict"]
        assert "budget" in report["halt_reason"] and broken in report["halt_reason"], report["halt_reason"]
        assert report["run_id"] == reports[0]["run_id"]
    assert states(reports[0]) == states(reports[1])  # each controller's report is the whole fleet's
    found = states(reports[0])
    assert found[order[0]] == "applied"  # the canary ran once, on whichever controller has it
    assert found[broken] == "failed"
    assert {found[host] for host in order[1:4] if host != broken} == {"applied"}  # wave 2 finished
    assert {found[host] for host in order[4:]} == {"halted-not-attempted"}, (found, [o.output[-3000:] for o in outputs])
    assert_report_matches_the_databases(fleet, reports[0], before)
    ran = [row for row in rows_of(pg_server, ledger_db) if row[1] != "ready"]  # ready: read, never started
    assert sorted(host for host, _state, _controller in ran) == sorted(order[:4])
    assert len({controller for _host, _state, controller in ran}) == 2  # both controllers ran databases
