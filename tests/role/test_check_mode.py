"""Check mode changes nothing and tells the operator exactly what would happen."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tests.pgdb import Database
from tests.role.conftest import both_paths, history

PENDING_AT_001 = (
    "V002__policy_as_data.sql",
    "V003__awards_policy_version_link.sql",
    "V004__validate_awards_policy_version_fk.sql",
    "V005__index_awards_policy_version.sql",
)


def _state(db: Database) -> tuple:
    return db.schema_dump(), history(db)


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


@both_paths
def test_a_dry_run_on_a_v001_database_names_what_would_run_and_changes_nothing(
    db: Database, migrated, play, changeset_dir: Path, tmp_path: Path
):
    """An operator's dry run (--check --diff) on a V001 database with claims, where a pending migration is one
    squawk objects to: the plan, the SQL, the finding, in the output and the run report; nothing changed."""
    migrated("001")
    last = db.load_claims(300)
    (changeset_dir / "V006__blocking_index.sql").write_text(
        "CREATE INDEX xp_awards_reason_idx ON xp_awards (reason);\n"
    )
    before = _state(db), db.awards_digest(last), _files(tmp_path / "remote")
    # Another process's check run on this machine, still going: its scratch directory is none of our business.
    with tempfile.TemporaryDirectory(prefix="pg_migrate-check-") as _others:
        result = play("migrate.yml", "-e", f"pg_migrate_migrations_dir={changeset_dir}", "--check", "--diff")
        result.assert_ok()
        # Nothing that matters changed: schema, history, claims, the copied scripts; no scratch directory is
        # left in this run's own TMPDIR (the play fixture's), whatever other runs leave in the machine's /tmp.
        assert (_state(db), db.awards_digest(last), _files(tmp_path / "remote")) == before
        assert list((tmp_path / "tmp").glob("pg_migrate-check-*")) == []
    assert f"localhost {db.name}: 001 -> 006 (check mode: would apply 5)" in result.output
    assert "pending: 002 003 004 005 006" in result.output
    for script in (*PENDING_AT_001, "V006__blocking_index.sql"):
        assert f"would run: {script} (pending)" in result.output
    assert "V001__claims_baseline.sql (pending)" not in result.output
    assert "CREATE TABLE xp_policy_versions (" in result.output
    assert "ALTER TABLE xp_awards VALIDATE CONSTRAINT xp_awards_policy_version_fk;" in result.output
    assert "V006__blocking_index.sql:1 require-concurrent-index-creation" in result.output

    report = json.loads((tmp_path / "reports" / "localhost" / "migrate.json").read_text())
    assert report["check_mode"] is True and report["error"] is None and report["applied"] == []
    assert report["plan"]["from_version"] == "001" and report["plan"]["to_version"] == "006"
    assert report["plan"]["pending_versions"] == ["002", "003", "004", "005", "006"]
    findings = {(f["file"], f["rule"]) for f in report["squawk"]["findings"]}
    assert ("V006__blocking_index.sql", "require-concurrent-index-creation") in findings
    assert not any(f["file"].startswith("V001") for f in report["squawk"]["findings"])  # applied: not linted
    # The engine sets both timeouts itself: squawk's rules asking for them are off (pg_migrate_squawk_exclude).
    assert not {rule for _file, rule in findings} & {"require-lock-timeout", "require-statement-timeout"}
    assert report["squawk"]["problems"] == []


@both_paths
def test_rehearsal_runs_everything_and_rolls_it_back(db: Database, migrated, play):
    migrated("001")
    last = db.load_claims(300)
    before = _state(db), db.awards_digest(last)
    result = play("migrate.yml", "--check", "-e", "pg_migrate_rehearse=true").assert_ok()
    assert (_state(db), db.awards_digest(last)) == before
    for script in PENDING_AT_001[:3]:
        assert f"rehearsed {script} in" in result.output
    assert "not rehearsed V005__index_awards_policy_version.sql: runs outside a transaction" in result.output
    assert "squawk: 0 finding(s)" in result.output  # the project's own pending migrations are clean


def test_rehearsal_finds_what_would_fail_on_the_real_data(db: Database, migrated, play):
    migrated("001")
    db.query("INSERT INTO xp_rules (rule_key, xp_amount) VALUES ('legacy', 5)")
    before = _state(db)
    result = play("migrate.yml", "--check", "-e", "pg_migrate_rehearse=true").assert_failed()
    assert "rehearsal failed (everything was rolled back, nothing changed)" in result.output
    assert "V002 refuses to drop xp_rules: it still holds 1 row(s)" in result.output
    assert _state(db) == before


@both_paths
def test_rollback_in_check_mode_changes_nothing(db: Database, migrated, play):
    migrated("005")
    before = _state(db)
    result = play("rollback.yml", "--check", "--diff", "-e", "pg_migrate_target_version=001").assert_ok()
    assert "check mode: would revert 005 004 003 002" in result.output
    assert "would run: U002__policy_as_data.sql (revert)" in result.output
    assert _state(db) == before
