# pg_migrate: one run against one database, start to end — connect, preflight, the action, and the
# verification after a migrate. The same code runs in the controller process (the pg_migrate_run action
# plugin, for databases the controller reaches) and in the pg_migrate module on the managed host.
#
# No AnsibleModule here: options come as a plain dict (the module's, after argument validation); the run's
# result is a run/outcome.RunResult until execute() returns it as the module's dict (result_dict), a failure
# in its msg, never an exception out of execute().

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from ansible_collections.community.postgresql.plugins.module_utils.postgres import (
    connect_to_db,
    get_conn_params,
    postgres_common_argument_spec,
)

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.durations import utc_instant
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import (
    RunFailed,
    unexpected_failure_message,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.rollback import plan_rollback
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.apply import (
    migrate_plan,
    run_migrate,
    run_plan,
    run_seed,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.backfill import run_backfill
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.health import DEFAULT_TIMEOUT, health_gate
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.options import (
    action_options,
    backfill_options,
    host_options,
    server_options,
    session_options,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.outcome import (
    ActionFailed,
    ActionOutcome,
    Rehearsal,
    RunResult,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.pooling import ConnectOnly
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.preflight import (
    connection_failure_message,
    preflight_failure_message,
    server_problems,
    standby_skip_message,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.queries import CATALOG_SQL, PREFLIGHT_SQL
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.rollback import run_rollback
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.server_slot import take_slot
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.session import Runner
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.standby_lag import StandbysBehind, standby_gate
from ansible_collections.pg_migrate.engine.plugins.module_utils.verify.database_checks import run_verify


def argument_spec() -> dict:
    """The options of one run (the pg_migrate module's, and pg_migrate_run's database part)."""
    spec = postgres_common_argument_spec()
    for options in (session_options, action_options, backfill_options, server_options, host_options):
        spec.update(options())
    return spec


def connection_settings(params: dict, warn: Callable[[str], None]) -> dict:
    """libpq keyword arguments of PARAMS, through community.postgresql's own mapping."""
    shim = ConnectOnly(params)
    shim.warn = warn
    conn_params = get_conn_params(shim, params, warn_db_default=False)
    conn_params.setdefault("application_name", "pg_migrate")
    return conn_params


def open_connection(params: dict, conn_params: dict, autocommit: bool):
    """A new session, or RunFailed with the reason and what to do about it."""
    conn, error = connect_to_db(ConnectOnly(params), dict(conn_params), autocommit=autocommit, fail_on_conn=False)
    if conn is None:
        raise RunFailed(connection_failure_message(params["inventory_host"] or "this host", params, error or ""))
    return conn


def result_dict(result: RunResult) -> dict:
    """The module's JSON-able result of RESULT: the keys docs/reports.md lists, in the order they always came."""
    outcome = result.outcome
    plan = outcome.plan.to_dict() if outcome.plan is not None else {}
    out: dict = dict(
        changed=outcome.changed,
        applied=[asdict(item) for item in outcome.applied],
        reverted=[asdict(item) for item in outcome.reverted],
        repeatables_applied=[asdict(item) for item in outcome.repeatables_applied],
        plan=plan,
        database=result.database,
        action=result.action,
    )
    optional = (
        ("server", result.server),
        ("skipped", True if result.skip_reason is not None else None),
        ("skip_reason", result.skip_reason),
        ("deferred", True if result.deferred else None),
        ("server_slot", result.server_slot),
        ("slot_waited_s", result.slot_waited_s),
        ("diff", outcome.diff),
        ("rehearsal", rehearsal_dict(outcome.rehearsal) if outcome.rehearsal else None),
        ("repaired", list(outcome.repaired) if outcome.repaired is not None else None),
        ("failure", outcome.failure),
        ("backfill", asdict(outcome.backfill) if outcome.backfill else None),
        ("verification", result.verification),
        ("msg", result.msg),
        ("health", result.health),
        ("lock_waited_s", result.lock_waited_s),
        ("standby_lag", result.standby_lag),
        ("duration_ms", result.duration_ms),
        ("connect_failed", True if result.connect_failed else None),
    )
    out.update((key, value) for key, value in optional if value is not None)
    return out


def rehearsal_dict(rehearsal: Rehearsal) -> dict:
    return {
        "rehearsed": list(rehearsal.rehearsed),
        "not_rehearsed": list(rehearsal.not_rehearsed),
        "rolled_back": rehearsal.rolled_back,
    }


def new_result(params: dict) -> dict:
    """The result of a run that did nothing yet."""
    return result_dict(RunResult(params["login_db"], params["action"]))


@dataclass(frozen=True)
class ServerFacts:
    """What the preflight read: the server's facts; SKIP_REASON when this host is a standby to skip; REFUSAL
    when the change set cannot run on this server."""

    server: dict
    skip_reason: str | None = None
    refusal: str | None = None


def preflight(runner: Runner) -> ServerFacts:
    """Read the server's facts and judge them."""
    params = runner.params
    # In autocommit: a statement-pooling PgBouncer refuses transactions, and the pooling check that comes
    # with the lock must get to say so.
    runner.session.set_autocommit(True)
    server = runner.session.rows(
        PREFLIGHT_SQL,
        {
            "extensions": ",".join(params["required_extensions"]),
            "history_schema": params["history_schema"],
            "history_table": params["history_table"],
        },
    )[0]
    runner.session.set_autocommit(False)
    if server["in_recovery"] and params["on_standby"] == "skip" and params["action"] != "plan":
        return ServerFacts(server, skip_reason=standby_skip_message(params["inventory_host"]))
    action = "status" if params["action"] == "plan" else params["action"]
    problems = server_problems(server, action, params["min_server_version"])
    if problems:
        refusal = preflight_failure_message(params["inventory_host"], params["login_db"], server, problems)
        return ServerFacts(server, refusal=refusal)
    return ServerFacts(server)


def would_change(runner: Runner) -> bool:
    """Whether the migrate or rollback of runner.params has work to do (read without the lock: a hint for
    where the run goes, not the decision — the run itself decides again under the lock)."""
    params = runner.params
    history = runner.history.read()
    runner.session.rollback()
    if params["action"] == "rollback":
        return bool(plan_rollback(runner.changeset, history, params["target_version"]).revert)
    return migrate_plan(runner, history).changes_something


def verification(runner: Runner) -> dict:
    """What verification found on the database: version, expectations in force, verify script and probe
    results, and the live catalog when there are expectations to compare it with (else every object would
    count as an extra); or {"error": ...} when it could not run."""
    try:
        found = run_verify(runner)
        expected = runner.params["expected"] or {}
        if expected:
            found["catalog"] = runner.session.value(CATALOG_SQL, {"schema": expected.get("schema", "public")})
            runner.session.rollback()
    except RunFailed as failure:
        return {"error": str(failure)}
    except Exception as exc:  # the session broke: still a readable reason
        return {"error": unexpected_failure_message("verify", runner.params["login_db"], exc)}
    return found


ACTIONS: dict[str, Callable[[Runner, bool, bool], ActionOutcome]] = {
    "plan": run_plan,
    "migrate": run_migrate,
    "rollback": run_rollback,
    "seed": run_seed,
    "backfill": run_backfill,
}


@dataclass(frozen=True)
class SlotTaken:
    """A per-server slot held by CONN until it is closed: its number, and the seconds waited for it (when 1 or
    more)."""

    conn: Any
    slot: Any
    waited_s: float | None


def slot_connection(runner: Runner) -> SlotTaken:
    """Take one of the server's per-server slots (pg_migrate_fleet_per_server) on a second session in the slot
    database, waiting while all are taken."""
    params = runner.params
    slot_params = dict(params, login_db=params["slot_db"])
    try:
        conn = open_connection(slot_params, connection_settings(slot_params, runner.warn), autocommit=True)
    except RunFailed as failure:
        raise RunFailed(
            "the per-server limit (pg_migrate_fleet_per_server=%d) takes its slots in the database %s of the "
            "server, which this run could not reach: %s. Grant the login role CONNECT on it, or name another "
            "database every run of this server reaches in pg_migrate_fleet_slot_db; nothing was changed."
            % (params["per_server"], params["slot_db"], failure)
        ) from None
    server = params["fleet_server"] or params["login_db"]

    def waiting(holders: list[int]) -> None:
        runner.notes.write_note(
            {
                "state": "waiting",
                "lock": "server slot",
                "server": server,
                "limit": params["per_server"],
                "holders": holders,
            }
        )

    started = time.monotonic()
    try:
        slot = take_slot(conn, params["per_server"], waiting, runner.session.check_stop, server=server)
    except BaseException:
        conn.close()
        raise
    waited = time.monotonic() - started
    return SlotTaken(conn, slot, round(waited, 1) if waited >= 1 else None)


def standbys_checked(runner: Runner, result: RunResult, check: bool, would: Callable[[], bool]) -> RunResult:
    """RESULT with what the standby gate saw (run/standby_lag.py), once the server's standbys are within the limits;
    a run that changes nothing (check mode, a read, nothing to do: WOULD() is false) does not wait for them."""
    action = runner.params["action"]
    if check or action not in ("migrate", "rollback", "seed", "backfill"):
        return result

    def changes() -> bool:  # asked only of a primary with standbys: it reads the history
        return action in ("seed", "backfill") or would()

    try:
        return replace(result, standby_lag=standby_gate(runner, changes))
    except StandbysBehind as behind:
        return replace(result, standby_lag=behind.seen, msg=str(behind))


def failure_text(runner: Runner, exc: BaseException) -> str:
    """The run's failure as its message: the operator's (RunFailed), or a readable one for what broke (a lost
    connection, a server restart), never a traceback."""
    if isinstance(exc, RunFailed):
        return str(exc)
    params = runner.params
    return unexpected_failure_message(params["action"], params["login_db"], exc, runner.session.current_script)


def run_action(runner: Runner, result: RunResult, check: bool, diff: bool) -> tuple[RunResult, SlotTaken | None]:
    """The action of runner.params on its session, after the preflight, the deferral and the per-server slot:
    the result (a failure in msg) and the slot it holds."""
    params = runner.params
    slot = None
    try:
        if params["preflight"]:
            facts = preflight(runner)
            result = replace(result, server=facts.server, skip_reason=facts.skip_reason)
            if facts.refusal:
                raise RunFailed(facts.refusal)
            if facts.skip_reason:
                return result, None
        # Whether it has work to do, read at most once: the deferral, the standby gate and the slot all ask.
        would = functools.cache(lambda: would_change(runner))
        deferrable = params["defer_changes"] and not check and params["action"] in ("migrate", "rollback")
        if deferrable and would():
            return replace(result, deferred=True), None
        result = standbys_checked(runner, result, check, would)
        if result.msg:
            return result, None
        slotted = params["per_server"] > 0 and not check and params["action"] in ("migrate", "rollback")
        # A run with nothing to do changes nothing: it needs no slot (nor the slot's connection).
        if slotted and would():
            slot = slot_connection(runner)
            result = replace(result, server_slot=slot.slot, slot_waited_s=slot.waited_s)
        if params["action"] == "verify":
            return replace(result, verification=verification(runner)), slot
        return replace(result, outcome=ACTIONS[params["action"]](runner, check, diff)), slot
    except ActionFailed as stop:
        return replace(result, outcome=stop.outcome, msg=failure_text(runner, stop.cause)), slot
    except Exception as exc:
        return replace(result, msg=failure_text(runner, exc)), slot


def run_database(runner: Runner, check: bool, diff: bool) -> RunResult:
    """The action of runner.params on its session, then, after a migrate, the verification and the health gate."""
    params = runner.params
    result, slot = run_action(runner, RunResult(params["login_db"], params["action"]), check, diff)
    went_on = result.msg is None and not result.deferred and result.skip_reason is None
    try:
        if went_on and params["verify_schema"] and params["action"] == "migrate":
            result = replace(result, verification=verification(runner))
        if went_on and params.get("health_query") and params["action"] == "migrate" and not check:
            gate = health_gate(
                runner.session,
                params["health_query"],
                params["health_max"],
                params.get("health_timeout") or DEFAULT_TIMEOUT,
            )
            result = replace(result, health=gate)
    finally:
        if slot is not None:
            with contextlib.suppress(Exception):
                slot.conn.close()
    return result


def execute(runner: Runner, conn_params: dict, check: bool, diff: bool) -> dict:
    """Connect RUNNER with CONN_PARAMS, run its action, close: the run's result (a failure in result["msg"]),
    as the module returns it - the one place a RunResult becomes a dict."""
    params = runner.params
    started, began = time.monotonic(), time.time()
    try:
        # In autocommit, so the driver's own session settings (datestyle) are no open transaction: a
        # statement-pooling PgBouncer refuses transactions, and the pooling check must get to say so.
        conn = open_connection(params, conn_params, autocommit=True)
    except RunFailed as failure:
        failed = result_dict(RunResult(params["login_db"], params["action"], msg=str(failure), connect_failed=True))
        return dict(failed, started_at=utc_instant(began), finished_at=utc_instant(time.time()))
    conn.autocommit = False
    session = runner.session
    session.conn = conn
    session.reconnect = lambda: connect_to_db(
        ConnectOnly(params), dict(conn_params), autocommit=False, fail_on_conn=False
    )[0]
    session.connect_for_check = lambda: connect_to_db(ConnectOnly(params), dict(conn_params), autocommit=True)[0]
    try:
        result = run_database(runner, check, diff)
    finally:
        runner.release_quietly()
        with contextlib.suppress(Exception):
            session.conn.close()
    waited = runner.lock.waited_s
    # The run's own time (on the host path the job's: the task that reports it only reads its result).
    duration_ms = round(1000 * (time.monotonic() - started), 1)
    out = result_dict(replace(result, lock_waited_s=waited if waited >= 1 else None, duration_ms=duration_ms))
    # When it ran, by the clock where it ran (the fleet page's timeline; the host path: the managed host's).
    return dict(out, started_at=utc_instant(began), finished_at=utc_instant(time.time()))
