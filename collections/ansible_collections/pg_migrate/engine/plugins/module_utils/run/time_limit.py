# pg_migrate: pg_migrate_run_timeout enforced by the run itself. The engine runs in a thread; when it outlives
# its time it is told to stop at its next statement, the statement running now is cancelled on the server (its
# transaction rolls back), and a session that does not end on that is terminated from a second connection.
#
# The controller path has nothing else that would stop it. The host path's background job is killed by
# Ansible's async_wrapper at pg_migrate_run_timeout - but only the wrapper's own child is sure to be in the
# process group it kills: on a busy host the module process can start before the wrapper moves that child into
# its group (async_wrapper's setpgid runs after the fork, in the other process), and then survives the kill,
# runs its migration to the end and commits it while the watch reports the run stopped and rolled back. So the
# job stops itself too, a little after the wrapper's kill would have come (BACKSTOP_S): the normal case is
# unchanged, and the reported rollback is true either way.

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from ansible_collections.pg_migrate.engine.plugins.module_utils.run.job_progress import stopped_run_message
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.session import Runner

TIMED_ACTIONS = ("migrate", "rollback")
# Seconds after pg_migrate_run_timeout at which a host path job stops itself: async_wrapper checks every
# min(5, timeout / 2) seconds, so its kill comes within 5 s of the timeout.
BACKSTOP_S = 10.0
TICK_S = 0.2


def run_limit(action: str, run_timeout: float, check: bool) -> float:
    """Seconds a run may take (0: no limit): pg_migrate_run_timeout, for what the host path runs as a timed
    background job - a migrate or rollback, not in check mode."""
    if check or action not in TIMED_ACTIONS:
        return 0.0
    return float(run_timeout or 0)


def job_backstop(action: str, run_timeout: float, check: bool) -> float:
    """When a host path job stops itself (0: never): BACKSTOP_S after its pg_migrate_run_timeout."""
    limit = run_limit(action, run_timeout, check)
    return limit + BACKSTOP_S if limit else 0.0


class RunStopper:
    """Ends a run of the engine in this process that outlived its time: the run is told to stop at its next
    statement, the statement running now is cancelled on the server (its transaction then rolls back in the
    engine, which also records a marked script's failed attempt); a session that does not end on that within
    STOP_GRACE seconds is terminated from a second connection (which ends its transaction and its lock)."""

    STOP_GRACE = 10.0

    def __init__(self, runner: Runner, message: str) -> None:
        self.runner = runner
        self.message = message
        self.steps = [self._cancel, self._terminate]
        self.next_at = time.monotonic()

    def pressed(self) -> bool:
        """Take the next step once the previous one had its grace; False when none is left and it is over."""
        if time.monotonic() < self.next_at:
            return True
        if not self.steps:
            return False
        self.steps.pop(0)()
        self.next_at = time.monotonic() + self.STOP_GRACE
        return True

    def _cancel(self) -> None:
        self.runner.session.stop_reason = self.message
        conn = self.runner.session.conn
        if conn is None:
            return
        with contextlib.suppress(Exception):  # a connection that is closing has nothing to cancel
            if hasattr(conn, "cancel_safe"):  # psycopg 3.2 and later
                conn.cancel_safe(timeout=5)
            else:  # psycopg 2 and older 3: thread-safe
                conn.cancel()

    def _terminate(self) -> None:
        conn, second = self.runner.session.conn, None
        try:
            info = getattr(conn, "info", None)
            pid = getattr(info, "backend_pid", None) or conn.get_backend_pid()
            second = self.runner.session.connect_for_check()
            with second.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
        except Exception:  # best effort: the verdict says the session may still run
            pass
        finally:
            if second is not None:
                with contextlib.suppress(Exception):
                    second.close()

    def verdict(self, outcome: dict, empty: dict, still_running: bool) -> dict:
        """The run's result: failed with the timeout's message, unless it finished without failing (its last
        commit beat the stop); the run's own message follows as its detail."""
        if still_running:
            outcome = dict(empty, **outcome)
            outcome["msg"] = self.message + (
                " Its session did not end when cancelled and terminated: look for application_name = 'pg_migrate' "
                "in pg_stat_activity and end it with SELECT pg_terminate_backend(<pid>)."
            )
            return outcome
        detail = outcome.get("msg") or ""
        if not detail:
            error = (outcome.get("verification") or {}).get("error")
            if not error:
                return outcome
            detail = "verification could not run: %s" % error
        if self.message in detail:  # stopped between statements: the run's message is this one
            detail = ""
        outcome["msg"] = self.message + (" As it stopped, the run said: %s" % detail if detail else "")
        return outcome


def run_within(
    runner: Runner,
    work: Callable[[], dict],
    limit: float,
    empty: dict,
    latest_note: Callable[[], dict | None],
    tick: Callable[[float], None] | None = None,
    reported_limit: float | None = None,
) -> dict:
    """WORK() (the engine's run on RUNNER) in a thread, stopped once it outlives LIMIT seconds (0: never): its
    result, or the stopped run's (EMPTY: the result of a run that did nothing). LATEST_NOTE gives the run's
    latest progress note, for where it stopped; TICK(seconds so far) is called while it runs (the controller's
    progress lines). REPORTED_LIMIT: the limit the message names (pg_migrate_run_timeout), when LIMIT differs."""
    outcome: dict = {}
    worker = threading.Thread(target=lambda: outcome.update(work()), name="pg_migrate run", daemon=True)
    started = time.monotonic()
    worker.start()
    stopping = None
    while worker.is_alive():
        worker.join(TICK_S)
        waited = time.monotonic() - started
        if limit and stopping is None and worker.is_alive() and waited >= limit:
            message = stopped_run_message(reported_limit or limit, latest_note())
            stopping = RunStopper(runner, message)
        if stopping is not None and worker.is_alive() and not stopping.pressed():
            break  # nothing more to try: the worker is left to end with its (terminated) session
        if tick is not None and worker.is_alive():
            tick(waited)
    if stopping is not None:
        return stopping.verdict(dict(outcome), empty, worker.is_alive())
    return outcome
