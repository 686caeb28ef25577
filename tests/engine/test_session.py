"""session.py against a real database: the advisory lock, the one retried transaction, scripts, progress."""

from __future__ import annotations

import json
import threading

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Migration, Script
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed, StatementFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.run import apply
from tests.engine.conftest import advisory_locks, connect, history, run, write_changeset
from tests.pgdb import Database

V001 = {"V001__accounts.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY);\n"}


def test_a_second_run_waits_for_the_lock_then_refuses_naming_the_holder(db: Database, runner_for, tmp_path):
    changeset = write_changeset(tmp_path, V001)
    first = runner_for(changeset)
    first.lock.acquire()
    note = tmp_path / "progress.json"
    second = runner_for(changeset, advisory_lock_wait=0.5, progress_file=str(note))
    with pytest.raises(RunFailed) as refused:
        second.lock.acquire()
    holder = first.session.value("SELECT pg_backend_pid()")
    first.session.commit()
    assert str(refused.value).startswith(
        "another pg_migrate run holds the migration lock of %s (pid %d (user " % (db.name, holder)
    )
    assert "waited 0s" in str(refused.value) and not second.lock.locked
    assert json.loads(note.read_text())["state"] == "waiting"
    assert json.loads(note.read_text())["holder"] == holder

    first.lock.release()
    second.lock.acquire()  # free now: at once
    assert second.lock.locked and second.lock.waited_s == 0.0


def test_a_waiting_run_gets_the_lock_as_soon_as_it_is_released(db: Database, runner_for, tmp_path):
    changeset = write_changeset(tmp_path, V001)
    first = runner_for(changeset)
    first.lock.acquire()
    second = runner_for(changeset, advisory_lock_wait=10)
    threading.Timer(1.2, first.lock.release).start()
    second.lock.acquire()
    assert second.lock.locked and 1.0 <= second.lock.waited_s < 5


def test_backfills_and_migrations_do_not_exclude_each_other(db: Database, runner_for, tmp_path):
    changeset = write_changeset(tmp_path, V001)
    runner_for(changeset).lock.acquire()
    backfill = runner_for(changeset, advisory_lock_wait=0.3, action="backfill")
    backfill.lock.acquire()
    other_backfill = runner_for(changeset, advisory_lock_wait=0.3, action="backfill")
    with pytest.raises(RunFailed, match="holds the backfill lock"):
        other_backfill.lock.acquire()


def test_the_lock_is_released_after_a_failed_run_and_with_a_killed_session(db: Database, runner_for, tmp_path):
    failing = write_changeset(tmp_path, {"V001__broken.sql": "SELECT 1/0;\n"})
    with pytest.raises(RunFailed, match="division by zero"):
        run(runner_for(failing), apply.run_migrate, check=False, diff=False)
    assert advisory_locks(db) == 0

    holder = runner_for(failing)
    holder.lock.acquire()
    assert advisory_locks(db) == 1
    db.query("SELECT pg_terminate_backend(%s)", (holder.session.value("SELECT pg_backend_pid()"),))
    runner_for(failing, advisory_lock_wait=2).lock.acquire()  # the killed session's lock went with it


def test_a_lock_timeout_is_retried_and_the_work_runs_once_it_is_free(db: Database, runner_for, tmp_path):
    db.query("CREATE TABLE busy (id bigint)")
    runner = runner_for(write_changeset(tmp_path, V001), lock_timeout="100ms", lock_retries=5, lock_retry_delay=0.2)
    blocker = connect(db)
    with blocker.cursor() as cursor:
        cursor.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
    threading.Timer(0.5, blocker.commit).start()
    script = Script.from_dict({"script": "insert.sql", "path": "insert.sql", "statements": [[0, 30, 1]]})
    runner.scripts.texts[str(tmp_path / "insert.sql")] = "INSERT INTO busy VALUES (1)"

    _rows, waits = runner.session.in_transaction("insert.sql", lambda: runner.scripts.run(script))
    blocker.close()
    assert waits.attempts > 1 and waits.wait_ms > 0 and db.scalar("SELECT count(*) FROM busy") == 1


