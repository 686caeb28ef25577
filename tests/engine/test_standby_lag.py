"""The standby gate (run/standby_lag.py) against a real primary and a real streaming standby (pg_basebackup -R)
whose replay is paused (pg_wal_replay_pause): the run waits and says so in its progress note, changes nothing
while it waits, goes on once replay resumes, and fails naming the standby when the wait runs out. No timing
assertions: a wait is seen in the run's note and in the database, never measured."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import localpg
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.engine import result_dict, run_database
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.job_progress import note_line
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.outcome import RunResult
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.session import Runner
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.standby_lag import standby_gate
from tests.engine.conftest import Runners, history, write_changeset
from tests.pgdb import Database

V001 = {"V001__accounts.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY);\n"}
# Waits in these tests end on a condition; this only bounds a broken one.
PATIENCE = 60.0
STANDBY_NAME = "walreceiver"  # pg_basebackup -R names no application_name: the walreceiver's default


@dataclasses.dataclass
class Pair:
    primary: localpg.Connection
    standby: localpg.Connection

    def on_standby(self, sql: str) -> object:
        with psycopg.connect(self.standby.conninfo(), autocommit=True) as conn:
            row = conn.execute(sql).fetchone()
            return row[0] if row else None

    def pause(self) -> None:
        self.on_standby("SELECT pg_wal_replay_pause()")
        until(lambda: self.on_standby("SELECT pg_get_wal_replay_pause_state()") == "paused", "replay to pause")

    def resume(self) -> None:
        self.on_standby("SELECT pg_wal_replay_resume()")

    def write_wal(self) -> None:
        """Some WAL on the primary (well over a kB) that a paused standby cannot replay."""
        with psycopg.connect(self.primary.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS wal_filler (n int)")
            conn.execute("INSERT INTO wal_filler SELECT generate_series(1, 5000)")

    def caught_up(self) -> bool:
        with psycopg.connect(self.primary.conninfo(), autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE replay_lsn >= pg_current_wal_lsn()), count(*) FROM pg_stat_replication"
            ).fetchone()
        return row[1] > 0 and row[0] == row[1]


def until(condition, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    """A primary of this module's own and a streaming hot standby of it; both stopped and removed."""
    bases = [Path(tempfile.mkdtemp(prefix="pg_migrate-lag-primary-")), Path(tempfile.mkdtemp(prefix="pg_migrate-lag-"))]
    try:
        primary = localpg.start(bases[0])
        yield Pair(primary, localpg.start_standby(primary, bases[1]))
    finally:
        for base in reversed(bases):
            localpg.destroy(base)
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def primary_db(pair: Pair) -> Iterator[Database]:
    """A new database on the primary, with the standby caught up and replaying (also after a failed test)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pair.primary.conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    until(pair.caught_up, "the standby to replay the new database")
    database = Database(pair.primary, name)
    try:
        yield database
    finally:
        pair.resume()
        database.close()
        with psycopg.connect(pair.primary.conninfo(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def runners(primary_db: Database, tmp_path: Path) -> Iterator[Runners]:
    made = Runners(primary_db, tmp_path)
    try:
        yield made
    finally:
        made.close()
    assert made.warnings == []


class Background:
    """run_database(RUNNER) in a thread: its RunResult once it ends."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.result: RunResult | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.result = run_database(self.runner, False, False)

    def waiting_note(self) -> dict | None:
        note = self.runner.notes.latest()
        return note if note and note.get("lock") == "standby" else None

    def finish(self) -> RunResult:
        self.thread.join(PATIENCE)
        assert self.result is not None, "the run did not end"
        return self.result


def kilobyte_gated(runners: Runners, tmp_path: Path, **params: object):
    """A migrate of V001 whose standbys may be at most 1 kB behind (no limit in seconds)."""
    return runners(
        write_changeset(tmp_path, V001), action="migrate", standby_max_lag="0", standby_max_lag_bytes=1024, **params
    )


def test_a_run_waits_while_a_standby_is_behind_and_goes_on_once_it_replays(pair, primary_db, runners, tmp_path):
    note_file = tmp_path / "progress.json"
    runner = kilobyte_gated(runners, tmp_path, standby_wait="10min", progress_file=str(note_file))
    pair.pause()
    pair.write_wal()
    run = Background(runner)
    until(lambda: run.waiting_note() is not None, "the run to say it waits for the standby")
    note = run.waiting_note()
    assert note["standby"] == STANDBY_NAME and note["lag_bytes"] > 1024, note
    line = note_line("db1", primary_db.name, note, time.time())
    assert line.startswith(f"db1 {primary_db.name}: waiting for standby '{STANDBY_NAME}' (") and "limit 1.0 kB" in line
    assert note_file.exists()  # the host path's watcher reads the same note from the file
    assert run.thread.is_alive() and history(primary_db) == []  # nothing changed while it waits

    pair.resume()
    result = run.finish()
    assert result.msg is None, result.msg
    assert [item.version for item in result.outcome.applied] == ["001"]
    seen = result_dict(result)["standby_lag"]
    assert [standby["name"] for standby in seen["standbys"]] == [STANDBY_NAME]
    assert seen["standbys"][0]["lag_bytes"] <= 1024 and seen["waited_s"] > 0


