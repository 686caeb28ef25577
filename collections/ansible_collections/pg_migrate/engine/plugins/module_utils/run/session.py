# pg_migrate: one run's session with the database. The connection and its timeouts, the advisory lock that
# serialises runs, the history table, the progress note a watcher reads, the scripts (checked byte for byte
# against the controller's checksums) and the one way a unit of work runs in a transaction, retried when its
# lock timeout fires.
#
# No AnsibleModule here: the caller passes the module's parameters as a plain dict, and callbacks to warn
# and log; failures are exceptions (errors.RunFailed, errors.StatementFailed).

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import (
    LOCK_NOT_AVAILABLE,
    RunFailed,
    StatementFailed,
    session_ended,
    sqlstate_of,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.files import write_atomically
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.pooling import refuse_transaction_pooling

CLIENT_CHECK_INTERVAL = "5s"
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


def boot_id() -> str | None:
    """This boot of the host (Linux); a pid noted before a reboot means nothing after it."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return None


def quote_ident(name: str) -> str:
    return '"%s"' % name


def _ignore(_message: str) -> None:
    """A warn or log callback that drops the message."""


class Runner:
    """One run against one database.

    PARAMS: the module's parameters (login_db, history_schema, history_table, action, scripts_dir, the
    timeouts and retry settings, progress_file). CONN: an open DB-API connection (psycopg 2 or 3, rows as
    dicts or tuples). RECONNECT: a fresh session, or None (after the server ended this one).
    CONNECT_FOR_CHECK: a second connection in autocommit, for the connection pooler check."""

    def __init__(
        self,
        params: dict,
        conn=None,
        warn: Callable[[str], None] = _ignore,
        log: Callable[[str], None] = _ignore,
        reconnect: Callable[[], object] | None = None,
        connect_for_check: Callable[[], object] | None = None,
        on_note: Callable[[dict], None] | None = None,
    ) -> None:
        self.params = params
        self.conn = conn
        self.warn = warn
        self.log = log
        self.reconnect = reconnect
        self.connect_for_check = connect_for_check
        self.on_note = on_note  # in the controller process: progress straight to the action plugin
        schema, table = params["history_schema"], params["history_table"]
        self.history = "%s.%s" % (quote_ident(schema), quote_ident(table))
        self.history_name = "%s.%s" % (schema, table)
        self.lock_key_text = "pg_migrate:%s" % self.history_name
        self.lock_purpose = "migration"
        self.progress_written = False
        self.locked = False
        self.scripts = {}
        self.current_script = None  # what was running when a run broke off, for the message
        self.lock_waited_s = 0.0
        # Set from another thread (the controller path's pg_migrate_run_timeout): the run stops at its next
        # statement of a script, lock attempt or retry, with this as its message.
        self.stop_reason: str | None = None

    def check_stop(self) -> None:
        """Raise RunFailed when the run was told to stop (stop_reason); between statements, never inside one."""
        if self.stop_reason:
            raise RunFailed(self.stop_reason)

    # --- SQL helpers ---------------------------------------------------------------------------
    def rows(self, sql: str, params=None) -> list[dict]:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            if cursor.description is None:
                return []
            names = [column[0] for column in cursor.description]
            return [row if isinstance(row, dict) else dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def value(self, sql: str, params=None):
        result = self.rows(sql, params)
        return next(iter(result[0].values())) if result else None

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
            (self.params["lock_timeout"], local, self.params["statement_timeout"], local),
        )

    def session_lost(self) -> bool:
        return bool(getattr(self.conn, "closed", False) or getattr(self.conn, "broken", False))

    # --- one unit of work: a transaction, retried after a lock timeout -------------------------------
    def retry_on_lock_timeout(self, label: str, attempt_once: Callable[[], object]) -> tuple[object, int]:
        """(ATTEMPT_ONCE()'s result, attempts): retried with backoff while its lock timeout fires (55P03)."""
        attempts = 0
        while True:
            attempts += 1
            try:
                return attempt_once(), attempts
            except StatementFailed as failure:
                if failure.sqlstate == LOCK_NOT_AVAILABLE and attempts <= self.params["lock_retries"]:
                    delay = self.params["lock_retry_delay"] * (2 ** (attempts - 1))
                    self.log(
                        "pg_migrate: %s hit lock_timeout (attempt %d); retrying in %.1fs" % (label, attempts, delay)
                    )
                    self.check_stop()
                    time.sleep(delay)
                    continue
                failure.attempts = attempts
                raise

    def in_transaction(
        self, label: str, work: Callable[[], object], commit: bool = True, retry: bool = True
    ) -> tuple[object, int]:
        """(WORK()'s result, attempts): WORK in one transaction with the run's timeouts, then committed, or
        rolled back whatever happens when COMMIT is false (a rehearsal). A failure rolls back; with RETRY, a
        lock timeout is retried with backoff (the whole transaction again)."""

        def attempt() -> object:
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
        return attempt(), 1

    # --- advisory lock: serialises runs against one database ------------------------------------
    def use_backfill_lock(self) -> None:
        """Backfills exclude each other, not migrations: a long backfill must not hold up a rollout."""
        self.lock_key_text = "pg_migrate-backfill:%s" % self.history_name
        self.lock_purpose = "backfill"

    def acquire_lock(self) -> None:
        refuse_transaction_pooling(  # before the lock and before any change
            self.conn, self.params["login_db"], self.lock_purpose, self.connect_for_check, self.warn
        )
        started = time.monotonic()
        deadline = started + self.params["advisory_lock_wait"]
        delay = 0.2
        waiting_noted = False
        while True:
            got = self.value("SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS got", (self.lock_key_text,))
            self.conn.commit()
            if got:
                self.locked = True
                self.watch_client_connection()
                if waiting_noted:  # it found the lock taken: say how long it waited for it
                    self.lock_waited_s = round(time.monotonic() - started, 1)
                    self.write_note({"state": "locked", "waited_s": self.lock_waited_s})
                return
            if not waiting_noted:
                self.write_note({"state": "waiting", "lock": self.lock_purpose, "holder": self.lock_holder_pid()})
                waiting_noted = True
            if time.monotonic() >= deadline:
                raise RunFailed(self.lock_refusal())
            self.check_stop()
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def lock_refusal(self) -> str:
        """Who holds the lock this run gave up waiting for, and what to do about it."""
        holder = self.rows(LOCK_HOLDER, (self.lock_key_text,))
        self.conn.rollback()
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
            "transaction rolls back and the lock is released."
            % (self.lock_purpose, self.params["login_db"], who, int(self.params["advisory_lock_wait"]))
        )

    def watch_client_connection(self) -> None:
        """Have the server notice a vanished client during a long statement (PostgreSQL 14 and later).

        Without it, the session of a job killed mid-statement (kill -9, the OOM killer) runs that statement to
        its end, holding its locks and the migration lock, before it finds the client gone and rolls back."""
        info = getattr(self.conn, "info", None)
        version = getattr(info, "server_version", None) or getattr(self.conn, "server_version", 0)
        if version >= 140000:
            self.rows("SELECT set_config('client_connection_check_interval', %s, false)", (CLIENT_CHECK_INTERVAL,))
            self.conn.commit()

    def lock_holder_pid(self) -> int | None:
        """The backend that holds the lock this run waits for (None when it was released meanwhile)."""
        pid = self.value("SELECT l.pid FROM pg_locks l WHERE " + HELD_HERE + " LIMIT 1", (self.lock_key_text,))
        self.conn.commit()
        return pid

    def release_lock(self) -> None:
        if self.locked:
            self.set_autocommit(False)
            self.rows("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (self.lock_key_text,))
            self.conn.commit()
            self.locked = False

    def release_quietly(self) -> None:
        """At the end of a run, failed or not: no progress note, no open transaction, no lock."""
        self.clear_progress()
        try:
            self.conn.rollback()
            self.release_lock()
        except Exception:  # the session is going away anyway; closing it releases the lock
            pass

    # --- history ------------------------------------------------------------------------------------
    def history_exists(self) -> bool:
        exists = self.value("SELECT to_regclass(%s) IS NOT NULL AS present", (self.history,))
        self.conn.commit()
        return bool(exists)

    def history_ddl(self) -> list[str]:
        """The statements that create the history table (in the current transaction; they do not commit).

        The schema is created only when it is absent: even with IF NOT EXISTS, CREATE SCHEMA needs CREATE on the
        database, which a login role with CREATE on the schema alone does not have."""
        table, schema = self.params["history_table"], self.params["history_schema"]
        present = self.value("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s) AS present", (schema,))
        create_schema = [] if present else ["CREATE SCHEMA IF NOT EXISTS %s" % quote_ident(schema)]
        return [
            *create_schema,
            "CREATE TABLE IF NOT EXISTS %s ("
            " installed_rank bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " version text,"
            " description text NOT NULL,"
            " script text NOT NULL,"
            " checksum char(64) NOT NULL,"
            " kind text NOT NULL CHECK (kind IN ('migration', 'baseline', 'repeatable')),"
            " applied_by text NOT NULL DEFAULT current_user,"
            " applied_at timestamptz NOT NULL DEFAULT now(),"
            " execution_ms integer NOT NULL DEFAULT 0,"
            " success boolean NOT NULL,"
            " CHECK ((kind = 'repeatable') = (version IS NULL)))" % self.history,
            # A version can be recorded as applied once: the last line of defence against a double apply.
            "CREATE UNIQUE INDEX IF NOT EXISTS %s ON %s (version) WHERE success AND kind <> 'repeatable'"
            % (quote_ident(table + "_applied_version_key"), self.history),
            "COMMENT ON TABLE %s IS 'pg_migrate: one row per applied, baselined or failed script'" % self.history,
        ]

    def ensure_history(self) -> bool:
        """Create the history table when absent; whether it was created."""
        if self.history_exists():
            return False
        for statement in self.history_ddl():
            self.rows(statement)
        self.conn.commit()
        return True

    def read_history(self) -> list[dict]:
        if not self.history_exists():
            return []
        history = self.rows(
            "SELECT installed_rank, version, description, script, checksum, kind, success, "
            "       applied_at::text AS applied_at, applied_by FROM %s ORDER BY installed_rank" % self.history
        )
        self.conn.commit()
        return history

    def record(self, kind: str, item: dict, entry: dict, duration_ms: float, success: bool) -> None:
        """A history row for ENTRY (the script that ran) of ITEM (its migration or repeatable)."""
        self.rows(
            "INSERT INTO %s (version, description, script, checksum, kind, execution_ms, success) "
            "VALUES (%%s, %%s, %%s, %%s, %%s, %%s, %%s)" % self.history,
            (
                item.get("version"),
                item["description"],
                entry["script"],
                entry["checksum"],
                kind,
                int(duration_ms),
                success,
            ),
        )

    # --- progress, for a watcher on the controller -------------------------------------------------------
    def write_note(self, state: dict) -> None:
        """Write STATE (JSON) to this run's progress file, atomically.

        Every note carries the process's pid and the host's boot id, so the watcher on the controller can
        tell a job that still runs from one whose process died (kill -9, OOM killer, reboot)."""
        path = self.params.get("progress_file")
        if self.on_note is not None:
            self.on_note(dict(state, action=self.params["action"], since=time.time()))
        if not path:
            return
        state = dict(state, action=self.params["action"], pid=os.getpid(), boot_id=boot_id(), since=time.time())
        try:
            write_atomically(path, json.dumps(state))
            self.progress_written = True
        except OSError:
            pass  # progress is a courtesy: never fail a migration over it

    def note_progress(self, script: str, number: int, total: int) -> None:
        """Which script is running (NUMBER of TOTAL)."""
        self.current_script = script
        self.write_note({"state": "running", "script": script, "number": number, "total": total})

    def clear_progress(self) -> None:
        path = self.params.get("progress_file")
        if path and self.progress_written and os.path.exists(path):  # each run has its own file
            with contextlib.suppress(OSError):
                os.remove(path)

    # --- scripts on the managed host ------------------------------------------------------------------
    def script_path(self, entry: dict) -> str:
        """Where ENTRY is: under scripts_dir (the copy on the managed host), or, in the controller process,
        in the project's own directories (script_roots: migrations, seeds, backfill)."""
        roots = self.params.get("script_roots")
        if roots:
            top, _, rest = entry["path"].partition("/")
            return os.path.join(roots[top], rest)
        return os.path.join(self.params["scripts_dir"], entry["path"])

    def script_text(self, entry: dict) -> str:
        """The copied file, checked byte for byte against the controller's sha256 of its bytes ("bytes_sha256";
        "checksum" hashes the normalised text, for the history). A leading byte-order mark is dropped, as the
        controller dropped it before computing the statement offsets (PostgreSQL would reject it)."""
        path = self.script_path(entry)
        if path not in self.scripts:
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError as exc:
                raise RunFailed(
                    "cannot read %s on this host (%s): the copy step did not place it; run the role "
                    "again without skipping the copy." % (path, exc.strerror)
                ) from None
            checksum = hashlib.sha256(data).hexdigest()
            if checksum != entry["bytes_sha256"]:
                raise RunFailed(
                    "%s on this host differs from the controller's file (sha256 %s, expected %s): the copy is stale "
                    "or was altered. Nothing was changed; run the role again to copy it."
                    % (path, checksum, entry["bytes_sha256"])
                )
            self.scripts[path] = data.decode("utf-8-sig")  # utf-8, without one leading BOM
        return self.scripts[path]

    def statements(self, entry: dict) -> list[tuple[int, int, str]]:
        """(number, line, text) of each statement of ENTRY, at the controller's offsets."""
        text = self.script_text(entry)
        return [
            (number, line, text[start:end]) for number, (start, end, line) in enumerate(entry["statements"], start=1)
        ]

    def run_script(self, entry: dict) -> list[dict]:
        """Execute every statement of ENTRY; the rows of the last one."""
        rows = []
        self.current_script = entry["script"]
        for number, line, statement in self.statements(entry):
            self.check_stop()
            try:
                rows = self.rows(statement)
            except Exception as exc:  # psycopg 2 and 3 errors share no base class we can import here
                if sqlstate_of(exc) is None or session_ended(exc):
                    raise  # not the script's doing: the run broke off (reported with the script it was running)
                raise StatementFailed(entry["script"], number, line, statement, exc) from exc
        return rows

    # --- what an interrupted script left ----------------------------------------------------------------
    def invalid_indexes(self) -> list[str]:
        found = self.rows("SELECT indexrelid::regclass::text AS name FROM pg_index WHERE NOT indisvalid ORDER BY 1")
        if not self.conn.autocommit:
            self.conn.commit()
        return [row["name"] for row in found]

    def record_lost_attempt(self, kind: str, item: dict, entry: dict, invalid_before: list[str]) -> list[str]:
        """On a new session: record the failed attempt of a marked script; the INVALID indexes it left."""
        if self.reconnect is None:
            return []
        fresh = self.reconnect()
        if fresh is None:
            return []
        with contextlib.suppress(Exception):
            self.conn.close()
        self.conn = fresh
        self.locked = False  # the killed session's lock went with it
        self.set_autocommit(True)
        left = [name for name in self.invalid_indexes() if name not in invalid_before]
        self.record(kind, item, entry, 0, False)
        self.set_autocommit(False)
        return left
