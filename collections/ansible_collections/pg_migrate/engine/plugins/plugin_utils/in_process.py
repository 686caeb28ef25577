# pg_migrate: a run in the controller's own process (the controller execution path) - the engine started in this
# process with psycopg, a progress line for a step that runs long, stopped at pg_migrate_run_timeout as the host
# path's job is. Used by the pg_migrate_run action (one database) and by the fleet preflight, which reads the
# status of every database the controller reaches in one task instead of a forked task per database.

from __future__ import annotations

import time
from collections.abc import Callable

from ansible_collections.pg_migrate.engine.plugins.module_utils.engine import (
    connection_settings,
    execute,
    new_result,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.job_progress import note_line
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.session import Runner
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.time_limit import run_limit, run_within
from ansible_collections.pg_migrate.engine.plugins.module_utils.settings.declared import RunSettings
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.conclusion import conclude
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.preparation import (
    Prepared,
    engine_params,
    lint_pending,
    prepare,
    script_roots,
)

CONTROLLER_TRANSPORTS = ("local", "ansible.builtin.local")


def execution_path(setting: str | None, transport: str) -> str:
    """Where a run goes: pg_migrate_execution, or for auto the controller when the host's connection
    (TRANSPORT) is local, the managed host otherwise."""
    chosen = setting or "auto"
    if chosen not in ("auto", "controller", "host"):
        raise ValueError("pg_migrate_execution (%r) must be auto, controller or host" % chosen)
    if chosen == "auto":
        return "controller" if transport in CONTROLLER_TRANSPORTS else "host"
    return chosen


def run_in_process(
    params: dict, settings: RunSettings, check: bool, diff: bool, host: str, show: Callable[[str], None]
) -> dict:
    """The engine's run of PARAMS in this process; SHOW(line) prints a progress line."""
    warnings: list[str] = []
    runner = Runner(params, warn=warnings.append)
    conn_params = connection_settings(params, warnings.append)
    every = float(settings.progress_every or 15)
    shown: list = [None, 0.0]  # what the last line showed, and when

    def show_progress(waited: float) -> None:
        note = runner.notes.latest()
        if note and waited >= min(every, 5.0) and note.get("state") in ("running", "waiting"):
            what, now = (note.get("state"), note.get("script")), time.monotonic()
            if what != shown[0] or now - shown[1] >= every:
                show(note_line(host, params["login_db"], note, time.time()))
                shown[:] = [what, now]

    outcome = run_within(
        runner,
        lambda: execute(runner, conn_params, check, diff),
        run_limit(params["action"], float(settings.run_timeout or 0), check),
        new_result(params),
        runner.notes.latest,
        tick=show_progress,
    )
    outcome["warnings"] = warnings
    return outcome


# The engine's name of an action where it differs from the role's.
ENGINE_ACTION = {"status": "plan"}


def concluded_run(
    settings: RunSettings,
    connection: dict,
    host: str,
    check: bool,
    diff: bool,
    show: Callable[[str], None],
    prepared: Prepared | None = None,
) -> dict:
    """SETTINGS.action on one database in this process, concluded (its reports written), as the role's run task
    returns it on the controller path; PREPARED: the run prepared already (else prepared here)."""
    if prepared is None:
        prepared = prepare(settings, connection, host, check, "controller")
    action = settings.action
    engine_action = ENGINE_ACTION.get(action, action)
    params = engine_params(settings, connection, prepared.changeset, host, engine_action, documents=prepared)
    params["script_roots"] = script_roots(settings)
    run = run_in_process(params, settings, check, diff, host, show)
    squawk = lint_pending(run, settings, check) if action == "migrate" else None
    concluded = conclude(run, settings, host, check, squawk)
    concluded["warnings"] = prepared.warnings + run.get("warnings", [])
    return concluded


def read_status(settings: RunSettings, connection: dict, host: str, check: bool, show: Callable[[str], None]) -> dict:
    """A read-only status run of one database in this process, concluded (its status report written), as the
    role's run task returns it for pg_migrate_action=status on the controller path."""
    concluded = concluded_run(settings, connection, host, check, False, show)
    concluded["changed"] = False
    return concluded
