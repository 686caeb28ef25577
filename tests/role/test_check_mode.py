"""Check mode changes nothing and tells the operator exactly what would happen."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.pgdb import Database
from tests.role.conftest import history


def _state(db: Database) -> tuple:
    return db.schema_dump(), history(db)


def test_check_on_a_v001_database_changes_nothing_and_names_every_pending_version(db: Database, play, tmp_path: Path):
    play("migrate.yml", "-e", "pg_migrate_target_version=001").assert_ok()
    before = _state(db), _files(tmp_path / "remote")
    # Another process's check run on this machine, still going: its scratch directory is none of our business.
    with tempfile.TemporaryDirectory(prefix="pg_migrate-check-") as _others:
        result = play("migrate.yml", "--check").assert_ok()
        # Nothing that matters changed: schema, history, the copied scripts; no scratch directory is left
        # in this run's own TMPDIR (the play fixture's), whatever other runs leave in the machine's /tmp.
        assert (_state(db), _files(tmp_path / "remote")) == before
        assert list((tmp_path / "tmp").glob("pg_migrate-check-*")) == []
    assert f"localhost {db.name}: 001 -> 005 (check mode: would apply 4)" in result.output
    assert "pending: 002 003 004 005" in result.output
    assert "squawk: 0 finding(s)" in result.output


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_check_diff_shows_the_sql_that_would_run(db: Database, play):
    play("migrate.yml", "-e", "pg_migrate_target_version=001").assert_ok()
    result = play("migrate.yml", "--check", "--diff").assert_ok()
    for script in (
        "V002__policy_as_data.sql",
        "V003__awards_policy_version_link.sql",
        "V004__validate_awards_policy_version_fk.sql",
        "V005__index_awards_policy_version.sql",
    ):
        assert f"would run: {script} (pending)" in result.output
    assert "CREATE TABLE xp_policy_versions (" in result.output
    assert "ALTER TABLE xp_awards VALIDATE CONSTRAINT xp_awards_policy_version_fk;" in result.output
    assert "V001__claims_baseline.sql (pending)" not in result.output


def test_check_on_an_empty_database_creates_not_even_the_history_table(db: Database, play):
    before = db.schema_dump()
    play("migrate.yml", "--check").assert_ok()
    assert db.schema_dump() == before


def test_squawk_findings_of_pending_files_are_reported(db: Database, play, changeset_dir: Path):
    (changeset_dir / "V006__blocking_index.sql").write_text(
        "CREATE INDEX xp_awards_reason_idx ON xp_awards (reason);\n"
    )
    extra = ("-e", f"pg_migrate_migrations_dir={changeset_dir}")
    play("migrate.yml", *extra, "-e", "pg_migrate_target_version=005").assert_ok()
    result = play("migrate.yml", *extra, "--check").assert_ok()
    assert "pending: 006" in result.output
    assert "V006__blocking_index.sql:1 require-concurrent-index-creation" in result.output


def test_rehearsal_runs_everything_and_rolls_it_back(db: Database, play):
    play("migrate.yml", "-e", "pg_migrate_target_version=001").assert_ok()
    last = db.load_claims(300)
    before = _state(db), db.awards_digest(last)
    result = play("migrate.yml", "--check", "-e", "pg_migrate_rehearse=true").assert_ok()
    assert (_state(db), db.awards_digest(last)) == before
    for script in (
        "V002__policy_as_data.sql",
        "V003__awards_policy_version_link.sql",
        "V004__validate_awards_policy_version_fk.sql",
    ):
        assert f"rehearsed {script} in" in result.output
    assert "not rehearsed V005__index_awards_policy_version.sql: runs outside a transaction" in result.output


def test_rehearsal_finds_what_would_fail_on_the_real_data(db: Database, play):
    play("migrate.yml", "-e", "pg_migrate_target_version=001").assert_ok()
    db.query("INSERT INTO xp_rules (rule_key, xp_amount) VALUES ('legacy', 5)")
    before = _state(db)
    result = play("migrate.yml", "--check", "-e", "pg_migrate_rehearse=true").assert_failed()
    assert "rehearsal failed (everything was rolled back, nothing changed)" in result.output
    assert "V002 refuses to drop xp_rules: it still holds 1 row(s)" in result.output
    assert _state(db) == before


def test_rollback_in_check_mode_changes_nothing(db: Database, play):
    play().assert_ok()
    before = _state(db)
    result = play("rollback.yml", "--check", "--diff", "-e", "pg_migrate_target_version=001").assert_ok()
    assert "check mode: would revert 005 004 003 002" in result.output
    assert "would run: U002__policy_as_data.sql (revert)" in result.output
    assert _state(db) == before
