# pg_migrate: one unit of a change set's run - a migration or repeatable script with its history row: in a
# transaction (with its verify script), or, for a script marked no-transaction, statement by statement with
# the history row after it, its failed attempt recorded even when its session was lost.

from __future__ import annotations

import dataclasses
import time

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Migration, Repeatable, Script
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import (
    LOCK_NOT_AVAILABLE,
    RunFailed,
    StatementFailed,
    lost_session_message,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.lock_ladder import LockLadder
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.session import Runner
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.table_locks import (
    LockWaits,
    holds_up_the_application,
)

NOT_REHEARSED = "runs outside a transaction, cannot be rolled back"


# --- one unit: a migration or repeatable script with its history row -------------------------------------
def run_afresh(runner: Runner, script: Script) -> list:
    """SCRIPT, in the current transaction, from the run's own session settings, and none of its SETs left for
    what follows it (its history row, the next script): psql would give each file a session of its own."""
    runner.session.start_afresh(timeouts_local=True)
    rows = runner.scripts.run(script)
    runner.session.start_afresh(timeouts_local=True)
    return rows


def run_verify_script(runner: Runner, migration: Migration) -> None:
    """The verify script of MIGRATION, in the current transaction; a failure names the migration."""
    try:
        run_afresh(runner, migration.verify)
    except StatementFailed as failure:
        failure.verify_of = migration.script
        raise


def verifies(runner: Runner, kind: str, item: Migration | Repeatable) -> bool:
    """Whether ITEM, applied as KIND, has its verify script run after it."""
    return kind == "migration" and runner.params["verify"] and isinstance(item, Migration) and item.verify is not None


def apply_transactional(
    runner: Runner, items: list[tuple[str, Migration | Repeatable, Script]]
) -> tuple[list[float], LockWaits]:
    """ITEMS: [(kind, its migration or repeatable, the script that runs)] applied in one transaction with their
    history rows: (duration_ms of each, what the transaction's locks cost)."""

    def work() -> list[float]:
        timings = []
        for kind, migration, entry in items:
            started = time.monotonic()
            run_afresh(runner, entry)
            if verifies(runner, kind, migration):
                run_verify_script(runner, migration)
            duration = (time.monotonic() - started) * 1000
            runner.history.record(kind, migration, entry, duration, True)
            timings.append(duration)
        return timings

    return runner.session.in_transaction(", ".join(entry.script for _kind, _migration, entry in items), work)


def execute_outside_transaction(runner: Runner, entry: Script) -> tuple[float, LockWaits]:
    """Run a marked script statement by statement, each committing on its own: (duration_ms, what its locks
    cost). A statement that lost its lock_timeout is tried again from where it failed - the ones before it
    have committed and must not run twice - unless its failed attempt left an INVALID index behind (a
    CREATE INDEX CONCURRENTLY that timed out waiting for an old transaction): trying again would fail on the
    name, so the run stops and names the index."""
    resume_at = [1]
    invalid_before = set(runner.session.invalid_indexes())

    def attempt() -> float:
        runner.session.set_autocommit(True)
        runner.session.start_afresh(timeouts_local=False)
        started = time.monotonic()
        try:
            runner.scripts.run(entry, first=resume_at[0])
        except StatementFailed as failure:
            resume_at[0] = failure.number
            if failure.sqlstate == LOCK_NOT_AVAILABLE and set(runner.session.invalid_indexes()) - invalid_before:
                failure.final = True
            raise
        return (time.monotonic() - started) * 1000

    try:
        return runner.session.retry_on_lock_timeout(entry.script, attempt, outside_transaction_ladder(runner, entry))
    finally:
        runner.session.reset_timeouts()


def outside_transaction_ladder(runner: Runner, entry: Script) -> LockLadder:
    """The ladder of marked script ENTRY: the run's, or, when none of its statements asks for a lock that the
    application's reads and writes would queue behind (a CREATE INDEX CONCURRENTLY, DML), its top rung from the
    first attempt - a short rung there holds up nobody and only risks a half-done statement."""
    ladder = runner.session.timeouts.ladder
    if any(holds_up_the_application(mode) for _number, _relation, mode in entry.locks):
        return ladder
    return dataclasses.replace(ladder, rungs=())


def apply_outside_transaction(
    runner: Runner, kind: str, migration: Migration | Repeatable, entry: Script
) -> tuple[float, LockWaits]:
    """A marked script: each statement commits on its own; the history row follows success."""
    before = set(runner.session.invalid_indexes())
    try:
        duration, waits = execute_outside_transaction(runner, entry)
        if verifies(runner, kind, migration):
            run_verify_script(runner, migration)
    except StatementFailed as failure:
        failure.left_invalid = [name for name in runner.session.invalid_indexes() if name not in before]
        failure.outside_transaction = True
        runner.history.record_failure_outside_transaction(kind, migration, entry)
        raise
    except Exception as exc:
        if not runner.session.session_lost():
            raise
        # The session was killed mid-script (pg_terminate_backend, a failover): statements before it stayed
        # committed, and a CREATE INDEX CONCURRENTLY leaves an INVALID index. A new session records the
        # failed attempt and finds that index, so the message can name it.
        left = runner.history.record_lost_attempt(kind, migration, entry, before)
        raise RunFailed(lost_session_message(runner.params["login_db"], entry.script, exc, left)) from None
    runner.history.record(kind, migration, entry, duration, True)
    runner.session.set_autocommit(False)
    return duration, waits


def apply_one(runner: Runner, kind: str, item: Migration | Repeatable) -> tuple[list[float], LockWaits]:
    """A single migration or repeatable script, as its marker says: (duration_ms, what its locks cost)."""
    if item.transactional:
        return apply_transactional(runner, [(kind, item, item)])
    duration, waits = apply_outside_transaction(runner, kind, item, item)
    return [duration], waits


def group_for_execution(pending: list[Migration], group_transactions: bool) -> list[list[Migration]]:
    """One migration per transaction, or runs of consecutive transactional ones together."""
    groups: list[list[Migration]] = []
    for migration in pending:
        if group_transactions and migration.transactional and groups and groups[-1][0].transactional:
            groups[-1].append(migration)
        else:
            groups.append([migration])
    return groups
