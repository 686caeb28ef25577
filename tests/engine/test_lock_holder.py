"""The migration lock's holder, as a waiting or refused run names it, is a session of the run's own database.

Advisory locks belong to a database: a session of another database of the same server that holds the same key
(its own pg_migrate run, with the same history table name) does not block this run, and must not be named."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from tests.conftest import _drop_database, _new_database
from tests.engine.conftest import write_changeset
from tests.pgdb import Database

V001 = {"V001__accounts.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY);\n"}
KEY = "pg_migrate:public.pg_migrate_history"  # the lock of a run with the default history table


@pytest.fixture
def other_db(db: Database) -> Iterator[Database]:
    """A second database on the same server."""
    other = _new_database(db.server)
    try:
        yield other
    finally:
        _drop_database(other)


def _pid(conn: psycopg.Connection) -> int:
    return conn.info.backend_pid


def test_a_refused_run_names_no_session_of_another_database(db: Database, other_db: Database, runner_for, tmp_path):
    """Nobody holds the lock in this database any more when the run gives up: no other database's holder is
    named instead."""
    elsewhere = [
        psycopg.connect(db.server.conninfo(other_db.name), autocommit=True, application_name=f"elsewhere-{n}")
        for n in range(3)
    ]
    try:
        # Three sessions of the other database hold the key (shared, so all are granted at once).
        for conn in elsewhere:
            conn.execute("SELECT pg_advisory_lock_shared(hashtextextended(%s, 0))", (KEY,))
        runner = runner_for(write_changeset(tmp_path, V001))
        message = runner.lock.refusal()
        for conn in elsewhere:
            assert str(_pid(conn)) not in message, message
        assert "elsewhere" not in message and "(another session)" in message, message
        assert runner.lock.holder_pid() is None
    finally:
        for conn in elsewhere:
            conn.close()


def test_a_waiting_and_refused_run_names_the_holder_of_its_own_database(
    db: Database, other_db: Database, runner_for, tmp_path
):
    elsewhere = [
        psycopg.connect(db.server.conninfo(other_db.name), autocommit=True, application_name=f"elsewhere-{n}")
        for n in range(3)
    ]
    here = psycopg.connect(db.server.conninfo(db.name), autocommit=True, application_name="holder-here")
    try:
        for conn in elsewhere:
            conn.execute("SELECT pg_advisory_lock_shared(hashtextextended(%s, 0))", (KEY,))
        here.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (KEY,))
        runner = runner_for(write_changeset(tmp_path, V001), advisory_lock_wait=0.5)
        assert runner.lock.holder_pid() == _pid(here)  # the waiting note's holder
        with pytest.raises(RunFailed) as refused:
            runner.lock.acquire()
        message = str(refused.value)
        assert f"(pid {_pid(here)} (user " in message and "application holder-here" in message, message
        for conn in elsewhere:
            assert str(_pid(conn)) not in message, message
    finally:
        here.close()
        for conn in elsewhere:
            conn.close()
