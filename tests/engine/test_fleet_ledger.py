"""module_utils/fleet/ledger.py against a real server: one rollout's state shared by every controller - the first
one's plan stands, a database runs once, a dead controller's running database reads as lost (not waited for),
the first halt stands, and a wave waits for the earlier waves wherever they run."""

from __future__ import annotations

import threading
import time

from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet import ledger
from tests.engine.conftest import connect
from tests.pgdb import Database

PLAN = {
    "members": ["db01", "db02", "db03", "db04"],
    "waves": [["db01"], ["db02", "db03"], ["db04"]],
    "allowed": 0,
    "canary_stops": True,
}
ENTRY = {"state": "applied", "version_before": "001", "version_after": "005"}


def _ledger(db: Database):
    conn = connect(db, autocommit=True)
    ledger.ensure_schema(conn)
    return conn


def test_the_id_is_the_same_for_every_controller_of_one_rollout_and_differs_otherwise():
    same = ledger.rollout_id("abc", dict(PLAN, serial=[1, 2]), "job-7")
    assert same == ledger.rollout_id("abc", PLAN, "job-7")  # what a controller's own batches are does not count
    assert same != ledger.rollout_id("abd", PLAN, "job-7")
    assert same != ledger.rollout_id("abc", dict(PLAN, allowed=1), "job-7")
    assert same != ledger.rollout_id("abc", PLAN, "job-8")


def test_controllers_that_start_together_share_one_schema_and_the_first_plan(db: Database):
    errors: list[Exception] = []

    def create() -> None:
        conn = connect(db, autocommit=True)
        try:
            ledger.ensure_schema(conn)
        except Exception as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    conn = _ledger(db)
    first = ledger.open_rollout(conn, "r1", PLAN, "slice-1")
    second = ledger.open_rollout(conn, "r1", dict(PLAN, waves=[["db01", "db02", "db03", "db04"]]), "slice-2")
    assert first["plan"] == second["plan"] == PLAN and second["started_by"] == "slice-1"


def test_a_database_runs_once_and_a_dead_controllers_run_reads_as_lost(db: Database):
    conn = _ledger(db)
    ledger.open_rollout(conn, "r1", PLAN, "slice-1")
    dying = connect(db, autocommit=True)
    assert ledger.start_database(dying, "r1", "db01", 1, "slice-1")
    other = connect(db, autocommit=True)
    assert not ledger.start_database(other, "r1", "db01", 1, "slice-2")  # a live run holds it
    assert ledger.outcomes(conn, "r1")["db01"]["state"] == "running"
    dying.close()  # its controller died; the server lets its session's locks go a moment later
    deadline = time.monotonic() + 10
    while ledger.outcomes(conn, "r1")["db01"]["state"] != "lost" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ledger.outcomes(conn, "r1")["db01"]["state"] == "lost"
    assert ledger.unfinished_before(PLAN, ledger.outcomes(conn, "r1"), 2) == []  # lost is not waited for
    assert ledger.start_database(other, "r1", "db01", 1, "slice-2")  # a resume may run it again
    ledger.finish_database(other, "r1", "db01", ENTRY)
    row = ledger.outcomes(conn, "r1")["db01"]
    assert (row["state"], row["entry"], row["controller"]) == ("applied", ENTRY, "slice-2")
    assert row["finished_at"] is not None
    assert not ledger.start_database(other, "r1", "db01", 1, "slice-3")  # finished: never again in this rollout


def test_the_first_halt_stands(db: Database):
    conn = _ledger(db)
    ledger.open_rollout(conn, "r1", PLAN, "slice-1")
    assert ledger.halted(conn, "r1") == ""
    assert ledger.halt(conn, "r1", "the canary failed (db01)", "slice-1") == "the canary failed (db01)"
    assert ledger.halt(conn, "r1", "the failure budget is exhausted", "slice-2") == "the canary failed (db01)"


def test_a_wave_waits_for_the_earlier_waves_wherever_they_run(db: Database):
    conn = _ledger(db)
    ledger.open_rollout(conn, "r1", PLAN, "slice-1")
    runner = connect(db, autocommit=True)
    ledger.start_database(runner, "r1", "db01", 1, "slice-1")
    told: list[list[str]] = []
    clock = {"now": 0.0}

    def sleep(seconds: float) -> None:
        clock["now"] += seconds
        if clock["now"] > 1:  # another controller finishes the canary meanwhile
            ledger.finish_database(runner, "r1", "db01", ENTRY)

    waiting, reason = ledger.wait_for_waves_before(
        conn, "r1", PLAN, 2, 60, told.append, sleep=sleep, clock=lambda: clock["now"]
    )
    assert (waiting, reason, told) == ([], "", [["db01"]])
    # Wave 3 waits for db02 and db03, which nobody started: the wait runs out and names them.
    waiting, reason = ledger.wait_for_waves_before(
        conn,
        "r1",
        PLAN,
        3,
        5,
        told.append,
        sleep=lambda s: clock.__setitem__("now", clock["now"] + s),
        clock=lambda: clock["now"],
    )
    assert (waiting, reason) == (["db02", "db03"], "")
    ledger.halt(conn, "r1", "the canary failed (db01)", "slice-2")
    assert ledger.wait_for_waves_before(conn, "r1", PLAN, 3, 5, told.append) == ([], "the canary failed (db01)")
