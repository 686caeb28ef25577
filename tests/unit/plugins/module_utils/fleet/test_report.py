"""module_utils/fleet/rules.py and fleet_report.py: the rules of a fleet rollout."""

from __future__ import annotations

import json

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet import rules as fleet
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.page import html_page
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.report import build_report, junit


def test_canaries_first_then_one_database_of_each_server_in_turn():
    servers = {"a": ["a1", "a2", "a3"], "b": ["b1"], "c": ["c1", "c2"]}
    assert fleet.spread(servers, ["c2"]) == ["c2", "a1", "b1", "c1", "a2", "a3"]


@pytest.mark.parametrize(
    ("count", "sizes", "expected"),
    [
        (40, [1, "5%", "25%", "100%"], [1, 2, 10, 27]),
        (40, [1, 3, 10, "100%"], [1, 3, 10, 26]),
        (10, [2], [2, 2, 2, 2, 2]),  # the last size repeats, as Ansible's serial
        (10, ["1%", "100%"], [1, 9]),  # a percentage is at least one host
        (3, [], [3]),
    ],
)
def test_waves_are_cut_as_ansible_serial_cuts_batches(count: int, sizes: list, expected: list[int]):
    hosts = [f"h{number}" for number in range(count)]
    cut = fleet.waves(hosts, sizes)
    assert [len(wave) for wave in cut] == expected
    assert [host for wave in cut for host in wave] == hosts


def test_the_budget_is_a_count_or_a_share_of_the_fleet():
    assert fleet.budget(0, 40) == 0 and fleet.budget("3", 40) == 3 and fleet.budget("10%", 40) == 4
    with pytest.raises(ValueError, match="pg_migrate_fleet_max_failures: 'some' is neither a count nor a percentage"):
        fleet.budget("some", 40)


def test_a_run_halts_on_the_budget_a_failed_canary_or_a_failed_gate():
    ok, failed = {"applied": [{"version": "002"}]}, {"msg": "h: V002 refused"}
    assert fleet.halt_reason({"c": ok, "x": failed}, 1, ["c"], True) == ""
    assert "failure budget is exhausted: 1 failed, 0 allowed (x)" in fleet.halt_reason({"x": failed}, 0, ["c"], True)
    assert fleet.halt_reason({"c": failed}, 5, ["c"], True) == "the canary failed (c)"
    assert fleet.halt_reason({"c": failed}, 5, ["c"], False) == ""
    gated = {"msg": "gate", "health_failed": True}
    assert fleet.halt_reason({"g": gated}, 5, [], True) == "the health gate failed on g"


def test_preflight_lists_every_problem_per_database():
    status = lambda pending, **extra: {"plan": {"pending_versions": pending, "drift": []}, **extra}  # noqa: E731
    problems = fleet.preflight_problems(
        {
            "ok1": status(["002", "003"]),
            "ok2": status(["003"]),  # further along the same change
            "done": status([]),
            "odd": status(["002"]),  # not the tail of the fleet's change
            "down": {"msg": "Cannot connect to PostgreSQL"},
            "replica": {"skipped_standby": True},
            "drifted": {"plan": {"pending_versions": [], "drift": [{"script": "V001__a.sql"}]}},
            "absent": None,
        },
        on_standby="fail",
    )
    assert problems == [
        "absent: no status (the read-only check did not run)",
        "down: Cannot connect to PostgreSQL",
        "drifted: drift in V001__a.sql: run a status on it (pg_migrate_action=status), then repair or restore the "
        "files",
        "replica: a hot standby (pg_migrate_on_standby: fail): run against the primary, or set "
        "pg_migrate_on_standby: skip to leave it out",
        "odd: pending 002, not the fleet's change (002, 003): bring it to the fleet's version first",
    ]
    assert fleet.preflight_problems({"replica": {"skipped_standby": True}}, on_standby="skip") == []


def _entry(host: str, wave: int, state: str, **extra) -> dict:
    return {
        "host": host,
        "server": "s",
        "database": host,
        "wave": wave,
        "state": state,
        "version_before": "001",
        "version_after": "005" if state == fleet.APPLIED else "001",
        "duration_ms": 12.0,
        "failure": {"script": "V002__x.sql", "sqlstate": "P0001", "message": "refused <&>"}
        if state == "failed"
        else None,
        "health": None,
        "skip_reason": None,
        **extra,
    }


def test_the_report_says_what_happened_in_json_junit_and_html():
    databases = [_entry("c", 1, fleet.APPLIED), _entry("x", 2, fleet.FAILED), _entry("y", 3, fleet.NOT_ATTEMPTED)]
    report = build_report(
        databases, [["c"], ["x"], ["y"]], "budget", [], {"allowed": 0, "failed": 1, "setting": "0"}, False
    )
    assert report["verdict"] == "halted" and report["still_to_do"] == ["x", "y"]
    assert [wave["status"] for wave in report["waves"]] == ["complete", "stopped", "not started"]
    json.dumps(report)
    suite = junit(report)
    assert 'tests="3" failures="1" skipped="1"' in suite and "refused &lt;&amp;&gt;" in suite
    page = html_page(report)
    assert 'data-host="x" data-state="failed"' in page and "refused <&>" not in page and "http" not in page
