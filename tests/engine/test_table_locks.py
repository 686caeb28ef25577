"""The look before queueing and the lock ladder against a real server: a migration never waits in the lock queue
behind an application transaction that holds a conflicting lock (sampled from pg_locks), names it, and goes on
once it commits; the waits and attempts reach the result."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.run import apply
from tests.engine.conftest import connect, history, run, write_changeset
from tests.pgdb import Database

ADD_NOTE = {"V001__note.sql": "ALTER TABLE shelf ADD COLUMN note text;\n"}


class QueueWatch:
    """Samples pg_locks every few milliseconds, from its own session: the longest stretch PID had an ungranted
    lock request on TABLE."""

    def __init__(self, db: Database, pid: int, table: str) -> None:
        self.conn = db.connect(autocommit=True)
        self.pid, self.table = pid, table
        self.longest = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        waiting_since = None
        while not self.stop.is_set():
            waiting = self.conn.execute(  # the session ends with the test's database: the watch with it
                "SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted AND relation = to_regclass(%s)",
                (self.pid, self.table),
            ).fetchone()[0]
            now = time.monotonic()
            if waiting and waiting_since is None:
                waiting_since = now
            if waiting_since is not None:
                self.longest = max(self.longest, now - waiting_since)
                if not waiting:
                    waiting_since = None
            time.sleep(0.005)

    def close(self) -> float:
        if not self.stop.is_set():
            self.stop.set()
            self.thread.join()
            self.conn.close()
        return self.longest


@pytest.fixture
def shelf(db: Database) -> Database:
    db.query("CREATE TABLE shelf (id int PRIMARY KEY, label text)")
    db.query("INSERT INTO shelf VALUES (1, 'a'), (2, 'b')")
    return db


@pytest.fixture
def watch_queue(shelf: Database) -> Iterator[Callable[[int], QueueWatch]]:
    """watch_queue(pid): a QueueWatch of PID on shelf, stopped at the end whatever happened."""
    watches: list[QueueWatch] = []
    yield lambda pid: watches.append(QueueWatch(shelf, pid, "shelf")) or watches[-1]
    for watch in watches:
        watch.close()


@pytest.fixture
def application(shelf: Database) -> Iterator[Callable[[], tuple]]:
    """application(): an application transaction on shelf (application_transaction), rolled back and closed at
    the end whatever happened - a failed test must not leave a lock that hangs the database's removal."""
    opened: list = []

    def start() -> tuple:
        conn, pid = application_transaction(shelf)
        opened.append(conn)
        return conn, pid

    yield start
    for conn in opened:
        with contextlib.suppress(Exception):
            conn.rollback()
        conn.close()


def application_transaction(db: Database):
    """The application's transaction that updated a row and has not committed: ROW EXCLUSIVE on shelf."""
    conn = connect(db)
    with conn.cursor() as cursor:
        cursor.execute("SET application_name = 'claims-worker'")
        cursor.execute("SELECT pg_backend_pid() AS pid")
        pid = cursor.fetchone()["pid"]
        conn.commit()
        cursor.execute("UPDATE shelf SET label = label WHERE id = 1")
    time.sleep(0.1)  # older than pg_migrate_lock_blocker_age (50 ms)
    return conn, pid


def in_background(runner, **flags) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def go() -> None:
        try:
            outcome["result"] = run(runner, apply.run_migrate, check=False, diff=False, **flags)
        except Exception as exc:  # the test reads it
            outcome["error"] = exc

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread, outcome


def wait_for_note(runner, predicate, outcome: dict, seconds: float = 20.0) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and "error" not in outcome:
        note = runner.notes.latest() or {}
        if predicate(note):
            return note
        time.sleep(0.02)
    raise AssertionError("no such progress note; the latest: %r %r" % (runner.notes.latest(), outcome.get("error")))


def failed_migrate_while(runner, blocker) -> tuple[str, dict]:
    """RUNNER's migrate, which must fail while BLOCKER (an application transaction) is open; rolled back after:
    (its message, its result)."""
    result: dict = {}
    try:
        with pytest.raises(RunFailed) as failed:
            run(runner, apply.run_migrate, result, check=False, diff=False)
    finally:
        blocker.rollback()
    return str(failed.value), result


