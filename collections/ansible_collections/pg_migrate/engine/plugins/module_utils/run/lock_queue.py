# pg_migrate: how a unit of work (a migration's transaction, a marked script, a revert, a backfill batch) gets
# its table locks without making the application queue behind it: the look before each statement that locks
# an existing table (run/table_locks.py), the wait without a lock request while a session blocks it, and the
# lock ladder's attempts (run/lock_ladder.py) when a request loses its lock_timeout.
#
# A mixin of connection.Session: it uses the session's connection, statements, timeouts and callbacks.

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import (
    LOCK_NOT_AVAILABLE,
    LockWaitExpired,
    StatementFailed,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.lock_ladder import LockLadder
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.table_locks import (
    Holder,
    LockBusy,
    LockWaits,
    blockers_line,
    look,
    waited_for_locks,
)

LOOK_EVERY_S = 0.05  # how often a run waiting without queueing looks again: a claim's time, not a human's


class LockQueue:
    """The lock-taking side of connection.Session (which sets waits, lock_timeout_now and note_waiting)."""

    def retry_on_lock_timeout(
        self, label: str, attempt_once: Callable[[], Any], ladder: LockLadder | None = None
    ) -> tuple[Any, LockWaits]:
        """(ATTEMPT_ONCE()'s result, what its locks cost): climbs LADDER (the run's) while its lock timeout fires
        (55P03) and the failure may be retried (not `final`), and waits without queueing while the look before
        a statement finds a blocker (LockBusy)."""
        ladder = ladder or self.timeouts.ladder
        waits = LockWaits(budget_s=ladder.budget_s(), started=time.monotonic())
        self.waits = waits
        try:
            while True:
                waits.attempts += 1
                self.lock_timeout_now = ladder.timeout_of(waits.attempts)
                attempt_started = time.monotonic()
                try:
                    return attempt_once(), waits
                except LockBusy as busy:  # rolled back: no lock request was queued, so no attempt was spent
                    waits.attempts -= 1
                    waits.waited_s += time.monotonic() - attempt_started
                    self.wait_until_clear(busy.where, busy.targets)
                except StatementFailed as failure:
                    if failure.sqlstate != LOCK_NOT_AVAILABLE or isinstance(failure, LockWaitExpired):
                        raise
                    if getattr(failure, "final", False):  # trying again would fail, or do harm
                        failure.attempts = waits.attempts
                        raise
                    waits.waited_s += time.monotonic() - attempt_started
                    self.after_lost_attempt(label, failure, ladder)
        finally:
            self.waits = None
            self.lock_timeout_now = None

    def after_lost_attempt(self, label: str, failure: StatementFailed, ladder: LockLadder) -> None:
        """After an attempt's lock_timeout fired: sleep before the next rung, or, when the ladder or its budget
        is spent, raise FAILURE with the attempts and whoever holds a conflicting lock now."""
        waits = self.waits
        delay = ladder.sleep_after(waits.attempts)
        if waits.attempts >= ladder.attempts or time.monotonic() + delay >= waits.deadline:
            failure.attempts = waits.attempts
            holders = self.current_holders(failure)
            failure.blockers = [holder.to_dict() for holder in holders]
            failure.blocker_lines = [holder.describe() for holder in holders]
            raise failure
        self.log(
            "pg_migrate: %s hit lock_timeout %s (attempt %d); retrying in %.2fs"
            % (label, self.lock_timeout_now, waits.attempts, delay)
        )
        self.note_waiting(
            {
                "state": "waiting",
                "lock": "table locks",
                "script": label,
                "attempt": waits.attempts,
                "lock_timeout": self.lock_timeout_now,
                "next_in_s": round(delay, 2),
            }
        )
        self.check_stop()
        time.sleep(delay)
        waits.waited_s += delay

    def current_holders(self, failure: StatementFailed) -> list[Holder]:
        """Who holds or awaits a conflicting lock on the failed statement's tables now (any age), for the
        message; [] when that cannot be read."""
        targets = getattr(failure, "locks", None)
        if not targets:
            return []
        try:
            self.rollback()
            found = look(self, targets)
            self.rollback()
            return found
        except Exception:  # the message must not hide the failure behind a second one
            return []

    # --- the look before queueing --------------------------------------------------------------------
    def look_before_locking(self, where: tuple, targets: list[tuple[str, str]]) -> None:
        """Before the statement WHERE (script, number, line, text) locks TARGETS: when a session that blocks
        holds or awaits a conflicting lock, do not queue - inside a transaction, give the unit up (LockBusy:
        rolled back, retried once they are gone); in autocommit, wait here."""
        waits = self.waits
        if waits is None or not targets:
            return
        blockers = self.blockers_of(targets)
        if not blockers:
            return
        waits.saw(blockers)
        if not self.conn.autocommit:
            raise LockBusy(where, targets)
        self.wait_until_clear(where, targets)

    def blockers_of(self, targets: list[tuple[str, str]]) -> list[Holder]:
        """The sessions holding or awaiting a conflicting lock on TARGETS that the run must not queue behind."""
        blocker_age_s = self.timeouts.ladder.blocker_age_s
        now = time.monotonic()
        return [
            holder for holder in look(self, targets) if holder.blocks(blocker_age_s, self.waits.seen_for(holder, now))
        ]

    def wait_until_clear(self, where: tuple, targets: list[tuple[str, str]]) -> None:
        """Wait, with no lock request in the queue, until no session blocks TARGETS, looking every
        LOOK_EVERY_S; LockWaitExpired (naming them) when the unit's budget runs out first."""
        waits = self.waits
        began = time.monotonic()
        noted: set | None = None
        try:
            while True:
                self.check_stop()
                blockers = self.blockers_of(targets)
                if not self.conn.autocommit:
                    self.rollback()  # no snapshot, no transaction kept open while it waits
                if not blockers:
                    return
                waits.saw(blockers)
                if time.monotonic() >= waits.deadline:
                    raise LockWaitExpired(
                        *where,
                        waited_for_locks(time.monotonic() - waits.started, blockers),
                        [holder.to_dict() for holder in blockers],
                    )
                if {(holder.pid, holder.gid) for holder in blockers} != noted:
                    noted = {(holder.pid, holder.gid) for holder in blockers}
                    self.say_blocked(where[0], blockers)
                time.sleep(LOOK_EVERY_S)
        finally:
            waits.waited_s += time.monotonic() - began

    def say_blocked(self, script: str, blockers: list[Holder]) -> None:
        """A progress note (and log line) naming who the run waits for, each time that changes."""
        self.log("pg_migrate: %s waits without queueing for %s" % (script, blockers_line(blockers)))
        self.note_waiting(
            {
                "state": "waiting",
                "lock": "table locks",
                "script": script,
                "blockers": [holder.describe() for holder in blockers],
                # since the unit began: its progress line counts the whole wait, not since the blockers changed
                "waiting_since": time.time() - (time.monotonic() - self.waits.started),
            }
        )
