"""The reports a run leaves on the controller: every JSON report matches its published schema
(docs/schemas), every JUnit file parses and agrees with its JSON, no report holds the password; the
schemas are strict enough to reject a broken report, and docs/reports.md documents every field."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from jsonschema import Draft202012Validator

from tests.ansible_run import ROOT, PlaybookRun
from tests.pgdb import Database
from tests.role.conftest import both_paths

SCHEMAS = ROOT / "docs" / "schemas"
RUN_SCHEMA = json.loads((SCHEMAS / "run-report.schema.json").read_text())
VERIFY_SCHEMA = json.loads((SCHEMAS / "verify-report.schema.json").read_text())
DOCS = (ROOT / "docs" / "reports.md").read_text()
HOST = "localhost"
CHECKSUM = "0" * 64
STANDBY = {"name": "walreceiver", "client": "10.0.0.7", "lag_bytes": 0, "lag_s": 0.4}
ADOPTED = {"tool": "goose", "table": "goose_db_version", "up_to": "002", "notes": []}


def validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(report: dict) -> list[str]:
    schema = VERIFY_SCHEMA if report.get("kind") == "verify" else RUN_SCHEMA
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(schema).iter_errors(report)]


def outcome(case: ET.Element) -> str:
    if case.find("failure") is not None:
        return "fail"
    return "skip" if case.find("skipped") is not None else "pass"


def read_reports(folder: Path, password: str) -> dict[str, tuple[dict, ET.Element]]:
    """Every report of one run, by kind: each JSON valid against its schema, each with its JUnit file."""
    host = folder / HOST
    found = {}
    for path in sorted(host.glob("*.json")):
        report = json.loads(path.read_text())
        assert schema_errors(report) == [], path
        assert report["kind"] == path.stem and report["host"] == HOST
        junit = ET.parse(host / f"{path.stem}.junit.xml").getroot()
        found[path.stem] = (report, junit)
    for path in host.iterdir():
        assert password not in path.read_text(), f"{path} contains the password"
    assert found, f"no report in {host}"
    return found


def assert_junit_agrees(report: dict, junit: ET.Element) -> list[ET.Element]:
    """Counts in the suite are its cases'; a passed case per migration, repeatable or revert done, with
    its duration; a failed case per problem of the version check, or one for the run's error."""
    cases = junit.findall("testcase")
    outcomes = [outcome(case) for case in cases]
    assert int(junit.get("tests")) == len(cases)
    assert int(junit.get("failures")) == outcomes.count("fail")
    assert int(junit.get("skipped")) == outcomes.count("skip")
    plan = report["plan"]
    done = report["applied"] + report["repeatables_applied"] + report["reverted"]
    passed = {
        case.get("name"): case.get("time")
        for case in cases
        if outcome(case) == "pass" and case.get("name") not in ("run", "backfill")
    }
    assert passed == {item["script"]: "%.3f" % (item["duration_ms"] / 1000) for item in done}
    problems = plan.get("problems", [])
    assert outcomes.count("fail") == len(problems) + (1 if report["error"] and not problems else 0)
    for case in cases:
        if outcome(case) == "fail" and case.get("name") not in [f"problem {n}" for n in range(1, len(problems) + 1)]:
            assert case.find("failure").get("message") == report["error"]
    return cases