def blocked_run(runner, application, watch_queue) -> tuple:
    """RUNNER's migrate started behind an application transaction, its session's lock queue watched, once it
    says it waits: (watch, blocker, blocker_pid, thread, outcome, its progress note)."""
    watch = watch_queue(pid_of(runner))
    blocker, blocker_pid = application()
    thread, outcome = in_background(runner)
    note = wait_for_note(runner, lambda note: note.get("lock") == "table locks" and note.get("blockers"), outcome)
    return watch, blocker, blocker_pid, thread, outcome, note


def pid_of(runner) -> int:
    pid = runner.session.value("SELECT pg_backend_pid()")
    runner.session.commit()
    return pid


def test_a_migration_never_queues_behind_an_old_transaction_names_it_and_goes_on_when_it_commits(
    shelf: Database, runner_for, tmp_path, application, watch_queue
):
    runner = runner_for(write_changeset(tmp_path, ADD_NOTE))
    watch, blocker, blocker_pid, thread, outcome, note = blocked_run(runner, application, watch_queue)
    assert "pid %d (application 'claims-worker'" % blocker_pid in note["blockers"][0]
    assert "UPDATE shelf SET label = label WHERE id = 1" in note["blockers"][0]
    time.sleep(0.5)  # it keeps waiting, without a lock request in the queue
    assert (
        thread.is_alive()
        and shelf.scalar("SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'") == 0
    )
    blocker.commit()
    thread.join(30)
    longest = watch.close()

    assert "error" not in outcome, outcome.get("error")
    applied = outcome["result"]["applied"][0]
    assert applied["attempts"] == 1 and applied["lock_wait_ms"] >= 500
    assert [entry["pid"] for entry in applied["blocked_by"]] == [blocker_pid]
    assert applied["blocked_by"][0]["application"] == "claims-worker"
    assert longest <= 0.05, "the migration waited %.3f s in the lock queue (the first rung is 50 ms)" % longest
    assert [row[0] for row in history(shelf)] == ["001"]


def test_when_the_wait_runs_out_the_run_fails_naming_the_blocker_and_changes_nothing(
    shelf: Database, runner_for, tmp_path, application, watch_queue
):
    runner = runner_for(write_changeset(tmp_path, ADD_NOTE), lock_wait_limit="1s", lock_retries=0)
    blocker, blocker_pid = application()
    message, result = failed_migrate_while(runner, blocker)
    assert "V001__note.sql failed at statement 1 (line 1) [SQLSTATE 55P03]: waited " in message
    assert "pid %d (application 'claims-worker'" % blocker_pid in message and "UPDATE shelf SET label" in message
    assert "the application was not held up" in message and "docs/runbook.md" in message
    assert result["failure"]["blocked_by"][0]["pid"] == blocker_pid
    assert history(shelf) == [] and shelf.scalar("SELECT to_regclass('pg_migrate_history') IS NOT NULL")
    assert shelf.scalar("SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'") == 0


def test_a_script_outside_a_transaction_waits_in_place_keeping_what_it_committed(
    shelf: Database, runner_for, tmp_path, application, watch_queue
):
    script = (
        "-- pg_migrate:no-transaction\nCREATE TABLE IF NOT EXISTS tags (id int);\n"
        "ALTER TABLE shelf ADD COLUMN note text;\n"
    )
    runner = runner_for(write_changeset(tmp_path, {"V001__note.sql": script}))
    blocker, blocker_pid = application()
    thread, outcome = in_background(runner)
    wait_for_note(runner, lambda note: note.get("lock") == "table locks" and note.get("blockers"), outcome)
    assert shelf.scalar("SELECT to_regclass('tags') IS NOT NULL")  # its first statement, committed, stays
    blocker.commit()
    thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    applied = outcome["result"]["applied"][0]
    assert applied["transactional"] is False and applied["lock_wait_ms"] > 0 and applied["attempts"] == 1
    assert applied["blocked_by"][0]["pid"] == blocker_pid


def test_a_lock_the_look_cannot_see_climbs_the_ladder_and_each_wait_in_the_queue_is_one_rung(
    shelf: Database, runner_for, tmp_path, application, watch_queue
):
    # A blocker age of an hour: the look lets the transaction be, as it does a young one - the ladder's case.
    runner = runner_for(
        write_changeset(tmp_path, ADD_NOTE),
        lock_blocker_age="1h",
        lock_ladder=["50ms", "100ms"],
        lock_timeout="150ms",
        lock_retries=20,
        lock_retry_delay=0.05,
    )
    watch = watch_queue(pid_of(runner))
    blocker, _pid = application()
    thread, outcome = in_background(runner)
    wait_for_note(runner, lambda note: note.get("lock") == "table locks" and note.get("attempt", 0) >= 3, outcome)
    blocker.commit()
    thread.join(30)
    longest = watch.close()
    assert "error" not in outcome, outcome.get("error")
    applied = outcome["result"]["applied"][0]
    assert applied["attempts"] >= 4 and applied["lock_wait_ms"] > 0 and not applied["blocked_by"]
    assert longest <= 0.15 + 0.05, "one wait in the queue lasted %.3f s, longer than the top rung" % longest


