"""A history as another tool leaves it, run through the playbooks on both paths: descriptions with "-" and ".",
an empty revert (nothing to undo), a migration that SETs search_path before the next one runs."""

from __future__ import annotations

from pathlib import Path

from tests.pgdb import Database
from tests.role.conftest import both_paths, history

SCRIPTS = {
    "V1__create-users.sql": "CREATE TABLE users (id bigint PRIMARY KEY);\n",
    "U1__create-users.sql": "",  # diesel's and dbmate's "nothing to undo"
    "V2__1.7.0_schema.sql": "CREATE SCHEMA archive;\nSET search_path = archive;\nCREATE TABLE old_users (id bigint);\n",
    "U2__1.7.0_schema.sql": "DROP SCHEMA archive CASCADE;\n",
    "V3__add-posts.sql": "CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint REFERENCES users);\n",
    "U3__add-posts.sql": "-- generated down migration: nothing to undo\n",
}
PLAIN = ("-e", "pg_migrate_probes=", "-e", "pg_migrate_verify_schema=false")


@both_paths
def test_a_real_history_migrates_and_rolls_back_through_the_playbooks(db: Database, play, tmp_path: Path):
    migrations = tmp_path / "history"
    migrations.mkdir()
    for name, text in SCRIPTS.items():
        (migrations / name).write_text(text)
    extra = ("-e", f"pg_migrate_migrations_dir={migrations}", *PLAIN)

    play("migrate.yml", *extra).assert_ok()
    assert [row[:2] for row in history(db)] == [
        ("1", "V1__create-users.sql"),
        ("2", "V2__1.7.0_schema.sql"),
        ("3", "V3__add-posts.sql"),
    ]
    where = dict(
        db.query(
            "SELECT relname, relnamespace::regnamespace::text FROM pg_class WHERE relkind = 'r' AND "
            "relname IN ('users', 'old_users', 'posts')"
        )
    )
    assert where == {"users": "public", "old_users": "archive", "posts": "public"}  # V2's SET stayed in V2

    checked = play("rollback.yml", *extra, "-e", "pg_migrate_target_version=0", "--check").assert_ok()
    assert (
        "nothing to undo: U3__add-posts.sql is empty or comments only; reverting 3 removes its history row "
        "only" in checked.output
    )
    rolled = play("rollback.yml", *extra, "-e", "pg_migrate_target_version=0").assert_ok()
    assert "reverted U3__add-posts.sql in" in rolled.output and "(nothing to undo: an empty revert)" in rolled.output
    assert history(db) == []
    assert db.scalar("SELECT to_regnamespace('archive') IS NULL")  # U2 ran
    assert db.scalar("SELECT count(*) FROM pg_tables WHERE tablename IN ('users', 'posts')") == 2  # nothing undone