@both_paths
def test_every_run_kind_writes_reports_that_match_the_schema(db: Database, play, tmp_path: Path):
    password = db.server.password
    assert len(password) >= 16  # a real secret, so "not in the report" means something

    def run(step: str, playbook: str, *args: str) -> tuple[PlaybookRun, dict[str, tuple[dict, ET.Element]]]:
        folder = tmp_path / "reports" / step
        result = play(playbook, "-e", f"pg_migrate_reports_dir={folder}", *args).assert_ok()
        reports = read_reports(folder, password)
        for kind in reports:
            if kind != "verify":  # "Report files" lists where the run's own reports went
                assert f"{folder / HOST / kind}.json" in result.output
                assert f"{folder / HOST / kind}.junit.xml" in result.output
        return result, reports

    empty = db.schema_dump()
    _, reports = run("check", "migrate.yml", "--check")
    assert db.schema_dump() == empty  # check mode on an empty database creates not even the history table
    report, junit = reports["migrate"]
    assert report["check_mode"] is True and report["applied"] == [] and report["error"] is None
    assert report["plan"]["pending_versions"] == ["001", "002", "003", "004", "005"]
    cases = assert_junit_agrees(report, junit)
    assert [(case.get("name")[:4], outcome(case)) for case in cases] == [(f"V00{n}", "skip") for n in range(1, 6)]

    _, reports = run("migrate", "migrate.yml")
    report, junit = reports["migrate"]
    assert report["check_mode"] is False
    assert [item["version"] for item in report["applied"]] == ["001", "002", "003", "004", "005"]
    assert [outcome(case) for case in assert_junit_agrees(report, junit)] == ["pass"] * 5
    assert reports["verify"][0]["version"] == "005"  # verification after the migration, reported too

    _, reports = run("status-latest", "status.yml")
    report, junit = reports["status"]
    assert report["plan"]["from_version"] == "005" and report["plan"]["pending"] == []
    assert [(case.get("name"), outcome(case)) for case in assert_junit_agrees(report, junit)] == [("run", "pass")]

    _, reports = run("rollback", "rollback.yml", "-e", "pg_migrate_target_version=002")
    report, junit = reports["rollback"]
    assert report["plan"]["from_version"] == "005" and report["plan"]["to_version"] == "002"
    assert [item["script"][:4] for item in report["reverted"]] == ["U005", "U004", "U003"]
    assert [outcome(case) for case in assert_junit_agrees(report, junit)] == ["pass"] * 3

    _, reports = run("status-pending", "status.yml")
    report, junit = reports["status"]
    assert report["plan"]["pending_versions"] == ["003", "004", "005"]
    assert [outcome(case) for case in assert_junit_agrees(report, junit)] == ["skip"] * 3

    _, reports = run("verify", "verify.yml")
    report, junit = reports["verify"]
    assert report["version"] == "002"
    summary = report["summary"]
    assert summary["passed"] + summary["failed"] + summary["warnings"] == len(report["checks"])
    assert int(junit.get("tests")) == len(junit.findall("testcase")) == len(report["checks"])
    assert int(junit.get("failures")) == summary["failed"] == 0


@both_paths
def test_a_failed_migration_is_the_failed_case_of_the_junit_report(
    db: Database, play, changeset_dir: Path, tmp_path: Path
):
    (changeset_dir / "V006__fails_half_way.sql").write_text(
        "CREATE TABLE xp_report_scratch (id int);\nSELECT 1 / 0 AS never;\n"
    )
    folder = tmp_path / "reports"
    play(
        "migrate.yml", "-e", f"pg_migrate_migrations_dir={changeset_dir}", "-e", f"pg_migrate_reports_dir={folder}"
    ).assert_failed()

    report, junit = read_reports(folder, db.server.password)["migrate"]
    assert "V006__fails_half_way.sql failed at statement 2 (line 2) [SQLSTATE 22012]" in report["error"]
    assert report["failure"] == {
        "script": "V006__fails_half_way.sql",
        "statement": 2,
        "line": 2,
        "sqlstate": "22012",
        "error": "division by zero",
    }
    assert [item["version"] for item in report["applied"]] == ["001", "002", "003", "004", "005"]
    cases = assert_junit_agrees(report, junit)
    assert [(case.get("name")[:4], outcome(case)) for case in cases] == [
        *[(f"V00{n}", "pass") for n in range(1, 6)],
        ("V006", "fail"),
    ]
    failure = cases[-1].find("failure")
    assert failure.get("message") == report["error"] and failure.get("type") == "migration"
    for path in (folder / HOST).iterdir():  # where it failed, never the script itself
        assert "xp_report_scratch" not in path.read_text(), path


