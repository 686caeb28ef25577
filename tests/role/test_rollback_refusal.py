"""A rollback that cannot finish is refused before it starts; target versions mean one thing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.pgdb import Database
from tests.role.conftest import advisory_locks, both_paths, history

SEEDS_ON = ("-e", "pg_migrate_seeds_enabled=true")
U002_REASON = "U002 refuses to drop the policy tables: they still hold policies"


def _state(db: Database) -> tuple:
    return db.schema_dump(), history(db)


def _published_policy_at_005(db: Database, migrated) -> tuple:
    """The database at 005 with the seed's published default policy, which U002 refuses to drop."""
    migrated("005", seeds=True)
    assert db.scalar("SELECT count(*) FROM xp_policy_versions WHERE status = 'published'") == 1
    return _state(db)


@both_paths
def test_a_rollback_that_u002_would_refuse_reverts_nothing(db: Database, migrated, play, tmp_path: Path):
    before = _published_policy_at_005(db, migrated)
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


@both_paths
def test_check_mode_says_the_rollback_would_be_refused(db: Database, migrated, play):
    before = _published_policy_at_005(db, migrated)
    run = play("rollback.yml", "--check", "-e", "pg_migrate_target_version=001").assert_failed()
    assert "to 001 would be refused; nothing was changed" in run.output, run.output
    assert f"stopped at U002__policy_as_data.sql, statement 2 (line 14) [SQLSTATE 55000]: {U002_REASON}" in run.output
    assert _state(db) == before


def test_a_target_on_the_wrong_side_of_the_current_version_points_at_the_other_playbook(db: Database, migrated, play):
    """migrate.yml only goes forward and rollback.yml only goes back: a target on the wrong side is refused,
    naming the other playbook, and nothing changes. (Every version-check refusal, word for word, including
    a target that matches no migration: tests/unit/plugins/module_utils/plan/test_plan.py.)"""
    migrated("002")
    before = _state(db)
    run = play("migrate.yml", "-e", "pg_migrate_target_version=001").assert_failed()
    assert "pg_migrate_target_version 001 is below the version the database is at (002)" in run.output, run.output
    assert "run a rollback (pg_migrate_action=rollback) with -e pg_migrate_target_version=001 instead" in run.output
    above = play("rollback.yml", "-e", "pg_migrate_target_version=005").assert_failed()
    assert "pg_migrate_target_version 005 is above the version the database is at (002)" in above.output, above.output
    assert "run a migrate (pg_migrate_action=migrate) with -e pg_migrate_target_version=005 instead" in above.output
    assert _state(db) == before
