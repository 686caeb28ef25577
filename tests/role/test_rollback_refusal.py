"""A rollback that cannot finish is refused before it starts; target versions mean one thing (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.pgdb import Database
from tests.role.conftest import advisory_locks, history

SEEDS_ON = ("-e", "pg_migrate_seeds_enabled=true")
U002_REASON = "U002 refuses to drop the policy tables: they still hold policies"


def _state(db: Database) -> tuple:
    return db.schema_dump(), history(db)


def _published_policy_at_005(db: Database, play) -> tuple:
    """The database at 005 with the seed's published default policy, which U002 refuses to drop."""
    play("migrate.yml", *SEEDS_ON).assert_ok()
    assert db.scalar("SELECT count(*) FROM xp_policy_versions WHERE status = 'published'") == 1
    return _state(db)


def test_a_rollback_that_u002_would_refuse_reverts_nothing(db: Database, play, tmp_path: Path):
    before = _published_policy_at_005(db, play)
    reports = ("-e", f"pg_migrate_reports_dir={tmp_path / 'reports'}")
    run = play("rollback.yml", *reports, "-e", "pg_migrate_target_version=001").assert_failed()
    assert (
        "to 001 was refused before its first revert; nothing was changed (the database is still at version 005"
    ) in run.output, run.output
    assert f"stopped at U002__policy_as_data.sql, statement 2 (line 14) [SQLSTATE 55000]: {U002_REASON}" in run.output
    # U005, U004 and U003 did not run either: the schema and the history are exactly as before.
    assert _state(db) == before
    assert advisory_locks(db) == 0
    report = json.loads((tmp_path / "reports" / "localhost" / "rollback.json").read_text())
    assert report["reverted"] == [] and report["failure"]["script"] == "U002__policy_as_data.sql"


def test_check_mode_says_the_rollback_would_be_refused(db: Database, play):
    before = _published_policy_at_005(db, play)
    run = play("rollback.yml", "--check", "-e", "pg_migrate_target_version=001").assert_failed()
    assert "to 001 would be refused; nothing was changed" in run.output, run.output
    assert f"stopped at U002__policy_as_data.sql, statement 2 (line 14) [SQLSTATE 55000]: {U002_REASON}" in run.output
    assert _state(db) == before


def test_migrate_to_a_version_below_the_current_one_points_at_rollback(db: Database, play):
    play("migrate.yml", "-e", "pg_migrate_target_version=003").assert_ok()
    before = _state(db)
    run = play("migrate.yml", "-e", "pg_migrate_target_version=001").assert_failed()
    assert "pg_migrate_target_version 001 is below the version the database is at (003)" in run.output, run.output
    assert "run playbooks/rollback.yml -e pg_migrate_target_version=001 instead" in run.output
    assert _state(db) == before


def test_rollback_to_a_version_above_the_current_one_or_to_no_version_is_refused(db: Database, play):
    play("migrate.yml", "-e", "pg_migrate_target_version=003").assert_ok()
    before = _state(db)
    above = play("rollback.yml", "-e", "pg_migrate_target_version=005").assert_failed()
    assert "pg_migrate_target_version 005 is above the version the database is at (003)" in above.output, above.output
    assert "run playbooks/migrate.yml -e pg_migrate_target_version=005 instead" in above.output
    unknown = play("rollback.yml", "-e", "pg_migrate_target_version=2.5").assert_failed()
    assert "pg_migrate_target_version 2.5 matches no migration of the change set" in unknown.output, unknown.output
    assert _state(db) == before