@both_paths
def test_status_reports_drift_as_a_failed_case(db: Database, migrated, play, changeset_dir: Path, tmp_path: Path):
    extra = ("-e", f"pg_migrate_migrations_dir={changeset_dir}")
    migrated("002")
    edited = changeset_dir / "V002__policy_as_data.sql"
    edited.write_text(edited.read_text() + "\n-- edited after it was applied\n")
    folder = tmp_path / "reports"
    play("status.yml", *extra, "-e", f"pg_migrate_reports_dir={folder}").assert_ok()

    report, junit = read_reports(folder, db.server.password)["status"]
    assert [item["script"] for item in report["plan"]["drift"]] == ["V002__policy_as_data.sql"]
    cases = {case.get("name"): case for case in assert_junit_agrees(report, junit)}
    assert cases["problem 1"].find("failure").get("message").startswith("checksum drift: V002__policy_as_data.sql")
    assert [outcome(cases[name]) for name in cases if name.startswith("V")] == ["skip"] * 3


# --- the schemas themselves: valid, strict, and documented ---------------------------------------------

RUN_REPORT = {
    "schema_version": 1,
    "kind": "migrate",
    "host": "db1",
    "database": "xp",
    "check_mode": False,
    "generated_at": "2026-01-02T03:04:05Z",
    "plan": {
        "from_version": "000",
        "to_version": "001",
        "applied": [],
        "pending": [
            {
                "version": "001",
                "description": "a",
                "script": "V001__a.sql",
                "checksum": CHECKSUM,
                "transactional": True,
                "retry_of_failed_run": False,
            }
        ],
        "pending_versions": ["001"],
        "baseline": [],
        "drift": [],
        "repair": [],
        "missing": [],
        "out_of_order": [],
        "failed_before": [],
        "repeatables": [],
        "problems": [],
    },
    "applied": [
        {
            "version": "001",
            "script": "V001__a.sql",
            "checksum": CHECKSUM,
            "duration_ms": 1.5,
            "attempts": 1,
            "transactional": True,
        }
    ],
    "reverted": [],
    "repeatables_applied": [],
    "rehearsal": None,
    "squawk": {"findings": [], "problems": []},
    "error": None,
}
ROLLBACK_REPORT = {
    **RUN_REPORT,
    "kind": "rollback",
    "plan": {"from_version": "001", "to_version": "000", "revert": [], "revert_versions": [], "problems": []},
    "applied": [],
    "reverted": [{"version": "001", "script": "U001__a.sql", "duration_ms": 2.0, "attempts": 1}],
}
BACKFILL = {
    "batches": 2,
    "linked": 7000,
    "remaining": 0,
    "done": True,
    "batch_size": 5000,
    "duration_s": 0.8,
    "dry_run": False,
}
VERIFY_REPORT = {
    "schema_version": 1,
    "kind": "verify",
    "host": "db1",
    "database": "xp",
    "version": "005",
    "generated_at": "2026-01-02T03:04:05Z",
    "summary": {"passed": 1, "failed": 0, "warnings": 0},
    "checks": [
        {
            "id": "index xp_awards.xp_awards_pkey",
            "kind": "index",
            "object": "xp_awards_pkey",
            "table": "xp_awards",
            "status": "pass",
            "message": "ok: index xp_awards_pkey on xp_awards",
            "expected": "CREATE UNIQUE INDEX ...",
            "found": "CREATE UNIQUE INDEX ...",
        }
    ],
}


def changed(report: dict, path: str, value=None, delete: bool = False) -> dict:
    """A deep copy of REPORT with the field at PATH ('plan/revert', 'applied/0/attempts') set or deleted."""
    result = copy.deepcopy(report)
    *parents, last = [int(part) if part.isdigit() else part for part in path.split("/")]
    target = result
    for part in parents:
        target = target[part]
    if delete:
        del target[last]
    else:
        target[last] = value
    return result


def test_the_schemas_are_valid_draft_2020_12_and_accept_the_sample_reports():
    for schema in (RUN_SCHEMA, VERIFY_SCHEMA):
        Draft202012Validator.check_schema(schema)
    samples = [
        RUN_REPORT,
        ROLLBACK_REPORT,
        changed(RUN_REPORT, "plan", {}),  # the run stopped before it read the history
        changed(RUN_REPORT, "error", "could not connect"),
        {**RUN_REPORT, "kind": "seed", "backfill": None},
        {**RUN_REPORT, "kind": "backfill", "backfill": BACKFILL},
        {**RUN_REPORT, "kind": "backfill", "backfill": {**BACKFILL, "remaining": None, "cursor": 42}},
        {**RUN_REPORT, "standby_lag": {"standbys": [STANDBY, {**STANDBY, "lag_s": None}], "waited_s": 4.5}},
        {**RUN_REPORT, "adopted_from": ADOPTED},
        {**RUN_REPORT, "adopted_from": {**ADOPTED, "tool": "flyway", "up_to": None, "notes": ["R__v.sql"]}},
        VERIFY_REPORT,
    ]
    for sample in samples:
        assert schema_errors(sample) == [], sample


