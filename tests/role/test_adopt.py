"""pg_migrate_adopt end to end: a database goose migrated up to 002 (its scripts run with psql, goose's history
table created and filled as goose does) is adopted through playbooks/migrate.yml on both execution paths."""

from __future__ import annotations

import json
from pathlib import Path

from tests.pgdb import Database
from tests.role.conftest import both_paths, history

GOOSE_TABLE = (
    "CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, is_applied boolean NOT NULL, "
    "tstamp timestamp NULL default now(), PRIMARY KEY(id))"
)


def migrated_by_goose(db: Database, up_to: int) -> None:
    db.migrate(up_to="%03d" % up_to)
    db.query(GOOSE_TABLE)
    for version in range(up_to + 1):  # goose writes version 0 when it creates its table
        db.query("INSERT INTO goose_db_version (version_id, is_applied) VALUES (%s, true)", (version,))


@both_paths
def test_a_goose_database_is_adopted_and_only_the_rest_runs(db: Database, play, tmp_path: Path):
    migrated_by_goose(db, 2)
    last = db.load_claims(50)
    claims = db.awards_digest(last)
    goose = db.query("SELECT * FROM goose_db_version ORDER BY id")

    check = play("migrate.yml", "-e", "pg_migrate_adopt=goose", "--check").assert_ok()
    assert "adopt: would adopt 2 migration(s) from goose (up to 002, read from goose_db_version)" in check.output
    assert history(db) == []

    play("migrate.yml", "-e", "pg_migrate_adopt=goose").assert_ok()
    assert [(row[0], row[3]) for row in history(db)] == [
        ("001", "baseline"),
        ("002", "baseline"),
        ("003", "migration"),
        ("004", "migration"),
        ("005", "migration"),
    ]
    assert db.awards_digest(last) == claims  # 001 and 002 did not run again
    assert db.query("SELECT * FROM goose_db_version ORDER BY id") == goose
    report = json.loads((tmp_path / "reports" / "localhost" / "migrate.json").read_text())
    assert report["adopted_from"] == {"tool": "goose", "table": "goose_db_version", "up_to": "002", "notes": []}


def test_adopt_and_a_baseline_version_together_are_refused_before_connecting(db: Database, play):
    migrated_by_goose(db, 2)
    result = play("migrate.yml", "-e", "pg_migrate_adopt=goose", "-e", "pg_migrate_baseline_version=002")
    assert "pg_migrate_adopt (goose) and pg_migrate_baseline_version (002) both say" in result.assert_failed().output
    assert history(db) == []