def test_a_wait_that_runs_out_fails_the_run_naming_the_standby_and_changes_nothing(pair, primary_db, runners, tmp_path):
    runner = kilobyte_gated(runners, tmp_path, standby_wait="1s")
    pair.pause()
    pair.write_wal()
    result = run_database(runner, False, False)
    assert result.msg is not None and f"'{STANDBY_NAME}' (" in result.msg, result.msg
    assert " behind" in result.msg and "Nothing was changed" in result.msg
    assert "pg_migrate_standby_wait" in result.msg and pair.primary.password not in result.msg
    assert history(primary_db) == [] and result.outcome.applied == ()
    seen = result_dict(result)["standby_lag"]
    assert seen["standbys"][0]["name"] == STANDBY_NAME and seen["standbys"][0]["lag_bytes"] > 1024


def test_catch_up_waits_for_what_was_written_before_the_run_though_the_lag_is_within_the_limits(
    pair, primary_db, runners, tmp_path
):
    changeset = write_changeset(tmp_path, V001)
    pair.pause()
    pair.write_wal()
    # Within the limits (1 GB, no seconds limit): a paused standby does not hold the run, and its lag is recorded.
    within = runners(changeset, action="status", standby_max_lag="0", standby_max_lag_bytes=1 << 30)
    seen = standby_gate(within)
    assert seen["standbys"][0]["name"] == STANDBY_NAME and seen["standbys"][0]["lag_bytes"] > 0
    assert seen["waited_s"] == 0

    runner = runners(
        changeset, action="migrate", standby_max_lag="0", standby_max_lag_bytes=1 << 30, standby_catch_up=True
    )
    run = Background(runner)
    until(lambda: run.waiting_note() is not None, "the run to wait for the standby to catch up")
    assert "catch-up" in run.waiting_note()["limit"] and history(primary_db) == []
    pair.resume()
    result = run.finish()
    assert result.msg is None, result.msg
    assert [item.version for item in result.outcome.applied] == ["001"]


def test_both_limits_zero_turn_the_gate_off_even_with_catch_up(pair, primary_db, runners, tmp_path):
    pair.pause()
    pair.write_wal()
    runner = runners(
        write_changeset(tmp_path, V001),
        action="migrate",
        standby_max_lag="0",
        standby_max_lag_bytes=0,
        standby_catch_up=True,
        standby_wait="1s",
    )
    result = run_database(runner, False, False)
    assert result.msg is None and result.standby_lag is None
    assert [row[0] for row in history(primary_db)] == ["001"]


def test_a_role_that_cannot_read_replay_positions_is_refused_with_the_fix(pair, primary_db, tmp_path):
    role, password = f"r_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    primary_db.query(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    plain = Database(dataclasses.replace(pair.primary, user=role, password=password), primary_db.name)
    made = Runners(plain, tmp_path)
    try:
        runner = made(write_changeset(tmp_path, V001), action="migrate")  # the defaults: 30 s, gate on
        with pytest.raises(RunFailed) as refused:
            standby_gate(runner)
    finally:
        made.close()
        primary_db.query(f"DROP ROLE {role}")
    message = str(refused.value)
    assert f"'{STANDBY_NAME}'" in message and "GRANT pg_monitor" in message
    assert "pg_migrate_standby_max_lag: 0 and pg_migrate_standby_max_lag_bytes: 0" in message
    assert password not in message


def test_the_gate_has_nothing_to_wait_for_on_a_server_without_standbys_or_on_the_standby_itself(
    pair, db, runner_for, tmp_path
):
    """db: the session's own server, which has no standbys; and the standby of PAIR, which lists none of its own
    (pg_stat_replication there shows cascaded standbys; a change runs on the primary, the preflight says so)."""
    assert standby_gate(runner_for(write_changeset(tmp_path, V001), action="migrate")) is None
    standby = Runners(Database(pair.standby, "postgres"), tmp_path)
    try:
        assert standby_gate(standby(write_changeset(tmp_path, V001), action="migrate", standby_catch_up=True)) is None
    finally:
        standby.close()
