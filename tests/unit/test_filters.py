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


EXPECTED = {
    "extensions": [{"name": "btree_gist"}],
    "tables": [{"name": "t", "comment": "a table"}],
    "columns": [
        {
            "table": "t",
            "name": "id",
            "type": "bigint",
            "nullable": False,
            "default": None,
            "identity": "a",
            "comment": None,
        }
    ],
    "constraints": [
        {"table": "t", "name": "t_no_overlap", "kind": "x", "definition": "EXCLUDE USING gist (...)", "validated": True}
    ],
    "indexes": [
        {"table": "t", "name": "t_idx", "definition": "CREATE UNIQUE INDEX t_idx ON t (a) WHERE b", "valid": True}
    ],
    "triggers": [],
}


def _catalog(**changes) -> dict:
    catalog = {kind: [dict(item) for item in items] for kind, items in EXPECTED.items()}
    catalog.update(changes)
    return catalog


def test_identical_catalog_passes_every_check_including_the_comment():
    checks = filters.verify_catalog(EXPECTED, _catalog())
    assert {c["status"] for c in checks} == {"pass"}
    assert "comment on table t" in {c["id"] for c in checks}
    assert len(checks) == 6


def test_missing_and_changed_objects_are_named():
    catalog = _catalog(
        constraints=[],
        indexes=[{"table": "t", "name": "t_idx", "definition": "CREATE UNIQUE INDEX t_idx ON t (a)", "valid": True}],
        extensions=[],
    )
    catalog["tables"][0]["comment"] = None
    failed = {c["id"]: c["message"] for c in filters.verify_catalog(EXPECTED, catalog) if c["status"] == "fail"}
    assert failed == {
        "extension btree_gist": "missing: extension btree_gist",
        "exclusion constraint t.t_no_overlap": "missing: exclusion constraint t_no_overlap on t",
        "index t.t_idx": "changed: index t_idx on t: expected CREATE UNIQUE INDEX t_idx ON t (a) WHERE b, "
        "found CREATE UNIQUE INDEX t_idx ON t (a)",
        "comment on table t": "missing: comment on table t",
    }


def test_unvalidated_constraint_and_invalid_index_differ_from_the_expectation():
    catalog = _catalog()
    catalog["constraints"][0]["validated"] = False
    catalog["indexes"][0]["valid"] = False
    failed = [c["message"] for c in filters.verify_catalog(EXPECTED, catalog) if c["status"] == "fail"]
    assert any(m.endswith("(not validated)") for m in failed) and any(m.endswith("(INVALID)") for m in failed)


def test_extra_objects_are_warnings_and_ignored_tables_are_skipped():
    catalog = _catalog(
        tables=[
            *EXPECTED["tables"],
            {"name": "pg_migrate_history", "comment": None},
            {"name": "other", "comment": None},
        ]
    )
    warned = [
        c["message"] for c in filters.verify_catalog(EXPECTED, catalog, ["pg_migrate_history"]) if c["status"] == "warn"
    ]
    assert warned == ["extra: table other (not in the change set at this version)"]


def test_junit_has_one_case_per_check_and_failures_carry_the_message():
    from xml.etree import ElementTree as ET

    checks = [
        {"id": "a", "kind": "index", "status": "pass", "message": "ok: a"},
        {
            "id": "b",
            "kind": "probe",
            "status": "fail",
            "message": "probe failed: b",
            "expected": "23P01",
            "found": "success",
        },
        {"id": "c", "kind": "table", "status": "warn", "message": "extra: table c"},
    ]
    suite = ET.fromstring(filters.junit_xml(checks, "db1", "xp", "005"))
    assert suite.get("tests") == "3" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["a", "b", "c"]
    assert cases[1].find("failure").get("message") == "probe failed: b"
    assert cases[2].find("system-out").text == "warning: extra: table c"