@pytest.mark.parametrize("field", RUN_SCHEMA["required"])
def test_the_run_schema_rejects_a_report_without_a_required_field(field: str):
    assert schema_errors(changed(RUN_REPORT, field, delete=True))


@pytest.mark.parametrize("field", VERIFY_SCHEMA["required"])
def test_the_verify_schema_rejects_a_report_without_a_required_field(field: str):
    assert schema_errors(changed(VERIFY_REPORT, field, delete=True))


@pytest.mark.parametrize(
    ("report", "path", "value"),
    [
        (RUN_REPORT, "surprise", 1),  # unknown top-level field
        (RUN_REPORT, "adopted_from", {**ADOPTED, "tool": "liquibase"}),  # a tool pg_migrate_adopt does not read
        (RUN_REPORT, "adopted_from", {k: v for k, v in ADOPTED.items() if k != "up_to"}),
        (RUN_REPORT, "applied/0/surprise", 1),  # unknown field of an applied migration
        (ROLLBACK_REPORT, "reverted/0/surprise", 1),  # unknown field of a revert
        (RUN_REPORT, "applied/0/duration_ms", "1.5"),
        (RUN_REPORT, "applied/0/attempts", 0),
        (RUN_REPORT, "applied/0/checksum", "not-a-sha256"),
        (RUN_REPORT, "kind", "deploy"),
        (RUN_REPORT, "schema_version", 2),
        (RUN_REPORT, "check_mode", "false"),
        (RUN_REPORT, "generated_at", "2026-01-02 03:04:05"),
        (RUN_REPORT, "error", 1),
        (RUN_REPORT, "plan/pending/0/version", "v1"),
        (RUN_REPORT, "plan/problems", "one problem"),
        (ROLLBACK_REPORT, "plan", RUN_REPORT["plan"]),  # a rollback carries a rollback plan
        (RUN_REPORT, "backfill", {**BACKFILL, "done": "yes"}),
        (RUN_REPORT, "backfill", {k: v for k, v in BACKFILL.items() if k != "batches"}),
        (VERIFY_REPORT, "surprise", 1),
        (VERIFY_REPORT, "checks/0/surprise", 1),
        (VERIFY_REPORT, "checks/0/status", "ok"),
        (VERIFY_REPORT, "checks/0/kind", "indexe"),
        (VERIFY_REPORT, "summary/failed", -1),
    ],
)
def test_the_schemas_reject_a_broken_report(report: dict, path: str, value):
    assert schema_errors(changed(report, path, value)), (path, value)


def property_names(node) -> set[str]:
    """Every property name a schema defines, at any depth."""
    names: set[str] = set()
    if isinstance(node, dict):
        names.update(node.get("properties", {}))
        for value in node.values():
            names |= property_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= property_names(value)
    return names


def test_docs_describe_every_field_and_kind_of_the_schemas():
    assert {"schema_version", "plan", "backfill", "checks"} <= property_names(RUN_SCHEMA) | property_names(
        VERIFY_SCHEMA
    )
    for schema in (RUN_SCHEMA, VERIFY_SCHEMA):
        for name in sorted(property_names(schema)):
            assert f"`{name}`" in DOCS, f"docs/reports.md does not describe the field {name}"
    for kind in RUN_SCHEMA["properties"]["kind"]["enum"]:
        assert f"`{kind}`" in DOCS, kind
    for kind in VERIFY_SCHEMA["$defs"]["check"]["properties"]["kind"]["enum"]:
        assert f"`{kind}`" in DOCS, kind
    for path in re.findall(r"docs/schemas/[\w.-]+\.json", DOCS):
        assert (ROOT / path).is_file(), path
