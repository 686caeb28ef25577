# pg_migrate: a database's run finished inside a fleet rollout - its line of the in-progress fleet.json and the
# resume list are brought up to date at once (by the pg_migrate_run action, in the worker that ran it), so that
# after an interrupted rollout (Ctrl-C, a killed controller) the reports directory says what really happened.

from __future__ import annotations

from ansible.utils.display import Display

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
