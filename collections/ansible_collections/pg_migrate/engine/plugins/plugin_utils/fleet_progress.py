# pg_migrate: a database's run finished inside a fleet rollout - its line of the in-progress fleet.json and the
# resume list are brought up to date at once (by the pg_migrate_run action, in the worker that ran it), so that
# after an interrupted rollout (Ctrl-C, a killed controller) the reports directory says what really happened.

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ansible.utils.display import Display

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.durations import utc_instant
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.report import database_entry
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_files import record_finished
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_ledger import LedgerTurn

display = Display()


def record_fleet_progress(task_vars: dict, host: str, run: dict, turn: LedgerTurn | None = None) -> None:
    """RUN (this host's migrate result) into the in-progress report of the rollout this task belongs to, and into
    the fleet ledger when the rollout has one (TURN: this database's turn there); nothing outside a fleet rollout
    (no preflight result with a reports directory: migrate.yml, check mode)."""
    if turn is not None:
        turn.finish(turn.entry_of(task_vars, run))
    preflight = task_vars.get("__pg_migrate_fleet_preflight") or {}
    directory, run_id = preflight.get("reports_dir"), preflight.get("run_id")
    if not directory or not run_id or host not in (preflight.get("hosts") or []):
        return

    def finished(entry: dict) -> dict:
        variables = {
            "__pg_migrate_run": run,
            "pg_migrate_fleet_server": entry.get("server"),
            "pg_migrate_db": entry.get("database"),
        }
        return database_entry(host, variables, entry.get("wave", 0), {"version": entry.get("version_before")})

    try:
        record_finished(str(directory), str(run_id), host, finished)
    except OSError as exc:  # the final report is written again at the end; say why this one was not
        display.warning("%s: the in-progress fleet report in %s was not updated: %s" % (host, directory, exc))


def timed(work: Callable[[], dict], stamp: bool = True) -> dict:
    """WORK()'s outcome with how long it took (duration_ms); STAMP: also when it ran (started_at, finished_at),
    unless the engine timed the run itself or it went on as a background job (deferred)."""
    started, began = time.monotonic(), time.time()
    outcome = dict(work())
    outcome["duration_ms"] = round(1000 * (time.monotonic() - started), 1)
    if stamp and not outcome.get("deferred"):
        outcome.setdefault("started_at", utc_instant(began))
        outcome.setdefault("finished_at", utc_instant(time.time()))
    return outcome


def fleet_turn(task_vars: dict, host: str, value: Callable[[str, Any], Any], work: Callable[[], dict]) -> dict:
    """HOST's migrate (WORK(): its run's outcome, timed here) in its turn of a fleet ledger's rollout when there is
    one (VALUE(name, default): HOST's rendered variables, for the ledger's settings); once it finished, the
    in-progress fleet report and the ledger say so. Outside a fleet rollout just the timed run."""
    started = time.monotonic()
    turn = LedgerTurn.take(task_vars, host, value)
    try:
        refused = turn is not None and turn.refusal is not None
        outcome = timed((lambda: turn.refusal) if refused else work)
    except BaseException:
        if turn is not None:
            turn.close()  # no outcome: the ledger reads it as lost, never as done
        raise
    outcome["duration_ms"] = round(1000 * (time.monotonic() - started), 1)
    if not outcome.get("deferred") and "ledger_skipped" not in outcome:
        record_fleet_progress(task_vars, host, dict(outcome, action="migrate"), turn)
    elif turn is not None:
        turn.close()
    return outcome
