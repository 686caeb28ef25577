"""Files in the migrations directory: Windows line endings and BOMs are not edits; odd entries are refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.pgdb import Database
from tests.role.conftest import history

BOM = b"\xef\xbb\xbf"


def _migrations(db: Database) -> list[tuple]:
    return [row for row in history(db) if row[3] == "migration"]


def test_crlf_and_bom_are_not_drift_and_a_script_saved_that_way_runs(db: Database, migrated, play, changeset_dir: Path):
    extra = ("-e", f"pg_migrate_migrations_dir={changeset_dir}")
    migrated("002")
    recorded = _migrations(db)[1][2]
    applied = changeset_dir / "V002__policy_as_data.sql"
    applied.write_bytes(BOM + applied.read_bytes().replace(b"\n", b"\r\n"))  # as a Windows checkout leaves it
    v006 = (
        "-- V006: saved by a Windows editor (BOM, CRLF)\n"
        "CREATE TABLE xp_badges (badge_id bigint PRIMARY KEY, label text NOT NULL);\n"
        "COMMENT ON TABLE xp_badges IS 'Abzeichen für Badges';\n"
    ).encode()
    (changeset_dir / "V006__badges.sql").write_bytes(BOM + v006.replace(b"\n", b"\r\n"))

    play("migrate.yml", *extra).assert_ok()
    rows = _migrations(db)
    assert [row[0] for row in rows] == ["001", "002", "003", "004", "005", "006"]
    assert rows[1][2] == recorded  # not drift, and not rewritten either
    assert rows[5][2] == hashlib.sha256(v006).hexdigest()  # scheme 2: the text without BOM, with LF
    assert db.scalar("SELECT obj_description('xp_badges'::regclass)") == "Abzeichen für Badges"


def test_a_dangling_link_a_directory_and_an_upper_case_extension_stop_the_run(db: Database, play, changeset_dir: Path):
    moved = changeset_dir.parent / "moved" / "V006__gone.sql"
    (changeset_dir / "V006__gone.sql").symlink_to(moved)
    (changeset_dir / "V007__folder.sql").mkdir()
    (changeset_dir / "V008__shouted.SQL").write_text("CREATE TABLE xp_shouted (id bigint);\n")
    before = db.schema_dump()

    result = play("migrate.yml", "-e", f"pg_migrate_migrations_dir={changeset_dir}").assert_failed()
    assert "has 3 problem(s); nothing was changed on any host" in result.output
    assert "V006__gone.sql: a symlink to %s, which does not exist" % moved in result.output
    assert "V007__folder.sql: a directory, not a script file" in result.output
    assert "V008__shouted.SQL: the extension must be lower-case .sql: rename it to V008__shouted.sql" in result.output
    assert history(db) == [] and db.schema_dump() == before
