"""What the operator reads: the summary lines and the squawk findings."""

from __future__ import annotations

import json

from tests.unit.plugins import filters


def test_lint_groups_split_by_transaction_and_skip_empty():
    plan = {
        "pending": [
            {"script": "V002__a.sql", "transactional": True},
            {"script": "V005__idx.sql", "transactional": False},
        ],
        "repeatables": [{"script": "R__seed.sql", "transactional": True}],
    }
    assert filters.lint_groups(plan, "/m", "/s") == [
        {"in_transaction": True, "files": ["/m/V002__a.sql", "/s/R__seed.sql"]},
        {"in_transaction": False, "files": ["/m/V005__idx.sql"]},
    ]
    assert filters.lint_groups({"pending": []}, "/m") == []


def test_squawk_findings_are_parsed_and_lines_count_from_one():
    stdout = json.dumps([{"file": "/m/V002__a.sql", "line": 4, "rule_name": "ban-drop-table", "message": "Drop!"}])
    findings, problems = filters.squawk_findings([{"rc": 1, "stdout": stdout}, {"skipped": True}])
    assert findings == [{"file": "V002__a.sql", "line": 5, "rule": "ban-drop-table", "message": "Drop!"}]
    assert problems == []


def test_squawk_that_cannot_run_is_reported_with_the_fix():
    _, problems = filters.squawk_findings([{"rc": 2, "msg": "[Errno 2] No such file or directory: b'squawk'"}])
    assert "pip install squawk-cli" in problems[0]


def test_check_mode_summary_names_versions_drift_and_findings():
    result = {
        "action": "migrate",
        "database": "xp",
        "plan": {
            "from_version": "001",
            "to_version": "005",
            "applied": ["001"],
            "pending": [{"version": v} for v in ("002", "003", "004", "005")],
            "drift": [{"script": "V001__x.sql", "recorded_checksum": "a" * 64, "file_checksum": "b" * 64}],
            "problems": ["checksum drift: ..."],
        },
    }
    stdout = json.dumps([{"file": "V002__a.sql", "line": 0, "rule_name": "r", "message": "m"}])
    lines = filters.summary(result, "db1", True, [{"rc": 1, "stdout": stdout}])
    assert lines[0] == "db1 xp: 001 -> 005 (check mode: would apply 4)"
    assert "  pending: 002 003 004 005" in lines
    assert "  drift: V001__x.sql (applied sha256 aaaaaaaaaaaa, file bbbbbbbbbbbb)" in lines
    assert "  problem: checksum drift: ..." in lines
    assert "  squawk: 1 finding(s)" in lines and "    V002__a.sql:1 r: m" in lines


def test_summary_of_an_apply_lists_durations_and_retries():
    result = {
        "action": "migrate",
        "database": "xp",
        "plan": {"from_version": "000", "to_version": "002", "applied": [], "pending": []},
        "applied": [
            {"version": "001", "script": "V001__a.sql", "duration_ms": 12.4, "attempts": 1},
            {"version": "002", "script": "V002__b.sql", "duration_ms": 3.0, "attempts": 3},
        ],
    }
    lines = filters.summary(result, "db1")
    assert "  applied V001__a.sql in 12 ms" in lines
    assert "  applied V002__b.sql in 3 ms after 3 attempts" in lines


def test_summary_of_a_run_with_nothing_to_do_says_so():
    result = {
        "action": "migrate",
        "database": "xp",
        "plan": {"from_version": "005", "to_version": "005", "applied": ["005"], "pending": []},
    }
    assert filters.summary(result, "db1") == ["db1 xp: 005 -> 005", "  nothing pending: already at 005"]


def test_summary_of_a_failed_run_names_what_was_not_applied():
    result = {
        "action": "migrate",
        "database": "xp",
        "msg": "V003 failed",
        "plan": {
            "from_version": "001",
            "to_version": "004",
            "applied": ["001"],
            "pending": [{"version": v} for v in ("002", "003", "004")],
        },
        "applied": [{"version": "002", "script": "V002__b.sql", "duration_ms": 5, "attempts": 1}],
    }
    lines = filters.summary(result, "db1")
    assert "  not applied: 003 004" in lines and lines[-1] == "  FAILED (details below)"
