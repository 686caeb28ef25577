# pg_migrate: the run's session with the server: statements and their rows, transactions with the run's
# timeouts, a unit of work retried when its lock timeout fires, and the stop a watcher may ask for between
# statements.
#
# CONN is an open DB-API connection (psycopg 2 or 3, rows as dicts or tuples).

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import (
    LOCK_NOT_AVAILABLE,
    LockWaitExpired,
    RunFailed,
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

CLIENT_CHECK_INTERVAL = "5s"
LOOK_EVERY_S = 0.05  # how often a run waiting without queueing looks again: a claim's time, not a human's


def ignore(_message: str) -> None:
    """A warn or log callback that drops the message."""


def ignore_note(_note: dict) -> None:
    """A progress-note callback that drops the note."""


@dataclass(frozen=True)
class Timeouts:
    """The run's lock_timeout and statement_timeout, the retries after a lock timeout fired, and the lock
    ladder's rungs before them, its wait limit and the look's blocker age (run/lock_ladder.py)."""

    lock_timeout: str = "2s"
    statement_timeout: str = "30min"
    lock_retries: int = 3
    lock_retry_delay: float = 2.0
    lock_ladder: tuple[str, ...] = ("50ms", "100ms", "200ms", "500ms", "1s")
    lock_wait_limit: str = "2min"
    lock_blocker_age: str = "50ms"

    @classmethod
    def of(cls, params: dict) -> Timeouts:
        default = cls()
        return cls(
            params["lock_timeout"],
            params["statement_timeout"],
            params["lock_retries"],
            params["lock_retry_delay"],
            tuple(params.get("lock_ladder", default.lock_ladder) or ()),
            params.get("lock_wait_limit") or default.lock_wait_limit,
            params.get("lock_blocker_age") or default.lock_blocker_age,
        )

    def ladder(self) -> LockLadder:
        return LockLadder.of(
            self.lock_timeout,
            self.lock_ladder,
            self.lock_retries,
            self.lock_retry_delay,
            self.lock_wait_limit,
            self.lock_blocker_age,
        )


class Session:
    """One run's server session. RECONNECT: a fresh session, or None (after the server ended this one).
    CONNECT_FOR_CHECK: a second connection in autocommit (the pooling check, a terminate from a watcher)."""

    def __init__(
        self,
        conn: Any = None,
        timeouts: Timeouts = Timeouts(),
        log: Callable[[str], None] = ignore,
        reconnect: Callable[[], Any] | None = None,
        connect_for_check: Callable[[], Any] | None = None,
    ) -> None:
        self.conn = conn
        self.timeouts = timeouts
        self.log = log
        self.reconnect = reconnect
        self.connect_for_check = connect_for_check
        self.current_script: str | None = None  # what was running when a run broke off, for the message
        # Set from another thread (the controller path's pg_migrate_run_timeout): the run stops at its next
        # statement of a script, lock attempt or retry, with this as its message.
        self.stop_reason: str | None = None
        # While a unit climbs the lock ladder: its lock_timeout now, and what its locks cost it so far. Outside
        # one (a rehearsal, the baseline) the run neither looks before queueing nor climbs.
        self.lock_timeout_now: str | None = None
        self.waits: LockWaits | None = None
        self.note_waiting: Callable[[dict], None] = ignore_note

    def check_stop(self) -> None:
        """Raise RunFailed when the run was told to stop (stop_reason); between statements, never inside one."""
        if self.stop_reason:
            raise RunFailed(self.stop_reason)

    # --- statements ----------------------------------------------------------------------------------
    def rows(self, sql: str, params: Any = None) -> list[dict]:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            if cursor.description is None:
                return []
            names = [column[0] for column in cursor.description]
            return [row if isinstance(row, dict) else dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def value(self, sql: str, params: Any = None) -> Any:
        result = self.rows(sql, params)
        return next(iter(result[0].values())) if result else None

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        """Roll back; on a session the server already ended, there is nothing to roll back, and the error that
        ended it (with the server's reason) is the one to report, not "the connection is lost"."""
        try:
            self.conn.rollback()
        except Exception:
            if not self.session_lost():
                raise

    def set_autocommit(self, enabled: bool) -> None:
        if self.conn.autocommit != enabled:
            self.conn.rollback()
            self.conn.autocommit = enabled

    def set_timeouts(self, local: bool) -> None:
        self.rows(
            "SELECT set_config('lock_timeout', %s, %s), set_config('statement_timeout', %s, %s)",
            (self.lock_timeout_now or self.timeouts.lock_timeout, local, self.timeouts.statement_timeout, local),
        )

    def reset_timeouts(self) -> None:
        """Session settings outlive a script run outside a transaction (and a script may SET its own)."""
        if not self.session_lost():
            self.rows("RESET lock_timeout")
            self.rows("RESET statement_timeout")

    def session_lost(self) -> bool:
        return bool(getattr(self.conn, "closed", False) or getattr(self.conn, "broken", False))

    def watch_client_connection(self) -> None:
        """Have the server notice a vanished client during a long statement (PostgreSQL 14 and later).

        Without it, the session of a job killed mid-statement (kill -9, the OOM killer) runs that statement to
        its end, holding its locks and the migration lock, before it finds the client gone and rolls back."""
        info = getattr(self.conn, "info", None)
        version = getattr(info, "server_version", None) or getattr(self.conn, "server_version", 0)
        if version >= 140000:
            self.rows("SELECT set_config('client_connection_check_interval', %s, false)", (CLIENT_CHECK_INTERVAL,))
            self.conn.commit()

    def invalid_indexes(self) -> list[str]:
        """The INVALID indexes of the database (what an interrupted CREATE INDEX CONCURRENTLY leaves)."""
        found = self.rows("SELECT indexrelid::regclass::text AS name FROM pg_index WHERE NOT indisvalid ORDER BY 1")
        if not self.conn.autocommit:
            self.conn.commit()
        return [row["name"] for row in found]

    def replace_lost(self) -> bool:
        """After the server ended this session: a fresh one in its place; False when none could be opened."""
        fresh = self.reconnect() if self.reconnect is not None else None
        if fresh is None:
            return False
        with contextlib.suppress(Exception):
            self.conn.close()
        self.conn = fresh
        return True

    # --- one unit of work: a transaction, retried after a lock timeout -------------------------------
    def retry_on_lock_timeout(self, label: str, attempt_once: Callable[[], Any]) -> tuple[Any, LockWaits]:
        """(ATTEMPT_ONCE()'s result, what its locks cost): climbs the lock ladder while its lock timeout fires
        (55P03), and waits without queueing while the look before a statement finds a blocker (LockBusy)."""
        ladder = self.timeouts.ladder()
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
        blockers = [holder for holder in look(self, targets) if holder.blocks(self.timeouts.ladder().blocker_age_s)]
        if not blockers:
            return
        waits.saw(blockers)
        if not self.conn.autocommit:
            raise LockBusy(where, targets)
        self.wait_until_clear(where, targets)

    def wait_until_clear(self, where: tuple, targets: list[tuple[str, str]]) -> None:
        """Wait, with no lock request in the queue, until no session blocks TARGETS, looking every
        LOOK_EVERY_S; LockWaitExpired (naming them) when the unit's budget runs out first."""
        waits = self.waits
        blocker_age_s = self.timeouts.ladder().blocker_age_s
        began = time.monotonic()
        noted: set | None = None
        try:
            while True:
                self.check_stop()
                blockers = [holder for holder in look(self, targets) if holder.blocks(blocker_age_s)]
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
                "waiting_since": time.time(),
            }
        )

    def in_transaction(
        self, label: str, work: Callable[[], Any], commit: bool = True, retry: bool = True
    ) -> tuple[Any, LockWaits]:
        """(WORK()'s result, what its locks cost): WORK in one transaction with the run's timeouts, then committed, or
        rolled back whatever happens when COMMIT is false (a rehearsal). A failure rolls back; with RETRY, a
        lock timeout is retried with backoff (the whole transaction again)."""

        def attempt() -> Any:
            self.set_autocommit(False)
            try:
                self.set_timeouts(local=True)
                value = work()
                if commit:
                    self.conn.commit()
                else:
                    self.rollback()
                return value
            except Exception:
                self.rollback()
                raise

        if retry:
            return self.retry_on_lock_timeout(label, attempt)
        return attempt(), LockWaits(attempts=1)
