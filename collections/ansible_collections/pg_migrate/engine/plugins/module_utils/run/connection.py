# pg_migrate: the run's session with the server: statements and their rows, transactions with the run's
# timeouts, a unit of work retried when its lock timeout fires, and the stop a watcher may ask for between
# statements.
#
# CONN is an open DB-API connection (psycopg 2 or 3, rows as dicts or tuples).

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.lock_ladder import LockLadder
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.lock_queue import LockQueue
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.table_locks import LockWaits

CLIENT_CHECK_INTERVAL = "5s"


def ignore(_message: str) -> None:
    """A warn or log callback that drops the message."""


def ignore_note(_note: dict) -> None:
    """A progress-note callback that drops the note."""


def literal(value: object) -> str:
    """VALUE as an SQL string literal. Only for the run's own settings (durations, numbers): a backslash, which
    would read differently with standard_conforming_strings off, is refused rather than escaped."""
    text = str(value)
    if "\\" in text:
        raise ValueError("a setting with a backslash cannot be sent as a literal: %r" % text)
    return "'%s'" % text.replace("'", "''")


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

    @cached_property
    def ladder(self) -> LockLadder:
        """The ladder these settings describe, parsed once (every look reads its blocker age)."""
        return LockLadder.of(
            self.lock_timeout,
            self.lock_ladder,
            self.lock_retries,
            self.lock_retry_delay,
            self.lock_wait_limit,
            self.lock_blocker_age,
        )


class Session(LockQueue):
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
        self.maintenance_workers = -1  # the server's own max_parallel_maintenance_workers, unless the run says

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
            self.start_afresh(None)

    def session_lost(self) -> bool:
        return bool(getattr(self.conn, "closed", False) or getattr(self.conn, "broken", False))

    def run_settings(self) -> dict[str, str]:
        """The settings the run gives its session, beyond the timeouts:
        - client_connection_check_interval (PostgreSQL 14 and later): without it, the session of a job killed
          mid-statement (kill -9, the OOM killer) runs that statement to its end, holding its locks and the
          migration lock, before it finds the client gone and rolls back;
        - max_parallel_maintenance_workers (pg_migrate_parallel_maintenance_workers; -1 leaves the server's): a
          parallel index build takes every core it may, and the application's queries then wait for a CPU.
        Both are set for the session, not a transaction: a no-transaction script runs outside any."""
        info = getattr(self.conn, "info", None)
        version = getattr(info, "server_version", None) or getattr(self.conn, "server_version", 0)
        settings = {}
        if version >= 140000:
            settings["client_connection_check_interval"] = CLIENT_CHECK_INTERVAL
        if self.maintenance_workers >= 0:
            settings["max_parallel_maintenance_workers"] = str(self.maintenance_workers)
        return settings

    def apply_run_settings(self) -> None:
        settings = self.run_settings()
        if settings:
            calls = ", ".join("set_config(%s, %s, false)" for _name in settings)
            self.rows("SELECT " + calls, [value for pair in settings.items() for value in pair])

    def start_afresh(self, timeouts_local: bool | None) -> None:
        """The session as the run set it up, whatever the script before SET: psql runs each file in a session of
        its own, so a `SET search_path`, `SET timezone` or `SET ROLE` of one migration must not change how the
        next one runs (or as whom its history row is written). RESET ALL leaves the role and the session
        authorization (PostgreSQL exempts them), hence their own RESETs. The connection's own options (libpq
        `options`, the role's and database's ALTER ... SET) are what RESET returns to. Then the run's timeouts:
        for the transaction (TIMEOUTS_LOCAL True), for the session (False), or not at all (None)."""
        # One round trip (this runs before and after every script): the values are the run's own settings,
        # written as literals, as parameters cannot go with several statements.
        settings = [(name, value, "false") for name, value in self.run_settings().items()]
        if timeouts_local is not None:
            local = "true" if timeouts_local else "false"
            settings += [
                ("lock_timeout", self.lock_timeout_now or self.timeouts.lock_timeout, local),
                ("statement_timeout", self.timeouts.statement_timeout, local),
            ]
        calls = ", ".join(
            "set_config(%s, %s, %s)" % (literal(name), literal(value), local) for name, value, local in settings
        )
        self.rows("RESET ALL; RESET SESSION AUTHORIZATION; RESET ROLE" + ("; SELECT " + calls if calls else ""))

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

    # --- one unit of work: a transaction, climbing the lock ladder (run/lock_queue.py) -------------
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
