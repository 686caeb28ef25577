"""Verification: a migrated database passes every check; sabotage fails exactly the matching checks,
by name; verification changes nothing; it works at any version, in check mode, on every inventory."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import yaml

from tests.ansible_run import ROOT, PlaybookRun, environment_overrides, run_playbook
from tests.pgdb import Database

ROW_COUNTS = """
SELECT string_agg(format('%s=%s', relname, n_live_tup), ',' ORDER BY relname) FROM pg_stat_user_tables
"""
TABLES = [
    "xp_awards",
    "xp_policies",
    "xp_policy_versions",
    "xp_policy_streak_curve",
    "xp_policy_seasonal_boosts",
    "xp_policy_segment_overrides",
    "pg_migrate_history",
]


@pytest.fixture
def verify(play, tmp_path: Path):
    reports = tmp_path / "reports"

    def run(*args: str) -> tuple[PlaybookRun, dict, ET.Element]:
        result = play("verify.yml", "-e", f"pg_migrate_reports_dir={reports}", *args)
        report = json.loads((reports / "localhost" / "verify.json").read_text())
        junit = ET.parse(reports / "localhost" / "verify.junit.xml").getroot()
        return result, report, junit

    return run


def failing(report: dict) -> set[str]:
    return {check["id"] for check in report["checks"] if check["status"] == "fail"}


def counts(db: Database) -> dict[str, int]:
    return {table: db.scalar(f"SELECT count(*) FROM {table}") for table in TABLES}


def test_a_migrated_database_passes_every_check_and_junit_lists_them(db: Database, play, verify):
    play().assert_ok()
    result, report, junit = verify()
    result.assert_ok()
    assert report["schema_version"] == 1 and report["version"] == "005"
    assert report["summary"]["failed"] == 0 and report["summary"]["warnings"] == 0
    ids = {check["id"] for check in report["checks"]}
    for expected in (
        "exclusion constraint xp_policy_seasonal_boosts.xp_policy_seasonal_boosts_no_overlap",
        "index xp_policy_versions.xp_policy_versions_one_published_idx",
        "extension btree_gist",
        "comment on table xp_policies",
        "foreign key xp_awards.xp_awards_policy_version_fk",
        "probe overlapping seasonal boosts of one version are refused",
        "probe a retried claim (same idempotency key) is refused",
        "verify script V005__index_awards_policy_version.verify.sql",
    ):
        assert expected in ids, expected
    cases = junit.findall("testcase")
    assert len(cases) == len(report["checks"]) == int(junit.get("tests"))
    assert {case.get("name") for case in cases} == ids
    assert junit.get("failures") == "0"
    assert "152 passed, 0 failed, 0 warning(s)" in result.output


SABOTAGE = {
    "exclusion constraint": (
        "ALTER TABLE xp_policy_seasonal_boosts DROP CONSTRAINT xp_policy_seasonal_boosts_no_overlap",
        {
            "exclusion constraint xp_policy_seasonal_boosts.xp_policy_seasonal_boosts_no_overlap",
            "probe overlapping seasonal boosts of one version are refused",
            "verify script V002__policy_as_data.verify.sql",
        },  # V002's own verify checks it too
        "missing: exclusion constraint xp_policy_seasonal_boosts_no_overlap on xp_policy_seasonal_boosts",
    ),
    "partial unique index": (
        "DROP INDEX xp_policy_versions_one_published_idx",
        {
            "index xp_policy_versions.xp_policy_versions_one_published_idx",
            "probe a second published version of a policy is refused",
            "verify script V002__policy_as_data.verify.sql",
        },
        "missing: index xp_policy_versions_one_published_idx on xp_policy_versions",
    ),
    "partial index made non-partial": (
        "DROP INDEX xp_policy_versions_one_published_idx; "
        "CREATE UNIQUE INDEX xp_policy_versions_one_published_idx ON xp_policy_versions (policy_id)",
        {
            "index xp_policy_versions.xp_policy_versions_one_published_idx",
            "verify script V002__policy_as_data.verify.sql",
        },  # it checks the index is partial
        "changed: index xp_policy_versions_one_published_idx on xp_policy_versions: expected CREATE UNIQUE INDEX "
        "xp_policy_versions_one_published_idx ON public.xp_policy_versions USING btree (policy_id) WHERE "
        "(status = 'published'::text), found CREATE UNIQUE INDEX xp_policy_versions_one_published_idx ON "
        "public.xp_policy_versions USING btree (policy_id)",
    ),
    "check constraint": (
        "ALTER TABLE xp_awards DROP CONSTRAINT xp_awards_amount_positive",
        {"check constraint xp_awards.xp_awards_amount_positive", "probe a claim of 0 XP is refused"},
        "missing: check constraint xp_awards_amount_positive on xp_awards",
    ),
    "foreign key": (
        "ALTER TABLE xp_policy_streak_curve DROP CONSTRAINT xp_policy_streak_curve_policy_version_fk",
        {
            "foreign key xp_policy_streak_curve.xp_policy_streak_curve_policy_version_fk",
            "probe a streak row of an unknown version is refused",
        },
        "missing: foreign key xp_policy_streak_curve_policy_version_fk on xp_policy_streak_curve",
    ),
    "btree_gist extension": (
        "DROP EXTENSION btree_gist CASCADE",  # takes the exclusion constraint, which needs it, along
        {
            "extension btree_gist",
            "exclusion constraint xp_policy_seasonal_boosts.xp_policy_seasonal_boosts_no_overlap",
            "probe overlapping seasonal boosts of one version are refused",
            "verify script V002__policy_as_data.verify.sql",
        },
        "missing: extension btree_gist",
    ),
    "table comment": (
        "COMMENT ON TABLE xp_policies IS NULL",
        {"comment on table xp_policies"},
        "missing: comment on table xp_policies",
    ),
}


@pytest.mark.parametrize("sabotage", SABOTAGE, ids=str)
def test_sabotage_fails_exactly_the_matching_checks_naming_the_object(db: Database, play, verify, sabotage):
    play().assert_ok()
    statement, expected_failures, message = SABOTAGE[sabotage]
    db.query(statement)
    result, report, junit = verify()
    result.assert_failed()
    assert failing(report) == expected_failures
    assert message in result.output
    failures = {case.get("name"): case.find("failure") for case in junit.findall("testcase")}
    assert {name for name, failure in failures.items() if failure is not None} == expected_failures


def test_an_extra_index_is_a_warning_not_a_failure(db: Database, play, verify):
    play().assert_ok()
    db.query("CREATE INDEX xp_awards_reason_idx ON xp_awards (reason)")
    result, report, _ = verify()
    result.assert_ok()
    warnings = [c["message"] for c in report["checks"] if c["status"] == "warn"]
    assert warnings == ["extra: index xp_awards_reason_idx on xp_awards (not in the change set at this version)"]


def test_verification_changes_nothing_also_in_check_mode(db: Database, play, verify):
    play().assert_ok()
    db.load_claims(200)
    db.seed()
    db.query("ANALYZE")
    before = (
        db.schema_dump(),
        counts(db),
        db.awards_digest(),
        db.scalar("SELECT last_value FROM xp_awards_award_id_seq"),
    )
    result, _, _ = verify()
    result.assert_ok()
    assert result.changed == 0
    checked, _, _ = verify("--check")
    checked.assert_ok()
    after = db.schema_dump(), counts(db), db.awards_digest(), db.scalar("SELECT last_value FROM xp_awards_award_id_seq")
    assert after == before


def test_a_v001_database_verifies_against_the_v001_expectations(db: Database, play, verify):
    play("migrate.yml", "-e", "pg_migrate_target_version=001").assert_ok()
    result, report, _ = verify()
    result.assert_ok()
    assert report["version"] == "001"
    ids = {check["id"] for check in report["checks"]}
    assert "table xp_rules" in ids and "probe a legacy rule of 0 XP is refused" in ids
    assert not any("xp_polic" in check_id for check_id in ids)


def test_the_expected_schema_file_is_what_the_change_set_produces(pg_server):
    import expected_schema

    generated = expected_schema.render(expected_schema.generate(pg_server))
    assert generated == expected_schema.EXPECTED.read_text(), "run: python3 tools/expected_schema.py write"


def test_every_probe_names_a_real_object_and_fixture():
    probes = yaml.safe_load((ROOT / "files/verify/probes.yml").read_text())
    expected = yaml.safe_load((ROOT / "files/verify/expected_schema.yml").read_text())
    names = {item["name"] for kind in ("constraints", "indexes", "triggers") for item in expected[kind]}
    for probe in probes["probes"]:
        assert not probe.get("object") or probe["object"] in names, probe["name"]
        assert set(probe.get("fixtures", [])) <= set(probes["fixtures"]), probe["name"]
        assert probe.get("expect") == "success" or len(str(probe["expect"])) == 5, probe["name"]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_verify_playbook_works_against_every_environment_inventory_in_check_mode(db: Database, play, tmp_path, env):
    play().assert_ok()
    args = ["--check", *environment_overrides(db, tmp_path)]
    result = run_playbook(db, "verify.yml", *args, inventory=env, env={"PG_MIGRATE_PASSWORD": db.server.password})
    result.assert_ok()
    hosts = [h for h in result.recap]
    assert hosts and all((tmp_path / "reports" / host / "verify.json").exists() for host in hosts)
    assert "152 passed, 0 failed" in result.output
