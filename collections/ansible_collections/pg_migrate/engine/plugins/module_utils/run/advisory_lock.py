# pg_migrate: the session advisory lock that serialises runs against one database: polled with a bound (never
# waited on forever), refused with the holder's name, released at the end. Migrations and backfills have a lock
# each: a long backfill must not hold up a rollout.

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.connection import Session, ignore
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.pooling import refuse_transaction_pooling
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.progress_notes import ProgressNotes

# The sessions that hold the run's advisory lock (a bigint key: objsubid 1) in this database: an advisory lock
# belongs to one database, and a session of another database holding the same key blocks nobody here.
HELD_HERE = (
    "l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(%s, 0)"
)
LOCK_HOLDER = (
    "SELECT a.pid, a.usename, a.application_name, a.client_addr::text AS client, "
    "       a.backend_start::text AS since, a.state "
    "  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    " WHERE " + HELD_HERE + " ORDER BY a.backend_start"
)
KEY_PREFIX = {"migration": "pg_migrate", "backfill": "pg_migrate-backfill"}


class AdvisoryLock:
    """The PURPOSE lock ("migration" or "backfill") of the history table HISTORY_NAME (schema.table) in
    DATABASE, taken on SESSION and waited for at most WAIT_S seconds; NOTES hear that it waits."""

    def __init__(
        self,
        session: Session,
        database: str,
        history_name: str,
        purpose: str = "migration",
        wait_s: float = 120.0,
        notes: ProgressNotes | None = None,
        warn: Callable[[str], None] = ignore,
    ) -> None:
        self.session = session
        self.database = database
        self.purpose = purpose
        self.key_text = "%s:%s" % (KEY_PREFIX[purpose], history_name)
        self.wait_s = wait_s
        self.notes = notes or ProgressNotes("")
        self.warn = warn
        self.held_on: Any = None  # the connection that holds it: a session the server ended took its lock along
        self.waited_s = 0.0

    @property
    def locked(self) -> bool:
        return self.held_on is not None and self.held_on is self.session.conn

    def acquire(self) -> None:
        session = self.session
        refuse_transaction_pooling(  # before the lock and before any change
            session.conn, self.database, self.purpose, session.connect_for_check, self.warn
        )
        started = time.monotonic()
        deadline = started + self.wait_s
        delay = 0.2
        waiting_noted = False
        while True:
            got = session.value("SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS got", (self.key_text,))
            session.commit()
            if got:
                self.held_on = session.conn
                session.apply_run_settings()
                session.conn.commit()
                if waiting_noted:  # it found the lock taken: say how long it waited for it
                    self.waited_s = round(time.monotonic() - started, 1)
                    self.notes.write_note({"state": "locked", "waited_s": self.waited_s})
                return
            if not waiting_noted:
                self.notes.write_note({"state": "waiting", "lock": self.purpose, "holder": self.holder_pid()})
                waiting_noted = True
            if time.monotonic() >= deadline:
                raise RunFailed(self.refusal())
            session.check_stop()
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def refusal(self) -> str:
        """Who holds the lock this run gave up waiting for, and what to do about it."""
        holder = self.session.rows(LOCK_HOLDER, (self.key_text,))
        self.session.conn.rollback()
        who = (
            (
                "pid %(pid)s (user %(usename)s, application %(application_name)s, from %(client)s, "
                "connected since %(since)s, %(state)s)" % holder[0]
            )
            if holder
            else "another session"
        )
        return (
            "another pg_migrate run holds the %s lock of %s (%s); waited %ss. Let it finish and "
            "run again. If that session is stuck, end it with SELECT pg_terminate_backend(<pid>): its open "
            "transaction rolls back and the lock is released." % (self.purpose, self.database, who, int(self.wait_s))
        )

    def holder_pid(self) -> int | None:
        """The backend that holds the lock this run waits for (None when it was released meanwhile)."""
        pid = self.session.value("SELECT l.pid FROM pg_locks l WHERE " + HELD_HERE + " LIMIT 1", (self.key_text,))
        self.session.commit()
        return pid

    def release(self) -> None:
        if self.locked:
            self.session.set_autocommit(False)
            self.session.rows("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (self.key_text,))
            self.session.commit()
        self.held_on = None
