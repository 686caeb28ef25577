"""The fleet's rules as pure functions: wave forms, exact shares, the waves Ansible is told to cut, a
run that failed at Ansible's level, a missing preflight, a report that survives any server message, and the
health gate's messages (module_utils/run/health.py on a real connection)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet import rules as fleet
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.report import (
    build_report,
    database_entry,
    junit,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run import health
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.session import Runner
from tests.engine.conftest import Runners
from tests.pgdb import Database

HOSTS = [f"h{number}" for number in range(8)]


def sizes_of(cut: list[list[str]]) -> list[int]:
    return [len(wave) for wave in cut]


# --- shares are exact ------------------------------------------------------------------------------------------
def test_a_share_of_the_fleet_is_exact_and_rounded_down():
    assert fleet.budget("29%", 100) == 29  # 29 / 100.0 * 100 is 28.999... in floating point
    assert fleet.budget("12.5%", 8) == 1
    assert fleet.budget("57%", 100) == 57 and fleet.budget("99%", 10) == 9 and fleet.budget("100%", 7) == 7


def test_a_wave_that_is_a_share_of_the_fleet_is_exact_rounded_down_and_at_least_one():
    hosts = [f"h{number}" for number in range(100)]
    assert sizes_of(fleet.waves(hosts, ["29%", "100%"])) == [29, 71]
    assert sizes_of(fleet.waves(HOSTS, [1, "12.5%", "100%"])) == [1, 1, 6]
    assert sizes_of(fleet.waves(HOSTS, ["10%"])) == [1] * 8  # 0.8 of a database: at least one


# --- every accepted form of pg_migrate_fleet_waves ---------------------------------------------------------------
ACCEPTED = {
    "the-default": ([1, "5%", "25%", "100%"], [1, 1, 2, 4]),
    "a-count": (2, [2, 2, 2, 2]),
    "a-count-as-text": ("2", [2, 2, 2, 2]),  # -e pg_migrate_fleet_waves=2 (key=value extra vars are strings)
    "a-share": ("25%", [2, 2, 2, 2]),
    "comma-separated": ("1,25%,100%", [1, 2, 5]),  # -e pg_migrate_fleet_waves=1,25%,100%
    "a-fractional-share": ([1, "12.5%", "100%"], [1, 1, 6]),
    "a-list-of-text": (["3"], [3, 3, 2]),
    "all-at-once": ("100%", [8]),
}


@pytest.mark.parametrize(("given", "expected"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_every_accepted_form_of_the_waves_becomes_a_list_that_cuts_the_fleet_as_asked(given, expected: list[int]):
    sizes = fleet.wave_sizes(given)
    assert isinstance(sizes, list) and sizes
    cut = fleet.waves(HOSTS, sizes)
    assert sizes_of(cut) == expected
    assert [host for wave in cut for host in wave] == HOSTS


@pytest.mark.parametrize("given", ["abc", 0, "0", "0%", "150%", -1, "-1", [], "", [1, "abc"], [1, 0], "1,,2"], ids=repr)
def test_a_wave_form_that_cannot_be_a_wave_is_refused_naming_the_setting(given):
    with pytest.raises(ValueError, match="pg_migrate_fleet_waves"):
        fleet.wave_sizes(given)


def test_the_serial_given_to_ansible_cuts_exactly_the_waves_of_the_report():
    hosts = [f"h{number}" for number in range(100)]
    for sizes in ([1, "5%", "25%", "100%"], ["29%"], [1, "12.5%", "100%"], [3], ["33%", "100%"]):
        cut = fleet.waves(hosts, fleet.wave_sizes(sizes))
        serial = fleet.serial_of(cut)
        assert serial == sizes_of(cut) and all(isinstance(size, int) for size in serial)
        assert fleet.waves(hosts, serial) == cut  # counts only: no share for Ansible to round another way


# --- failures of any kind count --------------------------------------------------------------------------------
PREFLIGHT = {
    "problems": [],
    "hosts": ["c", "x", "y"],
    "waves": [["c"], ["x"], ["y"]],
    "canaries": ["c"],
    "allowed": 0,
    "max_failures": "0",
    "canary_stops": True,
    "versions": {},
}
ANSIBLE_FAILURE = {"failed": True, "msg": "the task failed: worker died"}  # no "action": not the engine's result


def test_a_run_that_failed_at_ansibles_level_is_a_failed_database():
    entry = database_entry("x", {"__pg_migrate_run": dict(ANSIBLE_FAILURE)}, 2, {"version": "001"})
    assert entry["state"] == fleet.FAILED
    assert entry["failure"] and "worker died" in entry["failure"]["message"]
    assert entry["version_before"] == "001"


def test_a_run_that_failed_at_ansibles_level_counts_against_the_budget():
    applied = {"action": "migrate", "applied": [{"version": "002"}], "plan": {"from_version": "001"}}
    variables = {"c": {"__pg_migrate_run": applied}, "x": {"__pg_migrate_run": dict(ANSIBLE_FAILURE)}}
    reason = fleet.halt_reason_of(PREFLIGHT, variables)
    assert reason and "budget" in reason and "x" in reason


def test_a_database_whose_standbys_stayed_behind_failed_counts_against_the_budget_and_records_the_lag():
    seen = {"standbys": [{"name": "dr", "client": "10.0.0.7", "lag_bytes": 9000, "lag_s": 41.0}], "waited_s": 2.0}
    behind = {
        "action": "migrate",
        "database": "x",
        "plan": {"from_version": "001", "to_version": "002"},
        "applied": [],
        "msg": "the server's standbys did not come within the replay lag allowed (30 s) in 2 s: 'dr' ...",
        "standby_lag": seen,
    }
    entry = database_entry("x", {"__pg_migrate_run": behind}, 2, {"version": "001"})
    assert entry["state"] == fleet.FAILED and entry["standby_lag"] == seen
    assert "'dr'" in entry["failure"]["message"] and entry["version_after"] == "001"
    applied = {"action": "migrate", "applied": [{"version": "002"}], "plan": {"from_version": "001"}}
    reason = fleet.halt_reason_of(PREFLIGHT, {"c": {"__pg_migrate_run": applied}, "x": {"__pg_migrate_run": behind}})
    assert "budget" in reason and "x" in reason
    assert database_entry("c", {"__pg_migrate_run": applied}, 1, {"version": "001"})["standby_lag"] is None


def test_without_a_preflight_result_nothing_may_start():
    assert fleet.halt_reason_of({}, {"c": {}}) != ""
    assert fleet.halt_reason_of(None, {"c": {}}) != ""


def test_the_junit_file_parses_whatever_control_characters_a_server_message_holds():
    message = "V002 refused: bad byte \x00 bell \x07 escape \x1b[31m red \x1b[0m, <&> \"quoted\" and 'single'"
    entry = {
        "host": "x",
        "server": "s",
        "database": "x",
        "wave": 1,
        "state": fleet.FAILED,
        "version_before": "001",
        "version_after": "001",
        "duration_ms": 12.0,
        "failure": {"script": "V002__x.sql", "sqlstate": "P0001", "message": message},
        "health": None,
        "skip_reason": None,
    }
    report = build_report([entry], [["x"]], "", [], {"allowed": 1, "failed": 1, "setting": "1"}, False)
    suite = ET.fromstring(junit(report).encode("utf-8"))
    failure = next(suite.iter("failure"))
    assert "V002 refused" in failure.text and "<&>" in failure.text and "red" in failure.get("message")


# --- the health gate's messages ----------------------------------------------------------------------------------
def test_the_health_gate_says_null_for_a_null_and_not_a_number_for_text():
    empty = health.judge(None, 0)
    assert empty["passed"] is False and "NULL" in empty["message"]
    text = health.judge("many", 0)
    assert text["passed"] is False and "not a number" in text["message"]
    assert health.judge(0, 0)["passed"] is True and health.judge("0.5", 1)["passed"] is True


@pytest.fixture
def runner(db: Database, tmp_path: Path) -> Iterator[Runner]:
    runners = Runners(db, tmp_path)
    try:
        yield runners({})
    finally:
        runners.close()


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("SELECT NULL::numeric", "NULL"),
        ("SELECT 'high'::text", "not a number"),
        ("SELECT 1, 2", "more than one value"),
        ("SELECT 1 UNION ALL SELECT 2", "more than one value"),
        ("SELECT 1 / 0", "the health query failed"),
        ("SELECT * FROM no_such_table", "the health query failed"),
    ],
)
def test_a_health_query_that_does_not_return_one_number_fails_the_gate_saying_why(runner: Runner, query, says):
    gate = health.health_gate(runner.session, query, 0)
    assert gate["passed"] is False, gate
    assert says in gate["message"], gate


def test_a_health_query_that_returns_one_number_is_judged_against_the_max(runner: Runner):
    assert health.health_gate(runner.session, "SELECT 0.2", 0.5)["passed"] is True
    failed = health.health_gate(runner.session, "SELECT count(*) FROM generate_series(1, 3)", 2)
    assert failed["passed"] is False and failed["value"] == 3


def test_a_database_entry_records_when_its_run_ran_and_nothing_for_one_that_did_not():
    applied = {
        "action": "migrate",
        "applied": [{"version": "002"}],
        "plan": {"from_version": "001"},
        "started_at": "2024-05-01T12:00:03.250Z",
        "finished_at": "2024-05-01T12:00:04.000Z",
    }
    entry = database_entry("c", {"__pg_migrate_run": applied}, 1, {"version": "001"})
    assert (entry["started_at"], entry["finished_at"]) == ("2024-05-01T12:00:03.250Z", "2024-05-01T12:00:04.000Z")
    status = dict(applied, action="status")  # the preflight's read, not a migrate: the database never ran
    entry = database_entry("y", {"__pg_migrate_run": status}, 3, {"version": "001"})
    assert entry["state"] == fleet.NOT_ATTEMPTED and entry["started_at"] is None and entry["finished_at"] is None
