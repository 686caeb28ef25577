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
from tests.role import catalog
from tests.role.conftest import both_paths

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


def test_a_migrated_database_passes_every_check_and_junit_lists_them(db: Database, migrated, verify):
    migrated("005")
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


# Each sabotage: the statement, the checks it must fail (catalog checks, probes, verify scripts), and the
# message of its catalog check.
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


def _is_catalog_check(check_id: str) -> bool:
    return not check_id.startswith(("probe ", "verify script "))


@pytest.mark.parametrize("sabotage", SABOTAGE, ids=str)
def test_sabotage_fails_exactly_the_matching_checks_naming_the_object(latest_db: Database, sabotage: str):
    """Below the playbook: the role's catalog query and the engine's comparison, the change set's probes
    and verify scripts, against a sabotaged database (the end-to-end run is the test below)."""
    statement, expected_failures, message = SABOTAGE[sabotage]
    assert catalog.failing_probes(latest_db, "005") == set()  # every check fails because of the sabotage
    latest_db.query(statement)
    checks = catalog.catalog_checks(latest_db, "005")
    failed = {check["id"]: check["message"] for check in checks if check["status"] == "fail"}
    assert set(failed) == {check_id for check_id in expected_failures if _is_catalog_check(check_id)}
    assert message in failed.values()
    assert [check for check in checks if check["status"] == "warn"] == []
    found = catalog.failing_probes(latest_db, "005") | catalog.failing_verify_scripts(latest_db, "005")
    assert found == {check_id for check_id in expected_failures if not _is_catalog_check(check_id)}


# One run of verify.yml against a database sabotaged in five ways at once (the ones that do not overlap),
# plus an index the change set does not have: the operator sees exactly those failures, by name, in the
# output, the JSON report and the JUnit file, and the extra index only as a warning.
COMBINED = ["btree_gist extension", "partial unique index", "check constraint", "foreign key", "table comment"]
EXTRA_INDEX_WARNING = "extra: index xp_awards_reason_idx on xp_awards (not in the change set at this version)"


@both_paths
def test_a_sabotaged_database_fails_verification_by_name_end_to_end(db: Database, migrated, verify):
    migrated("005")
    for sabotage in COMBINED:
        db.query(SABOTAGE[sabotage][0])
    db.query("CREATE INDEX xp_awards_reason_idx ON xp_awards (reason)")
    expected_failures = set().union(*(SABOTAGE[sabotage][1] for sabotage in COMBINED))
    result, report, junit = verify()
    result.assert_failed()
    assert failing(report) == expected_failures
    for sabotage in COMBINED:
        assert SABOTAGE[sabotage][2] in result.output
    assert [c["message"] for c in report["checks"] if c["status"] == "warn"] == [EXTRA_INDEX_WARNING]
    assert f"warn {EXTRA_INDEX_WARNING}" in result.output
    failures = {case.get("name"): case.find("failure") for case in junit.findall("testcase")}
    assert {name for name, failure in failures.items() if failure is not None} == expected_failures


def test_an_extra_index_is_a_warning_not_a_failure(latest_db: Database):
    latest_db.query("CREATE INDEX xp_awards_reason_idx ON xp_awards (reason)")
    checks = catalog.catalog_checks(latest_db, "005")
    assert [c["message"] for c in checks if c["status"] == "warn"] == [EXTRA_INDEX_WARNING]
    assert [c for c in checks if c["status"] == "fail"] == []


@both_paths
def test_verification_changes_nothing_also_in_check_mode_and_a_warning_does_not_fail_it(db: Database, migrated, verify):
    migrated("005")
    db.load_claims(200)
    db.seed()
    db.query("CREATE INDEX xp_awards_reason_idx ON xp_awards (reason)")  # a warning, not a failure
    db.query("ANALYZE")
    before = (
        db.schema_dump(),
        counts(db),
        db.awards_digest(),
        db.scalar("SELECT last_value FROM xp_awards_award_id_seq"),
    )
    result, report, _ = verify()
    result.assert_ok()
    assert result.changed == 0
    assert [c["message"] for c in report["checks"] if c["status"] == "warn"] == [EXTRA_INDEX_WARNING]
    checked, _, _ = verify("--check")
    checked.assert_ok()
    after = db.schema_dump(), counts(db), db.awards_digest(), db.scalar("SELECT last_value FROM xp_awards_award_id_seq")
    assert after == before


def test_a_v001_database_verifies_against_the_v001_expectations(db: Database, migrated, verify):
    migrated("001")
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
def test_verify_playbook_works_against_every_environment_inventory_in_check_mode(db: Database, migrated, tmp_path, env):
    migrated("005")
    args = ["--check", *environment_overrides(db, tmp_path)]
    result = run_playbook(db, "verify.yml", *args, inventory=env, env={"PG_MIGRATE_PASSWORD": db.server.password})
    result.assert_ok()
    hosts = [h for h in result.recap]
    assert hosts and all((tmp_path / "reports" / host / "verify.json").exists() for host in hosts)
    assert "152 passed, 0 failed" in result.output
