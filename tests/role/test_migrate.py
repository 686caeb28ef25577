"""The role end to end through ansible-playbook and the local inventory, against real PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.changeset import changes
from tests.pgdb import Database
from tests.role.conftest import both_paths, history


@pytest.mark.parametrize("execution", ["controller", "host"])
def test_empty_database_to_latest_then_nothing_to_do(db: Database, play, tmp_path: Path, execution: str):
    path = ("-e", f"pg_migrate_execution={execution}")
    first = play("migrate.yml", *path).assert_ok()
    assert [row[0] for row in history(db)] == ["001", "002", "003", "004", "005"]
    assert all(row[3] == "migration" and row[4] for row in history(db))
    # The history records the checksum of each file.
    assert {row[0]: row[2] for row in history(db)} == {
        c.version: hashlib.sha256(c.deploy.read_bytes()).hexdigest() for c in changes()
    }
    for change in changes():
        db.verify(change)
    assert "localhost %s: 000 -> 005" % db.name in first.output
    assert " so far" not in first.output  # a quick run prints no progress lines
    remote = tmp_path / "remote"
    if execution == "controller":  # the scripts are read where they are: nothing is copied anywhere
        assert not remote.exists()
    else:  # the copied scripts are 0640 in a 0750 directory
        assert oct(remote.stat().st_mode & 0o777) == "0o750"
        files = [p for p in remote.rglob("*.sql")]
        assert len(files) == 15 and {oct(p.stat().st_mode & 0o777) for p in files} == {"0o640"}

    second = play("migrate.yml", *path).assert_ok()
    assert second.changed == 0, second.output
    assert "nothing pending: already at 005" in second.output

    if execution == "host":  # tighter on request
        play("migrate.yml", *path, "-e", "pg_migrate_remote_mode=0600").assert_ok()
        assert {oct(p.stat().st_mode & 0o777) for p in remote.rglob("*.sql")} == {"0o600"}


@both_paths
def test_target_version_stops_there_and_status_reports_the_rest_read_only(db: Database, play):
    play("migrate.yml", "-e", "pg_migrate_target_version=003").assert_ok()
    assert [row[0] for row in history(db)] == ["001", "002", "003"]
    before = (db.schema_dump(), history(db))
    status = play("status.yml").assert_ok()
    assert status.changed == 0
    assert re.search(r"pending: 004 005", status.output)
    assert (db.schema_dump(), history(db)) == before
    play().assert_ok()
    assert [row[0] for row in history(db)] == ["001", "002", "003", "004", "005"]


def test_task_count_stays_flat_as_history_grows(db: Database, play, changeset_dir: Path):
    """Tasks executed do not depend on how many migrations exist or are pending."""
    for number in range(6, 46):
        (changeset_dir / f"V{number:03d}__table_{number}.sql").write_text(
            f"CREATE TABLE extra_{number} (id bigint PRIMARY KEY);\n"
        )
    extra = ("-e", f"pg_migrate_migrations_dir={changeset_dir}")
    up_to_5 = play("migrate.yml", *extra, "-e", "pg_migrate_target_version=005").assert_ok()
    forty_more = play("migrate.yml", *extra).assert_ok()
    nothing = play("migrate.yml", *extra).assert_ok()
    assert len(history(db)) == 45
    assert up_to_5.tasks == forty_more.tasks == nothing.tasks, (up_to_5.tasks, forty_more.tasks, nothing.tasks)


@both_paths
def test_rollback_to_001_and_migrate_again_gives_an_identical_schema(db: Database, migrated, play):
    migrated("005")
    last = db.load_claims(1000)
    claims = db.awards_digest(last)
    latest, applied = db.schema_dump(), history(db)
    rolled = play("rollback.yml", "-e", "pg_migrate_target_version=001").assert_ok()
    assert [row[0] for row in history(db)] == ["001"]
    assert "rollback 005 -> 001" in rolled.output
    # The chain was rehearsed (in one transaction, rolled back) before the first revert; U005 cannot be.
    assert "rehearsed U002__policy_as_data.sql in" in rolled.output
    assert "not rehearsed U005__index_awards_policy_version.sql: runs outside a transaction" in rolled.output
    for change in changes()[1:]:
        assert db.sqlstate(change.verify.read_text()) is not None
    assert db.scalar("SELECT to_regclass('xp_rules') IS NOT NULL AND to_regclass('xp_policies') IS NULL")
    assert db.awards_digest(last) == claims
    play().assert_ok()
    assert db.schema_dump() == latest
    assert [row[:4] for row in history(db)] == [row[:4] for row in applied]
    assert db.awards_digest(last) == claims


def test_rollback_needs_a_target(db: Database, play):
    result = play("rollback.yml").assert_failed()
    assert "A rollback needs the version to go back to" in result.output


def test_rollback_refuses_before_changing_anything_when_a_revert_is_missing(
    db: Database, migrated, play, changeset_dir
):
    migrated("005")
    (changeset_dir / "U003__awards_policy_version_link.sql").unlink()
    before = db.schema_dump()
    extra = ("-e", f"pg_migrate_migrations_dir={changeset_dir}")
    result = play("rollback.yml", *extra, "-e", "pg_migrate_target_version=001").assert_failed()
    assert "no revert script for V003__awards_policy_version_link.sql" in result.output
    assert db.schema_dump() == before and len(history(db)) == 5


def test_baseline_adopts_an_existing_v001_database(db: Database, play, tmp_path: Path):
    db.migrate(up_to="001")  # production: the schema exists, pg_migrate has never run
    last = db.load_claims(500)
    claims = db.awards_digest(last)
    play("migrate.yml", "-e", "pg_migrate_baseline_version=001").assert_ok()
    assert [(row[0], row[3]) for row in history(db)] == [
        ("001", "baseline"),
        ("002", "migration"),
        ("003", "migration"),
        ("004", "migration"),
        ("005", "migration"),
    ]
    assert db.awards_digest(last) == claims
    # The role verified the adopted and migrated schema.
    verified = json.loads((tmp_path / "reports" / "localhost" / "verify.json").read_text())
    assert verified["version"] == "005" and verified["summary"]["failed"] == 0
    assert verified["summary"]["passed"] >= 150
    # Claims still work, idempotency key included.
    assert db.claim("00000000-0000-0000-0000-0000000000aa", 10, "after-baseline") is not None
    assert db.claim("00000000-0000-0000-0000-0000000000aa", 10, "after-baseline") is None


def test_baseline_refuses_a_database_without_the_schema(db: Database, play):
    result = play("migrate.yml", "-e", "pg_migrate_baseline_version=001").assert_failed()
    assert "baseline refused: V001__claims_baseline.verify.sql fails on this database" in result.output
    assert history(db) == []


def test_existing_schema_without_baseline_fails_with_the_hint(db: Database, play):
    db.migrate(up_to="001")
    result = play().assert_failed()
    assert "SQLSTATE 42P07" in result.output and "pg_migrate_baseline_version" in result.output


def test_history_table_schema_and_name_are_configurable(db: Database, play):
    play("migrate.yml", "-e", "pg_migrate_history_schema=ops", "-e", "pg_migrate_history_table=schema_changes")
    assert db.scalar("SELECT count(*) FROM ops.schema_changes WHERE success") == 5
    assert db.scalar("SELECT to_regclass('public.pg_migrate_history')") is None
    again = play("migrate.yml", "-e", "pg_migrate_history_schema=ops", "-e", "pg_migrate_history_table=schema_changes")
    assert again.assert_ok().changed == 0


def test_history_identifiers_are_validated_before_anything_runs(db: Database, play):
    result = play("migrate.yml", "-e", "pg_migrate_history_table=history; DROP TABLE x").assert_failed()
    assert "must be plain lower-case SQL identifiers" in result.output
    assert db.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0


def test_preflight_refuses_a_server_below_the_minimum_version(db: Database, play):
    result = play("migrate.yml", "-e", "pg_migrate_min_server_version=99").assert_failed()
    assert "server version below the minimum 99" in result.output and "Nothing was changed." in result.output
    assert history(db) == []


def test_a_long_migration_shows_which_script_runs_and_for_how_long(db: Database, play, changeset_dir: Path):
    (changeset_dir / "V006__slow_step.sql").write_text("-- a long step\nSELECT pg_sleep(4);\n")
    (changeset_dir / "U006__slow_step.sql").write_text("-- its revert\nSELECT pg_sleep(4);\n")
    extra = ("-e", f"pg_migrate_migrations_dir={changeset_dir}", "-e", "pg_migrate_progress_every=1")
    run = play("migrate.yml", *extra, "-e", "pg_migrate_verify_schema=false").assert_ok()
    lines = [line for line in run.raw.splitlines() if "running V006__slow_step.sql (6 of 6)" in line]
    assert len(lines) >= 2, run.raw  # the first line, then one per interval while it runs
    assert re.search(r"running V006__slow_step\.sql \(6 of 6\), [1-4] s so far", run.raw), run.raw
    assert "applied V006__slow_step.sql in" in run.output

    back = play("rollback.yml", *extra, "-e", "pg_migrate_target_version=005").assert_ok()
    assert "reverting U006__slow_step.sql (1 of 1)" in back.output, back.raw
    assert [row[0] for row in history(db)][-1] == "005"
