"""backfill.py against a real database: the generic protocol (docs/backfill.md) on a tiny table of readings
whose unit comes from reference data (units), which may be missing for some sensors."""

from __future__ import annotations

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.run import apply, backfill
from tests.engine.conftest import run, write_changeset
from tests.pgdb import Database

SCHEMA = {
    "V001__readings.sql": (
        "CREATE TABLE units (sensor text PRIMARY KEY, unit_id bigint NOT NULL);\n"
        "CREATE TABLE readings (id bigint PRIMARY KEY, sensor text NOT NULL, unit_id bigint,"
        " touched integer NOT NULL DEFAULT 0);\n"
    )
}
BATCH = """
WITH settings AS (
    SELECT coalesce(nullif(current_setting('pg_migrate.after', true), '')::bigint, 0) AS after_id,
           current_setting('pg_migrate.batch_size')::integer AS batch_size
),
batch AS (
    SELECT r.id, u.unit_id
      FROM readings AS r JOIN units AS u USING (sensor)
     WHERE r.unit_id IS NULL AND r.id > (SELECT after_id FROM settings)
     ORDER BY r.id
     LIMIT (SELECT batch_size FROM settings)
       FOR UPDATE OF r SKIP LOCKED
),
changed AS (
    UPDATE readings AS r SET unit_id = batch.unit_id, touched = r.touched + 1
      FROM batch WHERE r.id = batch.id
    RETURNING r.id
)
SELECT (SELECT count(*) FROM changed) AS done,
       (SELECT max(id) FROM changed) AS last_key,
       (SELECT count(*) FROM readings AS r
         WHERE r.unit_id IS NULL AND NOT EXISTS (SELECT 1 FROM units AS u WHERE u.sensor = r.sensor)) AS blocked;
"""
COUNT = """
SELECT count(*) AS remaining,
       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM units AS u WHERE u.sensor = r.sensor)) AS blocked,
       (SELECT max(id) FROM readings) AS high_water
  FROM readings AS r
 WHERE r.unit_id IS NULL;
"""


@pytest.fixture
def readings(db: Database, runner_for, tmp_path):
    """The schema applied; a function that sets up readings and runs the backfill."""
    changeset = write_changeset(tmp_path, SCHEMA, backfill=(BATCH, COUNT))
    run(runner_for(changeset), apply.run_migrate, check=False, diff=False)

    def backfill_run(check: bool = False, **params: object) -> dict:
        runner = runner_for(changeset, action="backfill", backfill=changeset["backfill"], **params)
        return run(runner, backfill.run_backfill, check=check)["backfill"]

    return backfill_run


def add_readings(db: Database, sensor: str, first: int, last: int) -> None:
    db.query(
        "INSERT INTO readings (id, sensor) SELECT g, %s FROM generate_series(%s::bigint, %s::bigint) AS g",
        (sensor, first, last),
    )


def touched(db: Database) -> list[tuple]:
    return db.query("SELECT touched, count(*) FROM readings GROUP BY 1 ORDER BY 1")


def test_batches_walk_the_cursor_then_one_sweep_and_change_every_row_once(db: Database, readings):
    db.query("INSERT INTO units VALUES ('a', 7)")
    add_readings(db, "a", 1, 25)
    report = readings(batch_size=10)
    # 10, 10, 5 (the third reaches the high water mark, 25: the forward pass ends), then an empty sweep.
    assert {key: report[key] for key in ("linked", "batches", "done", "remaining", "linkable", "high_water")} == {
        "linked": 25,
        "batches": 4,
        "done": True,
        "remaining": 0,
        "linkable": 0,
        "high_water": 25,
    }
    assert report["remaining_at_start"] == 25 and report["phase"] == "sweep"
    assert touched(db) == [(1, 25)]
    assert db.scalar("SELECT count(*) FROM readings WHERE unit_id = 7") == 25
    assert readings(batch_size=10)["linked"] == 0  # done: a second run finds nothing


def test_a_call_returns_its_cursor_and_the_next_one_continues_after_it(db: Database, readings):
    db.query("INSERT INTO units VALUES ('a', 7)")
    add_readings(db, "a", 1, 25)
    first = readings(batch_size=10, max_seconds=0.0001)  # returns after the batch that crosses the time
    assert (first["linked"], first["cursor"], first["phase"], first["done"]) == (10, 10, "forward", False)

    # Continued after 20, not 10: rows 11..20 stay for later (the sweep), 21..25 are done now.
    second = readings(batch_size=10, max_seconds=0.0001, cursor=20, high_water=first["high_water"], measure=False)
    assert (second["linked"], second["cursor"], second["phase"]) == (5, 0, "sweep")
    assert db.scalar("SELECT array_agg(id ORDER BY id) FROM readings WHERE unit_id IS NULL") == list(range(11, 21))

    rest = readings(batch_size=10, cursor=0, phase="sweep", high_water=first["high_water"], measure=False)
    assert rest["done"] and rest["linked"] == 10 and rest["remaining"] == 0
    assert touched(db) == [(1, 25)]


def test_blocked_rows_stay_and_are_reported_as_remaining(db: Database, readings):
    db.query("INSERT INTO units VALUES ('a', 7)")
    add_readings(db, "a", 1, 20)
    add_readings(db, "b", 21, 25)  # no unit for sensor b yet
    report = readings(batch_size=8)
    assert (report["linked"], report["done"], report["remaining"], report["linkable"]) == (20, True, 5, 0)
    assert report["remaining_at_start"] == 25
    assert db.scalar("SELECT count(*) FROM readings WHERE unit_id IS NULL AND sensor = 'b'") == 5


def test_a_backfill_with_only_blocked_rows_is_refused_and_changes_nothing(db: Database, readings):
    add_readings(db, "b", 1, 12)
    with pytest.raises(RunFailed, match=r"^the backfill cannot process any row yet: its first batch changed none "):
        readings(batch_size=5)
    assert touched(db) == [(0, 12)]

    dry = readings(check=True, batch_size=5)  # what the dry run says: 12 to do, none processable
    assert (dry["remaining"], dry["linkable"], dry["batches"], dry["dry_run"]) == (12, 0, 0, True)

    db.query("INSERT INTO units VALUES ('b', 9)")  # the reference data arrives
    assert readings(batch_size=5)["linked"] == 12


def test_a_dry_run_counts_and_changes_nothing(db: Database, readings):
    db.query("INSERT INTO units VALUES ('a', 7)")
    add_readings(db, "a", 1, 30)
    dry = readings(check=True, batch_size=7)
    assert (dry["remaining"], dry["linkable"], dry["batches"], dry["linked"]) == (30, 30, 5, 0)
    assert touched(db) == [(0, 30)]


def test_a_batch_script_that_breaks_the_protocol_is_named(db: Database, runner_for, tmp_path):
    changeset = write_changeset(tmp_path, SCHEMA, backfill=("SELECT 1 AS linked;\n", COUNT))
    run(runner_for(changeset), apply.run_migrate, check=False, diff=False)
    runner = runner_for(changeset, action="backfill", backfill=changeset["backfill"])
    with pytest.raises(RunFailed, match=r"^fill\.sql must return one row with the columns done and last_key"):
        run(runner, backfill.run_backfill, check=False)