def test_a_lock_timeout_on_every_attempt_fails_with_the_attempts_and_changes_nothing(
    db: Database, runner_for, tmp_path
):
    db.query("CREATE TABLE busy (id bigint)")
    runner = runner_for(write_changeset(tmp_path, V001), lock_timeout="50ms", lock_retries=2, lock_retry_delay=0.01)
    blocker = connect(db)
    with blocker.cursor() as cursor:
        cursor.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
    script = Script.from_dict({"script": "insert.sql", "path": "insert.sql", "statements": [[0, 30, 1]]})
    runner.scripts.texts[str(tmp_path / "insert.sql")] = "INSERT INTO busy VALUES (1)"
    try:
        with pytest.raises(StatementFailed) as failed:
            runner.session.in_transaction("insert.sql", lambda: runner.scripts.run(script))
    finally:
        blocker.close()
    assert failed.value.sqlstate == "55P03" and failed.value.attempts == 3
    assert db.scalar("SELECT count(*) FROM busy") == 0


def test_a_rehearsal_transaction_is_rolled_back_even_when_it_succeeds(db: Database, runner_for, tmp_path):
    runner = runner_for(write_changeset(tmp_path, V001))
    value, waits = runner.session.in_transaction(
        "rehearsal", lambda: runner.session.rows("CREATE TABLE gone (id int)"), commit=False
    )
    assert (value, waits.attempts, waits.wait_ms) == ([], 1, 0.0)
    assert db.scalar("SELECT to_regclass('gone') IS NULL")


def test_a_script_that_differs_from_the_controllers_copy_is_refused(db: Database, runner_for, tmp_path):
    changeset = write_changeset(tmp_path, V001)
    (tmp_path / "migrations" / "V001__accounts.sql").write_text("DROP TABLE everything;\n")
    with pytest.raises(RunFailed, match="differs from the controller's file"):
        run(runner_for(changeset), apply.run_migrate, check=False, diff=False)
    assert history(db) == []
    (tmp_path / "migrations" / "V001__accounts.sql").unlink()
    with pytest.raises(RunFailed, match="the copy step did not place it"):
        run(runner_for(changeset), apply.run_migrate, check=False, diff=False)


def test_the_history_table_is_created_once_and_read_in_order(db: Database, runner_for, tmp_path):
    runner = runner_for(write_changeset(tmp_path, V001), history_schema="audit", history_table="changes")
    assert runner.history.read() == [] and not runner.history.exists()
    assert runner.history.ensure() is True and runner.history.ensure() is False
    migration = Migration(script="V001__a.sql", checksum="0" * 64, version="001", description="a")
    runner.history.record("migration", migration, migration, 5, True)
    runner.session.commit()
    assert [(row["version"], row["kind"], row["success"]) for row in runner.history.read()] == [
        ("001", "migration", True)
    ]
    with pytest.raises(Exception, match="duplicate key"):  # a version is recorded as applied once
        runner.history.record("migration", migration, Script.from_dict({"script": "x", "checksum": "0" * 64}), 5, True)
    runner.session.rollback()


def test_the_progress_note_says_what_runs_and_goes_at_the_end(db: Database, runner_for, tmp_path):
    note = tmp_path / "note.json"
    runner = runner_for(write_changeset(tmp_path, V001), progress_file=str(note), action="migrate")
    runner.note_progress("V001__accounts.sql", 1, 2)
    seen = json.loads(note.read_text())
    assert {key: seen[key] for key in ("state", "script", "number", "total", "action")} == {
        "state": "running",
        "script": "V001__accounts.sql",
        "number": 1,
        "total": 2,
        "action": "migrate",
    }
    assert seen["pid"] > 0
    runner.release_quietly()
    assert not note.exists()


@pytest.mark.parametrize("workers", [0, 3, -1])
def test_the_runs_index_builds_use_the_parallel_workers_it_is_given(db: Database, runner_for, tmp_path, workers):
    seen = {"V001__seen.sql": "CREATE TABLE seen AS SELECT current_setting('max_parallel_maintenance_workers') AS n;\n"}
    runner = runner_for(write_changeset(tmp_path, seen), parallel_maintenance_workers=workers)
    run(runner, apply.run_migrate, check=False, diff=False)
    server_default = db.scalar("SHOW max_parallel_maintenance_workers")
    assert db.scalar("SELECT n FROM seen") == (server_default if workers == -1 else str(workers))
