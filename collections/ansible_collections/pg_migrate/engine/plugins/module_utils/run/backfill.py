# pg_migrate: a backfill, batch after batch, each in its own short transaction, along a keyset cursor.
#
# The protocol (docs/backfill.md): the batch script runs with pg_migrate.batch_size and pg_migrate.after
# (the cursor, text; empty at the start of a pass) set for its transaction, and returns one row: done (rows
# it changed), last_key (the cursor to continue after; NULL when it changed nothing) and optionally blocked
# (rows it cannot process yet). Its companion <name>.count.sql returns remaining (rows still to do) and
# optionally blocked and high_water (the newest key now; a pass ends once past it).

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import replace

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Script
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import (
    RunFailed,
    StatementFailed,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.backfill import next_backfill_step
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.apply import plan_at_latest
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.outcome import (
    ActionFailed,
    ActionOutcome,
    BackfillReport,
    stopped_by,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.session import Runner

BATCH_SETTINGS = "SELECT set_config('pg_migrate.batch_size', %s, true), set_config('pg_migrate.after', %s, true)"


def cursor_setting(cursor: object) -> str:
    """The cursor as pg_migrate.after: empty at the start of a pass (the planner's cursor 0)."""
    return "" if cursor in (None, "", 0) else str(cursor)


def count_backfill(runner: Runner, count_entry: Script) -> tuple[int, int, object]:
    """(remaining, processable, high_water) from the count script; high_water: the newest key when counted."""
    rows = runner.scripts.run(count_entry)
    runner.session.commit()
    if not rows or "remaining" not in rows[0]:
        raise RunFailed(
            "%s must return one row with the column remaining (and optionally blocked and high_water); it returned %s"
            % (count_entry.script, ", ".join(rows[0]) if rows else "no row")
        )
    row = rows[0]
    remaining = int(row["remaining"] or 0)
    return remaining, remaining - int(row.get("blocked") or 0), row.get("high_water")


def backfill_batch(runner: Runner, batch_entry: Script, batch_size: int, cursor: object) -> tuple[int, object, int]:
    """One batch in its own transaction, retried after a lock timeout: (done, last_key, blocked)."""

    def work() -> dict:
        runner.session.rows(BATCH_SETTINGS, (str(batch_size), cursor_setting(cursor)))
        rows = runner.scripts.run(batch_entry)
        return rows[0] if rows else {}

    row, _attempts = runner.session.in_transaction(batch_entry.script, work)
    if not all(column in row for column in ("done", "last_key")):
        raise RunFailed(
            "%s must return one row with the columns done and last_key (and optionally blocked); it returned %s"
            % (batch_entry.script, ", ".join(row) or "no row")
        )
    return int(row["done"] or 0), row["last_key"], int(row.get("blocked") or 0)


def new_report(params: dict, check: bool) -> dict:
    return {
        "batch_size": params["batch_size"],
        "batches": 0,
        "linked": 0,
        "cursor": params["cursor"],
        "phase": params["phase"],
        "high_water": params["high_water"],
        "done": False,
        "dry_run": check,
        "remaining": None,
        "linkable": None,
        "remaining_at_start": None,
        "duration_s": 0.0,
    }


def checked_scripts(params: dict) -> dict[str, Script]:
    """The backfill's batch and count scripts, read from the module option backfill (their JSON form)."""
    scripts = params["backfill"] or {}
    if not scripts.get("batch") or not scripts.get("count"):
        raise RunFailed(
            "no backfill script was given: set pg_migrate_backfill_script to the batch script "
            "(its companion <name>.count.sql must exist beside it)"
        )
    if params["batch_size"] < 1:
        raise RunFailed(
            "pg_migrate_backfill_batch_size must be a positive number of rows, not %d" % params["batch_size"]
        )
    return {role: Script.from_dict(scripts[role]) for role in ("batch", "count")}


def run_backfill(runner: Runner, check: bool, diff: bool = False) -> ActionOutcome:
    """Batches until done or out of time (max_seconds). Resumable by design: the work queue is the rows still
    to do. In check mode only counted (a dry run)."""
    params = runner.params
    scripts = checked_scripts(params)
    plan = plan_at_latest(runner, "backfill")
    so_far = ActionOutcome(plan=plan)
    report: dict = {}  # the report so far: a failure still reports the batches done before it

    def outcome(changed: bool) -> ActionOutcome:
        return replace(so_far, changed=changed, backfill=BackfillReport(**report) if report else None)

    changed = False
    try:
        for entry in (scripts["batch"], scripts["count"]):
            runner.scripts.text(entry)
        report.update(new_report(params, check))
        started = time.monotonic()
        if params["measure"] or check:
            report["remaining_at_start"], report["linkable"], report["high_water"] = count_backfill(
                runner, scripts["count"]
            )
            report["remaining"] = report["remaining_at_start"]
        if check:
            # A dry run: how much work there is, in how many batches; no row is touched.
            report["batches"] = math.ceil(report["linkable"] / params["batch_size"])
            report["done"] = report["linkable"] == 0
            return outcome(report["linkable"] > 0)
        runner.lock.acquire()  # the backfill lock (session.Runner): backfills exclude each other, not migrations
        for done_now in batches(runner, scripts["batch"], report, started):
            changed = changed or done_now > 0
        if report["done"]:
            report["remaining"], report["linkable"], _high_water = count_backfill(runner, scripts["count"])
        report["duration_s"] = round(time.monotonic() - started, 3)
    except StatementFailed as failure:
        raise stopped_by(failure, "backfill", plan.from_version, outcome(changed)) from None
    except Exception as exc:
        raise ActionFailed(exc, outcome(changed)) from exc
    return outcome(changed)


def batches(runner: Runner, batch_entry: Script, report: dict, started: float) -> Iterator[int]:
    """Run batch after batch along the cursor until done or max_seconds after STARTED, noting each in REPORT
    (run_backfill's, which reports it when a later batch fails); the rows each batch changed."""
    params = runner.params
    cursor, phase, high_water = params["cursor"], params["phase"], report["high_water"]
    while True:
        first = phase == "forward" and cursor_setting(cursor) == ""
        done_now, last, blocked = backfill_batch(runner, batch_entry, params["batch_size"], cursor)
        if first and done_now == 0 and blocked > 0:
            raise RunFailed(
                "the backfill cannot process any row yet: its first batch changed none and reports %d blocked "
                "(they wait for something the batch script needs, such as reference data); nothing was changed."
                % blocked
            )
        report["batches"] += 1
        report["linked"] += done_now
        phase, cursor, finished = next_backfill_step(phase, cursor, done_now, last, high_water)
        report.update(cursor=cursor, phase=phase)
        yield done_now
        if finished:
            report["done"] = True
            return
        if params["max_seconds"] and time.monotonic() - started >= params["max_seconds"]:
            return
        if params["batch_pause"]:
            time.sleep(params["batch_pause"])
