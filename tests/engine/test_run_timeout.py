"""pg_migrate_run_timeout on the controller path below the playbook: run/time_limit.py's RunStopper against a run of
the engine in a thread, on a real database (tests/role/test_field_trials_engine.py has the playbook's side)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.run import apply, time_limit
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.session import Runner
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.time_limit import RunStopper
from tests.engine.conftest import MODULE, advisory_locks, history, module_defaults, run, tables, write_changeset
from tests.pgdb import Database

STOPPED = "stopped: pg_migrate_run_timeout"


def _migrate_in_thread(runner) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def work() -> None:
        try:
            run(runner, apply.run_migrate, check=False, diff=False)
        except RunFailed as failure:
            outcome["msg"] = str(failure)
        except Exception as exc:  # the session ended under it (engine.run_database words this one)
            outcome["error"] = str(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, outcome


def _when_sleeping(db: Database, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not db.scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%%'"):
        assert time.monotonic() < deadline, "the script never started its sleep"
        time.sleep(0.05)


def _press_until_done(stopper, thread: threading.Thread, timeout: float = 30) -> float:
    """Press STOPPER as pg_migrate_run's loop does until THREAD ends: the seconds it took."""
    started = time.monotonic()
    while thread.is_alive():
        assert stopper.pressed(), "the stopper ran out of steps"
        thread.join(0.1)
        assert time.monotonic() - started < timeout
    return time.monotonic() - started


def test_a_stopped_no_transaction_script_keeps_what_it_committed_and_records_the_attempt(
    db: Database, runner_for, tmp_path
):
    changeset = write_changeset(
        tmp_path,
        {
            "V001__accounts.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY);\n",
            "V002__slow.sql": "-- pg_migrate:no-transaction\nCREATE TABLE first_half (id int);\n"
            "SELECT pg_sleep(30);\nCREATE TABLE second_half (id int);\n",
        },
    )
    runner = runner_for(changeset)
    thread, outcome = _migrate_in_thread(runner)
    _when_sleeping(db)
    seconds = _press_until_done(RunStopper(runner, STOPPED), thread)
    assert seconds < 5, seconds  # the cancel ended the sleep; no terminate needed
    assert "V002__slow.sql failed at statement 2" in outcome["msg"] and "57014" in outcome["msg"]
    assert tables(db) == ["accounts", "first_half", "pg_migrate_history"]  # never the statement after the stop
    assert history(db) == [
        ("001", "V001__accounts.sql", "migration", True),
        ("002", "V002__slow.sql", "migration", False),
    ]
    assert advisory_locks(db) == 0


def test_a_run_whose_cancel_gets_lost_is_terminated_after_the_grace(
    db: Database, runner_for, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    changeset = write_changeset(tmp_path, {"V001__slow.sql": "CREATE TABLE accounts (id int);\nSELECT pg_sleep(30);\n"})
    runner = runner_for(changeset)
    thread, outcome = _migrate_in_thread(runner)
    _when_sleeping(db)
    # A cancel request that never reaches the server (a pooler or a firewall in between drops it).
    monkeypatch.setattr(type(runner.session.conn), "cancel_safe", lambda _conn, timeout=None: None)
    monkeypatch.setattr(RunStopper, "STOP_GRACE", 1.0)
    seconds = _press_until_done(RunStopper(runner, STOPPED), thread)
    assert 1.0 <= seconds < 5, seconds
    assert "terminating connection due to administrator command" in outcome["error"], outcome
    assert db.scalar("SELECT to_regclass('accounts')") is None  # the terminated session's transaction rolled back
    assert history(db) == []
    assert advisory_locks(db) == 0


def test_a_run_told_to_stop_while_it_waits_for_the_lock_stops_waiting(db: Database, runner_for, tmp_path):
    changeset = write_changeset(tmp_path, {"V001__accounts.sql": "CREATE TABLE accounts (id int);\n"})
    runner_for(changeset).lock.acquire()  # another run holds the migration lock
    waiting = runner_for(changeset, advisory_lock_wait=60)
    thread, outcome = _migrate_in_thread(waiting)
    time.sleep(0.5)
    seconds = _press_until_done(RunStopper(waiting, STOPPED), thread)
    assert seconds < 5, seconds  # not the 60 s of advisory_lock_wait
    assert outcome["msg"] == STOPPED
    assert history(db) == [] and db.scalar("SELECT to_regclass('accounts')") is None


def test_a_background_job_whose_kill_does_not_reach_it_stops_itself(
    db: Database, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """The host path's job is killed by async_wrapper at pg_migrate_run_timeout, but a module process that started
    before the wrapper moved its child into the killed process group escapes the kill. Here nothing kills the
    job: the module's own run_timeout stops it (BACKSTOP_S after the timeout, shortened for the test), and what
    the report will say - stopped, rolled back - is true."""
    monkeypatch.setattr(time_limit, "BACKSTOP_S", 0.5)
    changeset = write_changeset(tmp_path, {"V001__slow.sql": "CREATE TABLE accounts (id int);\nSELECT pg_sleep(30);\n"})
    server = db.server
    params = dict(
        module_defaults(),
        action="migrate",
        changeset=changeset,
        scripts_dir=str(tmp_path),
        login_db=db.name,
        login_host=server.host,
        login_port=server.port,
        login_user=server.user,
        login_password=server.password,
        ssl_mode="disable",
        run_timeout=1.0,
    )
    job = SimpleNamespace(check_mode=False, _diff=False, warn=lambda _message: None)
    started = time.monotonic()
    result = MODULE.run_job(Runner(params), params, job)
    assert time.monotonic() - started < 10  # not the 30 s of the sleep
    assert result["msg"].startswith("the run ran longer than pg_migrate_run_timeout (1 s) and was stopped while")
    assert "V001__slow.sql" in result["msg"] and "its open transaction rolled back" in result["msg"]
    assert db.scalar("SELECT to_regclass('accounts')") is None and history(db) == []
    assert advisory_locks(db) == 0