def test_a_login_role_that_cannot_see_transaction_ages_tells_an_old_blocker_by_seeing_it_twice(
    shelf: Database, role: str, runner_as, tmp_path, application, watch_queue
):
    # Without pg_read_all_stats, pg_stat_activity hides other users' xact_start: the first look cannot tell the
    # application's transaction from a claim, the request queues for the first rung only, and the next look,
    # which sees the same transaction again, waits without queueing.
    shelf.query(f"ALTER TABLE shelf OWNER TO {role}")
    shelf.query(f"GRANT CREATE ON SCHEMA public TO {role}")  # for its history table
    runner = runner_as(write_changeset(tmp_path, ADD_NOTE), action="migrate", preflight=False)
    watch, blocker, blocker_pid, thread, outcome, note = blocked_run(runner, application, watch_queue)
    assert "pid %d (application 'claims-worker', user 'postgres'" % blocker_pid in note["blockers"][0]
    assert "its transaction's age hidden from this login role" in note["blockers"][0]
    time.sleep(0.3)
    blocker.commit()
    thread.join(30)
    longest = watch.close()
    assert "error" not in outcome, outcome.get("error")
    applied = outcome["result"]["applied"][0]
    assert applied["blocked_by"][0]["pid"] == blocker_pid and applied["attempts"] <= 2
    assert longest <= 0.05 + 0.03, "the request waited %.3f s in the queue, longer than the first rung" % longest


def test_a_marked_script_tried_again_starts_at_the_statement_that_lost_its_lock(
    shelf: Database, runner_for, tmp_path, application
):
    # The look lets the transaction be (an hour's blocker age): the ALTER loses its rungs until it commits. The
    # INSERT before it committed on the first attempt; a second run of it would count the shelf twice.
    shelf.query("CREATE TABLE counted (shelves int)")
    script = (
        "-- pg_migrate:no-transaction\nINSERT INTO counted SELECT count(*) FROM shelf;\n"
        "ALTER TABLE shelf ADD COLUMN note text;\n"
    )
    runner = runner_for(
        write_changeset(tmp_path, {"V001__note.sql": script}),
        lock_blocker_age="1h",
        lock_ladder=["50ms", "100ms"],
        lock_timeout="150ms",
        lock_retries=20,
        lock_retry_delay=0.05,
    )
    blocker, _pid = application()
    thread, outcome = in_background(runner)
    wait_for_note(runner, lambda note: note.get("lock") == "table locks" and note.get("attempt", 0) >= 2, outcome)
    blocker.commit()
    thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"]["applied"][0]["attempts"] >= 2
    assert shelf.scalar("SELECT count(*) FROM counted") == 1
    assert shelf.scalar("SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'") == 1


def test_an_index_build_that_times_out_behind_an_old_writer_is_not_tried_again_and_names_its_index(
    shelf: Database, runner_for, tmp_path, application
):
    # CREATE INDEX CONCURRENTLY commits its INVALID index before it waits for the writers of the table; when
    # that wait loses its lock_timeout, another attempt would fail on the name (42P07), so the run stops at once
    # and names the index. It never climbs the short rungs: its lock holds up no claim.
    script = "-- pg_migrate:no-transaction\nCREATE INDEX CONCURRENTLY shelf_label_idx ON shelf (label);\n"
    runner = runner_for(
        write_changeset(tmp_path, {"V001__label_index.sql": script}), lock_timeout="300ms", lock_retries=3
    )
    blocker, _pid = application()
    started = time.monotonic()
    message, result = failed_migrate_while(runner, blocker)
    assert "[SQLSTATE 55P03]" in message and "42P07" not in message, message
    assert "It left the INVALID index shelf_label_idx behind" in message
    assert "DROP INDEX CONCURRENTLY shelf_label_idx" in message
    assert time.monotonic() - started >= 0.3  # its one attempt waited the whole lock_timeout, not a 50 ms rung
    assert result["failure"]["sqlstate"] == "55P03"
    assert shelf.scalar("SELECT count(*) FROM pg_index WHERE NOT indisvalid") == 1
