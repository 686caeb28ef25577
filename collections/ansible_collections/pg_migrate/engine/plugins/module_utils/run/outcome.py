# pg_migrate: what a run did, as values: each action returns an ActionOutcome, the engine a RunResult; the
# module's JSON-able dict is made of them in one place (engine.result_dict), with the keys docs/reports.md lists.
#
# An action that stops early raises ActionFailed: its cause (RunFailed with the operator's message, or what
# broke) and the outcome up to then - the plan it decided, what it applied - which the result still reports.

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import (
    RunFailed,
    StatementFailed,
    failure_message,
)


@dataclass(frozen=True)
class Applied:
    """A migration applied with its history row."""

    version: str
    script: str
    checksum: str
    duration_ms: float
    attempts: int
    transactional: bool
    lock_wait_ms: float = 0.0  # time lost to locks by its unit (run/table_locks.LockWaits)
    blocked_by: tuple[dict, ...] = ()  # the sessions its unit waited for, the latest look at each


@dataclass(frozen=True)
class Reverted:
    """A migration reverted, its history row removed."""

    version: str
    script: str
    duration_ms: float
    attempts: int
    lock_wait_ms: float = 0.0
    blocked_by: tuple[dict, ...] = ()
    nothing_to_undo: bool = False  # its revert was empty or comments only: only the history row went


@dataclass(frozen=True)
class RepeatableApplied:
    script: str
    checksum: str
    duration_ms: float


@dataclass(frozen=True)
class Rehearsal:
    """What a rehearsal ran and rolled back ({script, duration_ms}), and what it could not run ({script, reason})."""

    rehearsed: tuple[dict, ...] = ()
    not_rehearsed: tuple[dict, ...] = ()
    rolled_back: bool = True


@dataclass(frozen=True)
class BackfillReport:
    """One call's batches (the fields in the order the result lists them)."""

    batch_size: int
    batches: int
    linked: int
    cursor: Any
    phase: str
    high_water: Any
    done: bool
    dry_run: bool
    remaining: int | None
    linkable: int | None
    remaining_at_start: int | None
    duration_s: float


@dataclass(frozen=True)
class ActionOutcome:
    """What one action did. PLAN: the typed plan it decided (MigratePlan or RollbackPlan), None before it had one."""

    changed: bool = False
    plan: Any = None
    applied: tuple[Applied, ...] = ()
    reverted: tuple[Reverted, ...] = ()
    repeatables_applied: tuple[RepeatableApplied, ...] = ()
    diff: dict | None = None
    rehearsal: Rehearsal | None = None
    repaired: tuple[dict, ...] | None = None
    failure: dict | None = None
    backfill: BackfillReport | None = None


@dataclass(frozen=True)
class RunResult:
    """One run against one database, start to end: the action's outcome and what the engine around it found."""

    database: str
    action: str
    outcome: ActionOutcome = ActionOutcome()
    server: dict | None = None
    skip_reason: str | None = None
    deferred: bool = False
    server_slot: Any = None
    slot_waited_s: float | None = None
    verification: dict | None = None
    msg: str | None = None
    health: dict | None = None
    lock_waited_s: float | None = None
    standby_lag: dict | None = None  # what the standby gate saw (run/standby_lag.seen_record)
    duration_ms: float | None = None
    connect_failed: bool = False


class ActionFailed(Exception):
    """An action that stopped early: CAUSE, and OUTCOME, what it had done by then."""

    def __init__(self, cause: BaseException, outcome: ActionOutcome) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.outcome = outcome


def stopped_by(failure: StatementFailed, action: str, from_version: str | None, so_far: ActionOutcome) -> ActionFailed:
    """A failed script ends the run: its fields go into the outcome, its advice into the message."""
    return ActionFailed(
        RunFailed(failure_message(failure, action, from_version)), replace(so_far, failure=failure.summary())
    )


def interrupted(exc: BaseException, so_far: ActionOutcome) -> ActionFailed:
    """EXC ended the action: with the outcome so far (an ActionFailed from a step below keeps its own)."""
    return exc if isinstance(exc, ActionFailed) else ActionFailed(exc, so_far)
