"""The change set applies in order with psql, each script as an operator would run it."""

from __future__ import annotations

import re
import subprocess
import threading

import psycopg
import pytest

from tests.changeset import MIGRATIONS, NO_TRANSACTION_MARKER, changes, is_transactional
from tests.pgdb import ScriptFailed

EXPECTED_VERSIONS = ["001", "002", "003", "004", "005"]


def test_every_migration_has_revert_and_verify():
    found = changes()
    assert [c.version for c in found] == EXPECTED_VERSIONS
    for change in found:
        assert change.revert.is_file(), f"{change.deploy.name} has no revert {change.revert.name}"
        assert change.verify.is_file(), f"{change.deploy.name} has no verify {change.verify.name}"


def test_no_stray_files_in_migrations_dir():
    allowed = re.compile(r"^(V\d{3}__[a-z0-9_]+(\.verify)?|U\d{3}__[a-z0-9_]+)\.sql$")
    assert [p.name for p in MIGRATIONS.iterdir() if not allowed.match(p.name)] == []


def test_chain_applies_in_order_and_each_verify_passes(db):
    for change in changes():
        db.deploy(change)
        db.verify(change)
    assert db.scalar("SELECT count(*) FROM pg_extension WHERE extname = 'btree_gist'") == 1


def test_each_verify_script_fails_before_its_migration(db):
    for change in changes():
        with pytest.raises(ScriptFailed, match=f"V{change.version} not in effect"):
            db.verify(change)
        db.deploy(change)


def test_only_the_concurrent_index_scripts_are_non_transactional():
    marked = sorted(p.name for p in MIGRATIONS.glob("*.sql") if not is_transactional(p))
    assert marked == ["U005__index_awards_policy_version.sql", "V005__index_awards_policy_version.sql"]
    for name in marked:
        assert "CONCURRENTLY" in (MIGRATIONS / name).read_text()


def test_marked_migration_cannot_run_in_a_transaction(db):
    """The marker is needed: wrapping V005 in a transaction fails (SQLSTATE 25001) and changes nothing."""
    db.migrate(up_to="004")
    v005 = changes()[4].deploy
    assert v005.read_text().startswith(NO_TRANSACTION_MARKER + "\n")
    result = subprocess.run(
        [db.server.program("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", str(v005)],
        env=db.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "cannot run inside a transaction block" in result.stderr
    assert db.scalar("SELECT to_regclass('xp_awards_policy_version_id_idx')") is None


def test_v005_rerun_repairs_an_invalid_index_left_by_a_failed_build(db):
    db.migrate(up_to="004")
    # A failed CREATE INDEX CONCURRENTLY leaves an INVALID index; simulate that state.
    db.query("CREATE INDEX xp_awards_policy_version_id_idx ON xp_awards (policy_version_id)")
    db.query("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'xp_awards_policy_version_id_idx'::regclass")
    with pytest.raises(ScriptFailed, match="valid index xp_awards_policy_version_id_idx is missing"):
        db.verify(changes()[4])
    db.deploy(changes()[4])
    db.verify(changes()[4])


def test_v003_column_is_catalog_only_no_table_rewrite(db):
    """ADD COLUMN without default must not rewrite xp_awards (same relfilenode before and after)."""
    db.migrate(up_to="002")
    before = db.scalar("SELECT relfilenode FROM pg_class WHERE oid = 'xp_awards'::regclass")
    db.deploy(changes()[2])
    after = db.scalar("SELECT relfilenode FROM pg_class WHERE oid = 'xp_awards'::regclass")
    assert before == after
    assert db.scalar("SELECT convalidated FROM pg_constraint WHERE conname = 'xp_awards_policy_version_fk'") is False


def test_v005_outlasts_the_runners_short_lock_timeout_on_a_busy_server(db):
    """A concurrent index build waits for every older transaction; with the runner's 2 s lock_timeout
    it would fail and leave an INVALID index, so V005 sets its own (longer) bound."""
    db.migrate(up_to="004")
    db.query("CREATE TABLE unrelated_busy_table (id int)")
    with db.connect() as other:
        # A report in REPEATABLE READ holds its snapshot until it ends; the build must wait for it.
        other.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        other.execute("SELECT count(*) FROM unrelated_busy_table")
        release = threading.Timer(3.0, other.commit)
        release.start()
        try:
            db.psql(changes()[4].deploy, options="-c lock_timeout=2s")
        finally:
            release.join()
    db.verify(changes()[4])
