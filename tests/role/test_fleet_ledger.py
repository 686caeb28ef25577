"""One rollout across several controllers (pg_migrate_fleet_ledger_db): controllers that each run a slice of the
fleet - AWX's job slicing, hosts[k::n] of the hosts in name order - share one canary, one failure budget, one halt,
and each writes the whole fleet's report; the ledger is a real PostgreSQL database."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import psycopg

from tests.role.fleet_support import (
    BROKEN_FOR_V002,
    Fleet,
    assert_report_matches_the_databases,
    rollout_order,
    start,
    states,
    versions,
    wait_for,
)


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


def descendants(pid: int) -> list[int]:
    """Every process under PID (Ansible's workers leave the controller's process group: setsid)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def kill_execution_node(run) -> None:
    """SIGKILL a controller and every process it started, as when its execution node (an AWX container) dies."""
    for pid in [run.process.pid, *descendants(run.process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    run.process.wait(60)


def report_entry(report: dict, host: str) -> dict:
    return next(entry for entry in report["databases"] if entry["host"] == host)


def rows_of(pg_server, ledger_db: str) -> list[tuple]:
    with psycopg.connect(pg_server.conninfo(ledger_db), autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('pgmigrate_fleet.databases') IS NULL").fetchone()[0]:
            return []  # no controller came as far as its preflight yet
        return conn.execute("SELECT host, state, controller FROM pgmigrate_fleet.databases ORDER BY host").fetchall()


def test_two_controllers_with_a_slice_each_run_one_rollout_with_one_canary_one_budget_and_one_report(
    fleet_maker, ledger_db: str, pg_server, tmp_path: Path
):
    settings = ledger_settings(ledger_db) | {"pg_migrate_fleet_waves": [1, 3, "100%"]}
    fleet = fleet_maker({"a": 4, "b": 4}, settings=settings)
    order = rollout_order(fleet)
    # In wave 2, on the other controller than the canary's: both controllers run a database.
    parts = slices(fleet, 2)
    canary_part = next(part for part in parts if order[0] in part)
    broken = next(host for host in order[1:4] if host not in canary_part)
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
        for n, part in enumerate(parts)
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
    # The rest of wave 2 ran, unless the halt was in the ledger before its controller came to it: a halt in one
    # slice stops the others before their next database.
    assert {found[host] for host in order[1:4] if host != broken} <= {"applied", "halted-not-attempted"}, found
    assert {found[host] for host in order[4:]} == {"halted-not-attempted"}, (found, [o.output[-3000:] for o in outputs])
    assert_report_matches_the_databases(fleet, reports[0], before)
    ran = [row for row in rows_of(pg_server, ledger_db) if row[1] != "ready"]  # ready: read, never started
    assert sorted(host for host, _state, _controller in ran) == sorted(
        host for host in order[:4] if found[host] != "halted-not-attempted"
    )
    assert len({controller for _host, _state, controller in ran}) == 2  # both controllers ran databases
    # fleet-status shows the rollout as the ledger holds it, from any controller.
    status = fleet.play("fleet-status.yml").assert_ok()
    assert f"rollout {reports[0]['run_id']} (started" in status.output
    assert "3 applied, 1 failed, 4 ready; halted: the failure budget is exhausted" in status.output, status.output[
        -3000:
    ]


def test_a_killed_controller_leaves_the_ledger_consistent_the_other_goes_on_and_a_resume_completes(
    fleet_maker, ledger_db: str, pg_server, tmp_path: Path
):
    settings = ledger_settings(ledger_db) | {
        "pg_migrate_fleet_waves": [1, 2, "100%"],
        "pg_migrate_fleet_ledger_wait": "12s",
    }
    fleet = fleet_maker({"a": 3, "b": 3}, settings=settings)
    order = rollout_order(fleet)  # a1 | b1 a2 | b2 a3 b3
    first, second = slices(fleet, 2)  # a1 a3 b2 | a2 b1 b3
    stuck = order[2]  # a2, in wave 2, run by the second controller
    assert stuck in second
    blocker = psycopg.connect(pg_server.conninfo(fleet.hosts[stuck]))
    blocker.execute("LOCK TABLE xp_awards IN ACCESS SHARE MODE")  # V003 waits behind it, V002 committed before
    try:
        runs = [
            start(fleet, "fleet.yml", "--limit", ",".join(part), "-e", f"pg_migrate_reports_dir={tmp_path / f'r{n}'}")
            for n, part in enumerate((first, second))
        ]
        wait_for(
            lambda: (
                ("running" in {state for host, state, _c in rows_of(pg_server, ledger_db) if host == stuck})
                and fleet.version(stuck) == "002"
            ),
            120,
            f"{stuck} waiting behind the lock",
            runs[1],
        )
        kill_execution_node(runs[1])  # the second controller dies mid-wave, its workers with it
        blocker.rollback()
        done = runs[0].finish(300)
    finally:
        blocker.close()
    # The first controller went on: wave 2's lost database no longer holds it; it ran its part of wave 3, and its
    # report says what is known - the rollout is not complete (b3 never started, a2's run was lost).
    report = json.loads((tmp_path / "r0" / "fleet.json").read_text())
    found = states(report)
    assert {found[host] for host in first} == {"applied"}, (found, done.output[-3000:])
    assert found[stuck] == "pending", (found, rows_of(pg_server, ledger_db), done.output[-5000:])
    assert "lost" in report_entry(report, stuck)["failure"]["message"]
    assert found[order[5]] == "pending" and report["verdict"] == "in progress", report["verdict"]
    assert "running" not in {state for _h, state, _c in rows_of(pg_server, ledger_db)}  # consistent: nothing runs
    assert fleet.version(stuck) == "002"  # V002 committed, V003 rolled back with the killed session

    # A resume: the second controller again (same rollout): the lost database runs again, b3 runs, b1 is not run
    # twice; its report is the whole fleet's, complete.
    again = start(fleet, "fleet.yml", "--limit", ",".join(second), "-e", f"pg_migrate_reports_dir={tmp_path / 'r2'}")
    again.finish(300)
    final = json.loads((tmp_path / "r2" / "fleet.json").read_text())
    assert final["verdict"] == "complete", (final["verdict"], again.output[-3000:])
    # A database whose run was lost at the kill may have committed everything: the resume finds it current.
    assert set(states(final).values()) <= {"applied", "already current"}, (states(final), rows_of(pg_server, ledger_db))
    assert set(versions(fleet).values()) == {"005"}
