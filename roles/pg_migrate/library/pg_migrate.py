#!/usr/bin/python
# pg_migrate: plan, apply or revert a change set on one PostgreSQL database, in one module call.

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_migrate
short_description: Plan, apply or revert a pg_migrate change set on one PostgreSQL database
description:
  - Reads the change set's scripts from O(scripts_dir) on the managed host (copied there by the
    pg_migrate role), checks each against the SHA-256 the controller computed, and talks to the
    database through the same connection code as the community.postgresql modules.
  - O(action=plan) only reads the history table and reports what a run would do.
  - O(action=migrate) takes a session advisory lock (polled with a bound, never waited on forever),
    re-reads the history under it (the version-check guard), then applies each pending migration
    together with its history row in one transaction, with C(lock_timeout) and C(statement_timeout)
    set and bounded retries with backoff when the lock timeout fires (SQLSTATE 55P03). Scripts whose
    first line is C(-- pg_migrate:no-transaction) run statement by statement outside a transaction.
  - O(action=rollback) runs revert scripts newest first down to O(target_version), each together with
    the removal of its history row.
  - O(action=seed) applies the repeatable (R__) scripts that are new or changed (all of them with
    O(force=true)) on a database whose migrations are all applied, under the same advisory lock.
  - O(action=backfill) runs the backfill batch script of O(backfill) again and again, each batch in its
    own short transaction, until nothing is left or O(max_seconds) have passed; it returns the keyset
    cursor to continue from. In check mode it only counts what is left (O(backfill.count)).
  - In check mode nothing is changed; with O(rehearse=true) all pending transactional scripts are
    executed in one transaction that is rolled back.
options:
  action:
    description:
      - What to do. C(verify) is read-only; every probe and verify script runs in a transaction that is
        rolled back.
    choices: [plan, migrate, rollback, verify, seed, backfill]
    default: plan
    type: str
  changeset:
    description: The change set as returned by the pg_migrate_changeset action (names, checksums, statement offsets).
    type: dict
    required: true
  scripts_dir:
    description: Directory on the managed host that holds the copied scripts (migrations/ and seeds/).
    type: path
    required: true
  login_db:
    description: Database to migrate.
    type: str
    required: true
  history_schema:
    description: Schema of the history table (created when absent).
    type: str
    default: public
  history_table:
    description: Name of the history table (created when absent).
    type: str
    default: pg_migrate_history
  target_version:
    description: Stop at (migrate) or revert down to (rollback) this version; V(000) reverts everything.
    type: str
  baseline_version:
    description:
      - On a database without history, record the migrations up to this version as applied (after their
        verify scripts pass) instead of running them.
    type: str
  allow_out_of_order:
    description: Apply pending versions that sort below the highest applied one.
    type: bool
    default: false
  repair:
    description: Record the current checksum of applied migrations whose file changed, instead of failing.
    type: bool
    default: false
  verify:
    description:
      - Run each migration's verify script right after it, in the same transaction; a failure rolls the
        migration back.
    type: bool
    default: true
  apply_repeatables:
    description: Apply repeatable (R__) scripts that are new or changed, after the versioned migrations.
    type: bool
    default: true
  lock_timeout:
    description: C(lock_timeout) for every migration.
    type: str
    default: 2s
  statement_timeout:
    description: C(statement_timeout) for every migration.
    type: str
    default: 30min
  lock_retries:
    description: How often a migration is retried after its lock timeout fired (SQLSTATE 55P03).
    type: int
    default: 3
  lock_retry_delay:
    description: Seconds before the first retry; doubled for each further one.
    type: float
    default: 2.0
  advisory_lock_wait:
    description: Seconds to wait for another run's advisory lock on the same database before failing.
    type: float
    default: 120
  rehearse:
    description:
      - For O(action=migrate) in check mode, execute the pending transactional scripts in one transaction and roll
        it back. A rollback always rehearses its transactional reverts this way before the first one runs (and in
        check mode), whatever this option says.
    type: bool
    default: false
  group_transactions:
    description: Apply consecutive transactional migrations in one transaction (all or nothing) instead of one each.
    type: bool
    default: false
  expected:
    description:
      - For O(action=verify), the change set's expected schema (expected_schema.yml); the entries in force at
        the database's version are returned as RV(expected_active).
    type: dict
  probes:
    description: For O(action=verify), the behavioural probes (probes.yml) with their fixtures.
    type: dict
  probe_lock_timeout:
    description: C(lock_timeout) of every probe transaction.
    type: str
    default: 1s
  force:
    description: For O(action=seed), apply every repeatable script, changed or not (they must be idempotent).
    type: bool
    default: false
  backfill:
    description:
      - For O(action=backfill), the scripts as discovered by the pg_migrate_changeset action, C(batch) and
        C(count). The batch script is one statement that links at most C(xp_backfill.batch_size) rows after
        the cursor C(xp_backfill.after_award_id) and returns C(linked), C(last_award_id) and
        C(default_versions); the count script returns C(remaining) and C(linkable).
    type: dict
  batch_size:
    description: For O(action=backfill), rows per batch (each batch is one transaction).
    type: int
    default: 5000
  cursor:
    description: For O(action=backfill), the keyset cursor to start from (0 starts at the beginning).
    type: int
    default: 0
  max_seconds:
    description: For O(action=backfill), return after the batch that crosses this many seconds (0, no limit).
    type: float
    default: 0
  batch_pause:
    description: For O(action=backfill), seconds to sleep between batches, to leave the server breathing room.
    type: float
    default: 0
  measure:
    description: For O(action=backfill), count what is left before the first batch (the count script).
    type: bool
    default: true
  phase:
    description: For O(action=backfill), the pass to continue (C(forward), or the final C(sweep) from the start).
    type: str
    choices: [forward, sweep]
    default: forward
  high_water:
    description:
      - For O(action=backfill), the newest row when the backfill started (the count script's C(high_water)); a
        pass ends once it gets past it, so rows that arrive meanwhile do not keep the backfill going forever.
    type: int
  password_handoff:
    description:
      - A path on the managed host where the module creates a FIFO (mode 0600) and reads the login password from
        it, written there by the role's pg_migrate_watch over the connection. Used for background (async) runs,
        whose arguments sit in a file on the host while they run; the password is then not among them.
    type: path
  progress_file:
    description:
      - A file on the managed host where O(action=migrate) and O(action=rollback) note which script is running
        (JSON), so a watcher (the role's pg_migrate_watch) can show progress of a long run; removed at the end.
    type: path
extends_documentation_fragment: []
author: pg_migrate developers
"""

EXAMPLES = r"""
- name: Apply the pending migrations
  pg_migrate:
    action: migrate
    changeset: "{{ __pg_migrate_changeset }}"
    scripts_dir: /var/lib/pg_migrate/xp
    login_db: xp
"""

RETURN = r"""
plan:
  description: What the run found and decided (versions, pending, drift, missing, out of order, problems).
  returned: always
  type: dict
applied:
  description: Migrations applied (version, script, checksum, duration_ms, attempts).
  returned: always
  type: list
reverted:
  description: Migrations reverted by a rollback.
  returned: always
  type: list
version:
  description: For O(action=verify), the version the database is at.
  returned: when action is verify
  type: str
expected_active:
  description: For O(action=verify), the expectations in force at that version.
  returned: when action is verify
  type: dict
probe_results:
  description: For O(action=verify), one result per probe and per verify script.
  returned: when action is verify
  type: list
failure:
  description: Where a failed run stopped (script, statement number, line, SQLSTATE, server message).
  returned: when a script failed
  type: dict
repeatables_applied:
  description: Repeatable scripts applied (script, checksum, duration_ms).
  returned: always
  type: list
backfill:
  description:
    - For O(action=backfill), this call's batches, rows linked, cursor, whether it is done, what is left
      (remaining, linkable) and whether it was a dry run (check mode).
  returned: when action is backfill
  type: dict
"""

import contextlib
import hashlib
import json
import math
import os
import queue
import re
import select
import threading
import time
from collections.abc import Callable

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pg_migrate_plan import (
    NO_VERSION,
    next_backfill_step,
    plan_migrate,
    plan_rollback,
    version_key,
)
from ansible_collections.community.postgresql.plugins.module_utils.postgres import (
    connect_to_db,
    ensure_required_libs,
    get_conn_params,
    postgres_common_argument_spec,
)

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
LOCK_NOT_AVAILABLE = "55P03"
DUPLICATE_TABLE = "42P07"
EXCERPT_CHARS = 160
CLIENT_CHECK_INTERVAL = "5s"


def boot_id():
    """This boot of the host (Linux); a pid noted before a reboot means nothing after it."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return None


class RunFailed(Exception):
    """An expected failure: the message says what happened, where, and what to do."""

    def __init__(self, message, **details):
        super().__init__(message)
        self.details = details


def sqlstate_of(exc):
    return getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)


def session_ended(exc):
    """The server ended the session (class 57P: terminated, shut down, crashed) or the connection broke (08)."""
    return str(sqlstate_of(exc) or "").startswith(("57P", "08"))


def error_kind(exc):
    """The DB-API class of a driver error (OperationalError, ...), stable across psycopg 2 and 3's subclasses."""
    for klass in type(exc).__mro__:
        if klass.__name__ in ("OperationalError", "InterfaceError", "InternalError", "DatabaseError"):
            return klass.__name__
    return type(exc).__name__


def describe_db_error(exc):
    """The server's message with DETAIL and HINT; never the statement text or a password."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).split("\n")[0]
    parts = [primary]
    for label, attribute in (("DETAIL", "message_detail"), ("HINT", "message_hint")):
        value = getattr(diag, attribute, None)
        if value:
            parts.append("%s: %s" % (label, value))
    return " ".join(parts)


def excerpt(statement_text):
    """The first line of a statement, shortened: enough to find it, never the whole script."""
    lines = [line.strip() for line in statement_text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    code_lines = [line for line in lines if not line.startswith("--")]
    if code_lines:
        first = code_lines[0]
    return first if len(first) <= EXCERPT_CHARS else first[: EXCERPT_CHARS - 3] + "..."


def quote_ident(name):
    return '"%s"' % name


class StatementFailed(Exception):
    def __init__(self, script, number, line, statement, exc):
        super().__init__(describe_db_error(exc))
        self.script = script
        self.number = number
        self.line = line
        self.statement = statement
        self.sqlstate = sqlstate_of(exc)
        self.error = describe_db_error(exc)

    def summary(self):
        """Where and why it failed, for the module's result (no statement text)."""
        return {
            "script": self.script,
            "statement": self.number,
            "line": self.line,
            "sqlstate": self.sqlstate,
            "error": self.error,
        }


# --- connection poolers: the run's advisory lock needs a server session of its own ----------------------
POOLING_CHECK_ROUNDS = 4  # rounds of the check; see docs/runbook.md, "Connection poolers (PgBouncer)"
POOLING_CHECK_WAIT = 5.0  # seconds one step of the check's second connection may wait for a server session
STATEMENT_POOLING = "statement pooling mode"  # in PgBouncer's error for any transaction block


class ConnectOnly:
    """The module as connect_to_db sees it, for a connection opened on another thread.

    There, the real module's fail_json would print the run's result from that thread and end only the
    thread; a failure must come back as an exception the check can weigh instead."""

    def __init__(self, params: dict) -> None:
        self.params = params

    def fail_json(self, msg: str, **_details: object) -> None:
        raise ConnectionError(msg)

    def warn(self, message: str) -> None:
        """Dropped: the check says itself what it could not do."""


class CheckIncomplete(Exception):
    """The check's second connection could not do its part in time: the check proves nothing either way."""


def backend_pid(conn) -> int:
    """The pid of the server session that serves CONN's transaction (one is begun when none is open)."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid() AS pid")
        row = cursor.fetchone()
    return int(row["pid"] if isinstance(row, dict) else row[0])


def next_backend_pid(conn) -> int:
    """The server session of one whole transaction of CONN: the pooler may hand it out again afterwards."""
    pid = backend_pid(conn)
    conn.commit()
    return pid


class CheckConnection:
    """A second connection whose steps run in order on a daemon thread, each waited for at most WAIT seconds.

    Behind a pooler it may have to queue for a server session (PgBouncer in session mode with pool_size=1
    has none to spare while the run holds one), and the check must never hang the run. close() queues the
    last step, so the connection goes as soon as a step that was given up on is done."""

    def __init__(self, connect: Callable[[], object], wait: float) -> None:
        self.conn = None
        self.wait = wait
        self.steps = queue.Queue()
        threading.Thread(target=self._work, daemon=True).start()
        try:
            self.run(lambda: self._open(connect))
        except CheckIncomplete:
            self.close()
            raise

    def _open(self, connect: Callable[[], object]) -> None:
        self.conn = connect()  # connected in autocommit: its session settings are committed, not left open
        self.conn.autocommit = False

    def _work(self) -> None:
        while True:
            step, answer = self.steps.get()
            try:
                answer.put((True, step()))
            except Exception as exc:  # handed to the waiting caller (or dropped, once it gave up)
                answer.put((False, exc))
            if step == self._close:
                return

    def run(self, step: Callable[[], object]) -> object:
        """STEP()'s result; CheckIncomplete when it failed or has not finished within the wait."""
        answer = queue.Queue(maxsize=1)
        self.steps.put((step, answer))
        try:
            done, value = answer.get(timeout=self.wait)
        except queue.Empty:
            raise CheckIncomplete("a second connection got no server session within %ss" % self.wait) from None
        if not done:
            raise CheckIncomplete("a second connection failed: %s" % " ".join(str(value).split()))
        return value

    def pid(self) -> int:
        """The server session of a transaction begun here and left open: it holds that session meanwhile."""
        return self.run(lambda: backend_pid(self.conn))

    def commit(self) -> None:
        self.run(lambda: self.conn.commit())

    def close(self) -> None:
        self.steps.put((self._close, queue.Queue(maxsize=1)))

    def _close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.rollback()
            with contextlib.suppress(Exception):
                self.conn.close()


def shared_server_session(conn, own: int, other: CheckConnection, rounds: int) -> str | None:
    """How CONN, last served by server session OWN, was seen sharing server sessions; None if it was not.

    Directly, or behind session pooling, a connection keeps one server session (backend pid) for its whole
    life: no other connection gets it and CONN never leaves it. Behind transaction pooling both happen, but
    PgBouncer hands out the most recently freed server session (LIFO; FIFO with server_round_robin=1), so a
    lone client keeps landing on the same one and "did my pid change" alone sees nothing. Here the other
    connection competes for CONN's session between CONN's transactions; rounds alternate who asks first
    after both let go, which catches both orders of reuse even with other clients on the same pool."""
    for round_number in range(rounds):
        if other.pid() == own:  # asks first after the run let go (LIFO reuse) or after both did (FIFO)
            return "another connection was handed this run's server session (backend pid %d)" % own
        now = next_backend_pid(conn)  # while the other connection holds a server session
        other.commit()
        if now == own and round_number % 2:
            now = next_backend_pid(conn)  # asks first after the other let go: gets its session under LIFO
        if now != own:
            return "the run's next transaction was served by another server session (backend pid %d, not %d)" % (
                now,
                own,
            )
    return None


def pooling_refusal(database: str, mode: str, why: str) -> str:
    """The refusal: what was found, why it matters, how to connect instead; nothing was changed."""
    return (
        "%s is reached through PgBouncer %s pooling (pool_mode=%s) or a pooler that works the same way: %s. "
        "Connect directly to PostgreSQL (pg_migrate_login_host and pg_migrate_login_port of the server, not of "
        "PgBouncer), or through a PgBouncer database entry with pool_mode=session, e.g. in [databases]: "
        "%s_migrate = host=<server> dbname=%s pool_mode=session. Nothing was changed."
        % (database, mode, mode, why, database, database)
    )


def refuse_transaction_pooling(runner) -> None:
    """Stop, before any change, when the run's connection goes through transaction or statement pooling.

    The migration and backfill locks are session advisory locks. Behind transaction pooling the lock stays on
    whichever pooled server session took it: the run reports success, every later run fails naming a client
    that has nothing to do with it, and two runs no longer exclude each other. Statement pooling refuses
    transactions outright. When the second connection cannot do its part (a connection limit, a full
    session pool) the check proves nothing; the run goes on with a warning rather than fail a setup that
    worked."""
    database = runner.params["login_db"]
    try:
        own = next_backend_pid(runner.conn)
    except Exception as exc:
        if STATEMENT_POOLING not in str(exc):
            raise
        raise RunFailed(
            pooling_refusal(
                database,
                "statement",
                "it refuses every transaction (%s), and pg_migrate applies each migration together with its "
                "history row in one transaction under a session advisory lock, which works neither behind "
                "statement pooling nor behind transaction pooling" % " ".join(str(exc).split()),
            )
        ) from None
    other = None
    try:
        other = CheckConnection(runner.connect_for_check, POOLING_CHECK_WAIT)
        found = shared_server_session(runner.conn, own, other, POOLING_CHECK_ROUNDS)
    except CheckIncomplete as incomplete:
        runner.module.warn(
            "pg_migrate could not check whether %s is reached through a transaction-pooling connection pooler "
            "(%s); the run went on without that check. Behind PgBouncer transaction pooling its %s lock would "
            "not protect the run: connect directly or through a session-pooled entry."
            % (database, incomplete, runner.lock_purpose)
        )
        return
    finally:
        if other is not None:
            other.close()
    if found:
        raise RunFailed(
            pooling_refusal(
                database,
                "transaction",
                "%s. The %s lock is a session advisory lock: behind transaction pooling it would stay on whichever "
                "pooled server session took it, later runs would fail naming a client that has nothing to do "
                "with them, and two runs would no longer exclude each other" % (found, runner.lock_purpose),
            )
        )


class Runner:
    def __init__(self, module, conn):
        self.module = module
        self.params = module.params
        self.conn = conn
        schema, table = self.params["history_schema"], self.params["history_table"]
        self.history = "%s.%s" % (quote_ident(schema), quote_ident(table))
        self.history_name = "%s.%s" % (schema, table)
        self.lock_key_text = "pg_migrate:%s" % self.history_name
        self.lock_purpose = "migration"
        self.progress_written = False
        self.locked = False
        self.scripts = {}
        self.current_script = None  # what was running when a run broke off, for the message
        self.lock_waited_s = 0.0
        self.open_connection = None  # a callable for a fresh session (set by main), e.g. after one was killed

    # --- SQL helpers ---------------------------------------------------------------------------
    def rows(self, sql, params=None):
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            if cursor.description is None:
                return []
            names = [column[0] for column in cursor.description]
            return [row if isinstance(row, dict) else dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def value(self, sql, params=None):
        result = self.rows(sql, params)
        return next(iter(result[0].values())) if result else None

    def rollback(self):
        """Roll back; on a session the server already ended, there is nothing to roll back, and the error that
        ended it (with the server's reason) is the one to report, not "the connection is lost"."""
        try:
            self.conn.rollback()
        except Exception:
            if not self.session_lost():
                raise

    def set_autocommit(self, enabled):
        if self.conn.autocommit != enabled:
            self.conn.rollback()
            self.conn.autocommit = enabled

    def set_timeouts(self, local):
        self.rows(
            "SELECT set_config('lock_timeout', %s, %s), set_config('statement_timeout', %s, %s)",
            (self.params["lock_timeout"], local, self.params["statement_timeout"], local),
        )

    # --- advisory lock: serialises runs against one database ------------------------------------
    def use_backfill_lock(self):
        """Backfills exclude each other, not migrations: a long backfill must not hold up a rollout."""
        self.lock_key_text = "pg_migrate-backfill:%s" % self.history_name
        self.lock_purpose = "backfill"

    def acquire_lock(self):
        refuse_transaction_pooling(self)  # before the lock and before any change
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
                holder = self.rows(
                    "SELECT a.pid, a.usename, a.application_name, a.client_addr::text AS client, "
                    "       a.backend_start::text AS since, a.state "
                    "  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    " WHERE l.locktype = 'advisory' AND l.granted "
                    "   AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(%s, 0)",
                    (self.lock_key_text,),
                )
                self.conn.rollback()
                who = (
                    (
                        "pid %(pid)s (user %(usename)s, application %(application_name)s, from %(client)s, "
                        "connected since %(since)s, %(state)s)" % holder[0]
                    )
                    if holder
                    else "another session"
                )
                raise RunFailed(
                    "another pg_migrate run holds the %s lock of %s (%s); waited %ss. Let it finish and "
                    "run again. If that session is stuck, end it with SELECT pg_terminate_backend(<pid>): its open "
                    "transaction rolls back and the lock is released."
                    % (self.lock_purpose, self.params["login_db"], who, int(self.params["advisory_lock_wait"]))
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def watch_client_connection(self):
        """Have the server notice a vanished client during a long statement (PostgreSQL 14 and later).

        Without it, the session of a job killed mid-statement (kill -9, the OOM killer) runs that statement to
        its end, holding its locks and the migration lock, before it finds the client gone and rolls back."""
        info = getattr(self.conn, "info", None)
        version = getattr(info, "server_version", None) or getattr(self.conn, "server_version", 0)
        if version >= 140000:
            self.rows("SELECT set_config('client_connection_check_interval', %s, false)", (CLIENT_CHECK_INTERVAL,))
            self.conn.commit()

    def lock_holder_pid(self):
        """The backend that holds the lock this run waits for (None when it was released meanwhile)."""
        pid = self.value(
            "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
            "   AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(%s, 0) LIMIT 1",
            (self.lock_key_text,),
        )
        self.conn.commit()
        return pid

    def release_lock(self):
        if self.locked:
            self.set_autocommit(False)
            self.rows("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (self.lock_key_text,))
            self.conn.commit()
            self.locked = False

    # --- history ------------------------------------------------------------------------------------
    def history_exists(self):
        exists = self.value("SELECT to_regclass(%s) IS NOT NULL AS present", (self.history,))
        self.conn.commit()
        return bool(exists)

    def history_ddl(self):
        table = self.params["history_table"]
        return [
            "CREATE SCHEMA IF NOT EXISTS %s" % quote_ident(self.params["history_schema"]),
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

    def ensure_history(self):
        if self.history_exists():
            return False
        for statement in self.history_ddl():
            self.rows(statement)
        self.conn.commit()
        return True

    def read_history(self):
        if not self.history_exists():
            return []
        history = self.rows(
            "SELECT installed_rank, version, description, script, checksum, kind, success, "
            "       applied_at::text AS applied_at, applied_by FROM %s ORDER BY installed_rank" % self.history
        )
        self.conn.commit()
        return history

    def record(self, kind, version, description, script, checksum, duration_ms, success):
        self.rows(
            "INSERT INTO %s (version, description, script, checksum, kind, execution_ms, success) "
            "VALUES (%%s, %%s, %%s, %%s, %%s, %%s, %%s)" % self.history,
            (version, description, script, checksum, kind, int(duration_ms), success),
        )

    # --- progress, for a watcher on the controller -------------------------------------------------------
    def write_note(self, state):
        """Write STATE (JSON) to this run's progress file, atomically.

        Every note carries the module's pid and the host's boot id, so the watcher on the controller can
        tell a job that still runs from one whose process died (kill -9, OOM killer, reboot)."""
        path = self.params.get("progress_file")
        if not path:
            return
        state = dict(state, action=self.params["action"], pid=os.getpid(), boot_id=boot_id(), since=time.time())
        try:
            with open(path + ".tmp", "w") as handle:
                json.dump(state, handle)
            os.replace(path + ".tmp", path)
            self.progress_written = True
        except OSError:
            pass  # progress is a courtesy: never fail a migration over it

    def note_progress(self, script, number, total):
        """Which script is running (NUMBER of TOTAL)."""
        self.current_script = script
        self.write_note({"state": "running", "script": script, "number": number, "total": total})

    def clear_progress(self):
        path = self.params.get("progress_file")
        if path and self.progress_written and os.path.exists(path):  # each run has its own file
            with contextlib.suppress(OSError):
                os.remove(path)

    # --- scripts on the managed host ------------------------------------------------------------------
    def script_text(self, entry):
        """The copied file, checked byte for byte against the controller's sha256 of its bytes ("bytes_sha256";
        "checksum" hashes the normalised text, for the history). A leading byte-order mark is dropped, as the
        controller dropped it before computing the statement offsets (PostgreSQL would reject it)."""
        path = os.path.join(self.params["scripts_dir"], entry["path"])
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

    def statements(self, entry):
        text = self.script_text(entry)
        return [
            (number, line, text[start:end]) for number, (start, end, line) in enumerate(entry["statements"], start=1)
        ]

    def run_script(self, entry):
        """Execute every statement of ENTRY; the rows of the last one."""
        rows = []
        self.current_script = entry["script"]
        for number, line, statement in self.statements(entry):
            try:
                rows = self.rows(statement)
            except Exception as exc:  # psycopg 2 and 3 errors share no base class we can import here
                if sqlstate_of(exc) is None or session_ended(exc):
                    raise  # not the script's doing: the run broke off (reported with the script it was running)
                raise StatementFailed(entry["script"], number, line, statement, exc) from exc
        return rows

    def session_lost(self):
        return bool(getattr(self.conn, "closed", False) or getattr(self.conn, "broken", False))

    def record_lost_attempt(self, kind, migration, entry, invalid_before):
        """On a new session: record the failed attempt of a marked script; the INVALID indexes it left."""
        if self.open_connection is None:
            return []
        fresh = self.open_connection()
        if fresh is None:
            return []
        with contextlib.suppress(Exception):
            self.conn.close()
        self.conn = fresh
        self.locked = False  # the killed session's lock went with it
        self.set_autocommit(True)
        left = [name for name in self.invalid_indexes() if name not in invalid_before]
        self.record(
            kind, migration.get("version"), migration["description"], entry["script"], entry["checksum"], 0, False
        )
        self.set_autocommit(False)
        return left

    def invalid_indexes(self):
        found = self.rows("SELECT indexrelid::regclass::text AS name FROM pg_index WHERE NOT indisvalid ORDER BY 1")
        if not self.conn.autocommit:
            self.conn.commit()
        return [row["name"] for row in found]

    # --- applying -------------------------------------------------------------------------------------
    def with_lock_retries(self, label, attempt_once):
        attempts = 0
        while True:
            attempts += 1
            try:
                return attempt_once(), attempts
            except StatementFailed as failure:
                if failure.sqlstate == LOCK_NOT_AVAILABLE and attempts <= self.params["lock_retries"]:
                    delay = self.params["lock_retry_delay"] * (2 ** (attempts - 1))
                    self.module.log(
                        "pg_migrate: %s hit lock_timeout (attempt %d); retrying in %.1fs" % (label, attempts, delay)
                    )
                    time.sleep(delay)
                    continue
                failure.attempts = attempts
                raise

    def apply_transactional(self, items):
        """ITEMS: [(kind, migration entry, script entry)] applied in one transaction with their history rows."""

        def attempt():
            self.set_autocommit(False)
            try:
                self.set_timeouts(local=True)
                timings = []
                for kind, migration, entry in items:
                    started = time.monotonic()
                    self.run_script(entry)
                    if kind == "migration" and self.params["verify"] and migration.get("verify"):
                        self.run_verify(migration)
                    duration = (time.monotonic() - started) * 1000
                    self.record(
                        kind,
                        migration.get("version"),
                        migration["description"],
                        entry["script"],
                        entry["checksum"],
                        duration,
                        True,
                    )
                    timings.append(duration)
                self.conn.commit()
                return timings
            except Exception:
                self.rollback()
                raise

        label = ", ".join(entry["script"] for _, _, entry in items)
        return self.with_lock_retries(label, attempt)

    def run_verify(self, migration):
        try:
            self.run_script(migration["verify"])
        except StatementFailed as failure:
            failure.verify_of = migration["script"]
            raise

    def execute_outside_transaction(self, entry):
        """Run a marked script statement by statement, each committing on its own: (duration_ms, attempts)."""

        def attempt():
            self.set_autocommit(True)
            self.set_timeouts(local=False)
            started = time.monotonic()
            self.run_script(entry)
            return (time.monotonic() - started) * 1000

        try:
            return self.with_lock_retries(entry["script"], attempt)
        finally:
            # Session settings outlive the script here (and a script may SET its own): reset them.
            if not self.session_lost():
                self.rows("RESET lock_timeout")
                self.rows("RESET statement_timeout")

    def apply_outside_transaction(self, kind, migration, entry):
        """A marked script: each statement commits on its own; the history row follows success."""
        before = set(self.invalid_indexes())
        try:
            duration, attempts = self.execute_outside_transaction(entry)
            if kind == "migration" and self.params["verify"] and migration.get("verify"):
                self.run_verify(migration)
        except StatementFailed as failure:
            failure.left_invalid = [name for name in self.invalid_indexes() if name not in before]
            failure.outside_transaction = True
            self.set_autocommit(True)
            self.record(
                kind, migration.get("version"), migration["description"], entry["script"], entry["checksum"], 0, False
            )
            self.set_autocommit(False)
            raise
        except Exception as exc:
            if not self.session_lost():
                raise
            # The session was killed mid-script (pg_terminate_backend, a failover): statements before it stayed
            # committed, and a CREATE INDEX CONCURRENTLY leaves an INVALID index. A new session records the
            # failed attempt and finds that index, so the message can name it.
            left = self.record_lost_attempt(kind, migration, entry, before)
            raise RunFailed(lost_session_message(self.params, entry["script"], exc, left)) from None
        self.record(
            kind, migration.get("version"), migration["description"], entry["script"], entry["checksum"], duration, True
        )
        self.set_autocommit(False)
        return duration, attempts


def stopped_by(result, failure, action, from_version):
    """A failed script ends the run: its fields go into the result, its advice into the RunFailed to raise."""
    result["failure"] = failure.summary()
    return RunFailed(failure_message(failure, action, from_version))


def failure_message(failure, action, from_version):
    where = "%s, statement %d (line %d)" % (failure.script, failure.number, failure.line)
    if getattr(failure, "verify_of", None):
        what = "the verify script of %s failed at %s" % (failure.verify_of, where)
    else:
        what = "%s failed at statement %d (line %d)" % (failure.script, failure.number, failure.line)
    message = "%s [SQLSTATE %s]: %s. Statement: %s." % (
        what,
        failure.sqlstate,
        failure.error,
        excerpt(failure.statement),
    )
    if failure.sqlstate == LOCK_NOT_AVAILABLE:
        message += (
            " The lock timeout fired on every attempt (%d): another session holds a conflicting lock "
            "for longer; find it in pg_stat_activity/pg_locks and retry when it is gone."
            % getattr(failure, "attempts", 1)
        )
    if getattr(failure, "outside_transaction", False):
        message += (
            " This script runs outside a transaction: statements before the failing one stayed "
            "committed, and the run is recorded as failed; fix the cause and run again (the script must "
            "be safe to re-run)."
        )
        for index in getattr(failure, "left_invalid", []):
            message += (
                " It left the INVALID index %s behind (a failed CREATE INDEX CONCURRENTLY): re-running a "
                "script that drops it first repairs it, or remove it with DROP INDEX CONCURRENTLY %s;" % (index, index)
            )
    elif action == "rehearsal":
        pass  # the caller says that everything was rolled back
    elif action == "rollback":
        message += " The revert was rolled back; the database is still at version %s." % from_version
    elif action == "seed":
        message += " The seed script was rolled back; the data is as it was before this run."
    elif action == "backfill":
        message += (
            " That batch was rolled back; earlier batches stay committed. The backfill is safe to re-run: "
            "it continues with the rows still unlinked."
        )
    else:
        message += " The migration was rolled back; the database is at version %s." % from_version
    if failure.sqlstate == DUPLICATE_TABLE and from_version == NO_VERSION:
        message += (
            " If this database already has this schema (it predates pg_migrate), adopt it with "
            "pg_migrate_baseline_version instead of re-creating it."
        )
    return message


def lost_session_message(params, script, exc, left_invalid):
    """A marked script whose session ended under it: what stayed, what it left, what to do."""
    detail = " ".join(str(exc).split()) or exc.__class__.__name__
    message = (
        "the session running %s on %s ended under it: %s: %s. This script runs outside a transaction: statements "
        "before the interrupted one stayed committed, and the run is recorded as failed."
        % (script, params["login_db"], error_kind(exc), detail)
    )
    for index in left_invalid:
        message += (
            " It left the INVALID index %s behind (an interrupted CREATE INDEX CONCURRENTLY): re-running a script "
            "that drops it first repairs it, or remove it with DROP INDEX CONCURRENTLY %s;" % (index, index)
        )
    return message + " Run playbooks/status.yml to see where the database stands, then run the playbook again."


def render_diff(runner, entries, header):
    chunks = []
    for label, entry in entries:
        chunks.append(
            "-- ===== %s: %s (%s) =====\n%s" % (header, entry["script"], label, runner.script_text(entry).rstrip("\n"))
        )
    return "\n\n".join(chunks) + ("\n" if chunks else "")


def run_migrate(module, runner, result):
    params = module.params
    check = module.check_mode
    rehearse = check and params["rehearse"]

    if not check or rehearse:
        runner.acquire_lock()
    history = runner.read_history()

    plan = plan_migrate(
        params["changeset"],
        history,
        params["target_version"],
        params["baseline_version"],
        params["allow_out_of_order"],
        params["repair"],
    )
    if not params["apply_repeatables"]:
        plan["repeatables"] = []
    latest = params["changeset"]["migrations"][-1]["version"] if params["changeset"]["migrations"] else None
    if plan["repeatables"] and latest and version_key(plan["to_version"]) < version_key(latest):
        # Seeds are written against the change set's latest schema: a run that stops below it
        # (pg_migrate_target_version) leaves them for the run that gets there.
        plan["repeatables_deferred"] = [r["script"] for r in plan["repeatables"]]
        plan["repeatables"] = []
    result["plan"] = plan
    if plan["problems"]:
        raise RunFailed(
            "the version check stopped the run on %s; nothing was changed:\n  - %s"
            % (params["login_db"], "\n  - ".join(plan["problems"]))
        )

    migrations = {m["version"]: m for m in params["changeset"]["migrations"]}
    repeatables = {r["script"]: r for r in params["changeset"]["repeatables"]}
    pending = [migrations[p["version"]] for p in plan["pending"]]
    pending_repeatables = [repeatables[r["script"]] for r in plan["repeatables"]]

    # Every file this run may execute is checked against its checksum before anything is changed.
    for migration in pending:
        runner.script_text(migration)
        if params["verify"] and migration.get("verify"):
            runner.script_text(migration["verify"])
    for migration in plan["baseline"]:
        full = migrations[migration["version"]]
        if full.get("verify"):
            runner.script_text(full["verify"])
    for repeatable in pending_repeatables:
        runner.script_text(repeatable)

    would_change = bool(pending or plan["baseline"] or plan["repair"] or pending_repeatables)
    if module._diff and would_change:
        entries = [("pending", m) for m in pending] + [
            ("repeatable, %s" % r["reason"], repeatables[r["script"]]) for r in plan["repeatables"]
        ]
        result["diff"] = {
            "before": "",
            "after": render_diff(runner, entries, "would run" if check else "ran"),
            "before_header": "%s @ %s" % (params["login_db"], plan["from_version"]),
            "after_header": "%s @ %s" % (params["login_db"], plan["to_version"]),
        }

    if check:
        result["changed"] = would_change
        if rehearse:
            result["rehearsal"] = rehearse_migrations(runner, pending, pending_repeatables)
        return

    # Only a run that passed the version check creates the history table: a refused run creates nothing.
    result["history_created"] = runner.ensure_history()
    result["changed"] = result["changed"] or result["history_created"]

    if plan["repair"]:
        for item in plan["repair"]:
            runner.rows(
                "UPDATE %s SET checksum = %%s WHERE version = %%s AND success AND kind <> 'repeatable'"
                % runner.history,
                (item["file_checksum"], item["version"]),
            )
        runner.conn.commit()
        result["repaired"] = plan["repair"]
        result["changed"] = True

    if plan["baseline"]:
        baseline_migrations(runner, [migrations[m["version"]] for m in plan["baseline"]])
        result["baselined"] = [m["version"] for m in plan["baseline"]]
        result["changed"] = True

    current = plan["from_version"] if not plan["baseline"] else plan["baseline"][-1]["version"]
    groups = group_for_execution(pending, params["group_transactions"])
    number = 0
    for group in groups:
        number += len(group)
        runner.note_progress(" + ".join(m["script"] for m in group), number, len(pending))
        try:
            if group[0]["transactional"]:
                timings, attempts = runner.apply_transactional([("migration", m, m) for m in group])
            else:
                duration, attempts = runner.apply_outside_transaction("migration", group[0], group[0])
                timings = [duration]
        except StatementFailed as failure:
            raise stopped_by(result, failure, "migrate", current) from None
        for migration, duration in zip(group, timings, strict=True):
            result["applied"].append(
                {
                    "version": migration["version"],
                    "script": migration["script"],
                    "checksum": migration["checksum"],
                    "duration_ms": round(duration, 1),
                    "attempts": attempts,
                    "transactional": migration["transactional"],
                }
            )
            current = migration["version"]
        result["changed"] = True

    apply_repeatables(runner, result, pending_repeatables, current)
    plan["to_version"] = current if pending else plan["to_version"]


def apply_repeatables(runner, result, repeatables, current, action="migrate"):
    for repeatable in repeatables:
        try:
            if repeatable["transactional"]:
                timings, _attempts = runner.apply_transactional([("repeatable", repeatable, repeatable)])
                duration = timings[0]
            else:
                duration, _attempts = runner.apply_outside_transaction("repeatable", repeatable, repeatable)
        except StatementFailed as failure:
            raise stopped_by(result, failure, action, current) from None
        result["repeatables_applied"].append(
            {"script": repeatable["script"], "checksum": repeatable["checksum"], "duration_ms": round(duration, 1)}
        )
        result["changed"] = True


def plan_at_latest(runner, result, step, migrate_note=""):
    """The plan of a data step (seed, backfill): refused unless every migration is applied and nothing drifted."""
    params = runner.params
    plan = plan_migrate(params["changeset"], runner.read_history(), None, None, params["allow_out_of_order"], False)
    result["plan"] = plan
    if plan["pending"]:
        raise RunFailed(
            "the %s needs the change set's schema, but %s is at version %s with %d migration(s) pending (%s): "
            "run playbooks/migrate.yml first%s; nothing was changed."
            % (
                step,
                params["login_db"],
                plan["from_version"],
                len(plan["pending"]),
                " ".join(p["version"] for p in plan["pending"]),
                migrate_note,
            )
        )
    if plan["problems"]:
        raise RunFailed(
            "the version check stopped the %s on %s; nothing was changed:\n  - %s"
            % (step, params["login_db"], "\n  - ".join(plan["problems"]))
        )
    return plan


def run_seed(module, runner, result):
    """The repeatable scripts (the seed) on their own, on a database whose migrations are all applied."""
    params = module.params
    check = module.check_mode
    changeset = params["changeset"]
    if not changeset["repeatables"]:
        raise RunFailed(
            "the change set has no seed (no R__*.sql in pg_migrate_seeds_dir); nothing was changed. "
            "Check pg_migrate_seeds_dir and pg_migrate_seeds_enabled in this environment's group_vars."
        )
    if not check:
        runner.acquire_lock()
    plan = plan_at_latest(runner, result, "seed", " (it applies the enabled seed too)")
    if params["force"]:
        listed = {r["script"] for r in plan["repeatables"]}
        plan["repeatables"] = plan["repeatables"] + [
            {"script": r["script"], "reason": "forced", "checksum": r["checksum"]}
            for r in changeset["repeatables"]
            if r["script"] not in listed
        ]
    by_script = {r["script"]: r for r in changeset["repeatables"]}
    seeds = [by_script[r["script"]] for r in plan["repeatables"]]
    for seed in seeds:
        runner.script_text(seed)
    if module._diff and seeds:
        result["diff"] = {
            "before": "",
            "after": render_diff(runner, [("seed", s) for s in seeds], "would run" if check else "ran"),
        }
    if check:
        result["changed"] = bool(seeds)
        return
    apply_repeatables(runner, result, seeds, plan["from_version"], "seed")


def count_backfill(runner, count_entry):
    """(remaining, linkable, high_water) from the count script; high_water: the newest row when counted."""
    rows = runner.run_script(count_entry)
    runner.conn.commit()
    if not rows or "remaining" not in rows[0] or "linkable" not in rows[0]:
        raise RunFailed(
            "%s must return one row with the columns remaining and linkable (and high_water); it returned %s"
            % (count_entry["script"], ", ".join(rows[0]) if rows else "no row")
        )
    row = rows[0]
    high_water = row.get("high_water")
    return int(row["remaining"] or 0), int(row["linkable"] or 0), (int(high_water) if high_water is not None else None)


def backfill_batch(runner, batch_entry, batch_size, cursor):
    """One batch in its own transaction: (linked, last_award_id, default_versions)."""

    def attempt():
        runner.set_autocommit(False)
        try:
            runner.set_timeouts(local=True)
            runner.rows(
                "SELECT set_config('xp_backfill.batch_size', %s, true), "
                "       set_config('xp_backfill.after_award_id', %s, true)",
                (str(batch_size), str(cursor)),
            )
            rows = runner.run_script(batch_entry)
            runner.conn.commit()
            return rows[0] if rows else {}
        except Exception:
            runner.rollback()
            raise

    row, _attempts = runner.with_lock_retries(batch_entry["script"], attempt)
    if not all(column in row for column in ("linked", "last_award_id", "default_versions")):
        raise RunFailed(
            "%s must return one row with the columns linked, last_award_id and default_versions; it returned %s"
            % (batch_entry["script"], ", ".join(row) or "no row")
        )
    last = row["last_award_id"]
    return int(row["linked"]), (int(last) if last is not None else None), int(row["default_versions"])


def run_backfill(module, runner, result):
    """Batches until done or out of time. Resumable by design: the work queue is the rows still unlinked."""
    params = module.params
    check = module.check_mode
    scripts = params["backfill"] or {}
    if not scripts.get("batch") or not scripts.get("count"):
        raise RunFailed(
            "no backfill script was given: set pg_migrate_backfill_script to the batch script "
            "(its companion <name>.count.sql must exist beside it)"
        )
    if params["batch_size"] < 1:
        raise RunFailed(
            "pg_migrate_backfill_batch_size must be a positive number of rows, not %d" % params["batch_size"]
        )
    plan = plan_at_latest(runner, result, "backfill")
    for entry in (scripts["batch"], scripts["count"]):
        runner.script_text(entry)
    report = {
        "batch_size": params["batch_size"],
        "batches": 0,
        "linked": 0,
        "cursor": params["cursor"],
        "phase": params["phase"],
        "high_water": params["high_water"],
        "done": False,
        "dry_run": check,
        "remaining": None,
        "linkable": None,
        "remaining_at_start": None,
        "duration_s": 0.0,
    }
    result["backfill"] = report
    started = time.monotonic()
    try:
        if params["measure"] or check:
            report["remaining_at_start"], report["linkable"], report["high_water"] = count_backfill(
                runner, scripts["count"]
            )
            report["remaining"] = report["remaining_at_start"]
    except StatementFailed as failure:
        raise stopped_by(result, failure, "backfill", plan["from_version"]) from None
    if check:
        # A dry run: how much work there is, in how many batches; no row is touched.
        report["batches"] = math.ceil(report["linkable"] / params["batch_size"])
        report["done"] = report["linkable"] == 0
        result["changed"] = report["linkable"] > 0
        return

    runner.use_backfill_lock()
    runner.acquire_lock()
    cursor, phase, high_water = params["cursor"], params["phase"], report["high_water"]
    while True:
        try:
            linked, last, default_versions = backfill_batch(runner, scripts["batch"], params["batch_size"], cursor)
        except StatementFailed as failure:
            raise stopped_by(result, failure, "backfill", plan["from_version"]) from None
        if default_versions == 0:
            raise RunFailed(
                "the backfill found no published default policy version to link awards to: apply the seed first "
                "(ansible-playbook -i inventories/<env> playbooks/seed.yml); nothing was changed."
            )
        report["batches"] += 1
        report["linked"] += linked
        result["changed"] = result["changed"] or linked > 0
        phase, cursor, done = next_backfill_step(phase, cursor, linked, last, high_water)
        report.update(cursor=cursor, phase=phase)
        if done:
            report["done"] = True
            break
        if params["max_seconds"] and time.monotonic() - started >= params["max_seconds"]:
            break
        if params["batch_pause"]:
            time.sleep(params["batch_pause"])
    if report["done"]:
        try:
            report["remaining"], report["linkable"], _ = count_backfill(runner, scripts["count"])
        except StatementFailed as failure:
            raise stopped_by(result, failure, "backfill", plan["from_version"]) from None
    report["duration_s"] = round(time.monotonic() - started, 3)


def group_for_execution(pending, group_transactions):
    """One migration per transaction, or runs of consecutive transactional ones together."""
    groups = []
    for migration in pending:
        if group_transactions and migration["transactional"] and groups and groups[-1][0]["transactional"]:
            groups[-1].append(migration)
        else:
            groups.append([migration])
    return groups


def baseline_migrations(runner, migrations):
    """Adopt an existing schema: its verify scripts must pass, then the versions are recorded, not run."""
    runner.set_autocommit(False)
    try:
        runner.set_timeouts(local=True)
        for migration in migrations:
            if migration.get("verify"):
                try:
                    runner.run_script(migration["verify"])
                except StatementFailed as failure:
                    raise RunFailed(
                        "baseline refused: %s fails on this database [SQLSTATE %s]: %s. The database does not have "
                        "the schema of version %s, so it cannot be adopted at that version; nothing was changed."
                        % (failure.script, failure.sqlstate, failure.error, migration["version"])
                    ) from None
            runner.record(
                "baseline",
                migration["version"],
                migration["description"],
                migration["script"],
                migration["checksum"],
                0,
                True,
            )
        runner.conn.commit()
    except Exception:
        runner.rollback()
        raise


def rehearse_migrations(runner, pending, repeatables):
    """Execute the pending transactional scripts in ONE transaction, then roll it back."""
    report = {"rehearsed": [], "not_rehearsed": [], "rolled_back": True}
    runner.set_autocommit(False)
    try:
        runner.set_timeouts(local=True)
        for statement in runner.history_ddl():
            runner.rows(statement)
        for kind, item in [("migration", m) for m in pending] + [("repeatable", r) for r in repeatables]:
            if not item["transactional"]:
                report["not_rehearsed"].append(
                    {"script": item["script"], "reason": "runs outside a transaction, cannot be rolled back"}
                )
                continue
            started = time.monotonic()
            try:
                runner.run_script(item)
                if kind == "migration" and runner.params["verify"] and item.get("verify"):
                    runner.run_verify(item)
            except StatementFailed as failure:
                message = failure_message(failure, "rehearsal", None)
                raise RunFailed("rehearsal failed (everything was rolled back, nothing changed): " + message) from None
            report["rehearsed"].append(
                {"script": item["script"], "duration_ms": round((time.monotonic() - started) * 1000, 1)}
            )
    finally:
        runner.rollback()
    return report


def run_rollback(module, runner, result):
    """Revert newest first down to the target, each revert with its history row; refused before the first one
    when the plan has problems or the rehearsal of the chain fails, so a rollback never stops half way for a
    reason that was known in advance."""
    params = module.params
    check = module.check_mode
    if params["target_version"] in (None, ""):
        raise RunFailed("a rollback needs pg_migrate_target_version (the version to go back to; 000 reverts all)")
    # Check mode too: it rehearses the reverts like the real run, so it needs the same stable history.
    runner.acquire_lock()
    history = runner.read_history()
    plan = plan_rollback(params["changeset"], history, params["target_version"])
    result["plan"] = plan
    if plan["problems"]:
        raise RunFailed(
            "the rollback of %s to %s was refused; nothing was changed:\n  - %s"
            % (params["login_db"], params["target_version"], "\n  - ".join(plan["problems"]))
        )
    migrations = {m["version"]: m for m in params["changeset"]["migrations"]}
    reverts = [(migrations[item["version"]], migrations[item["version"]]["revert"]) for item in plan["revert"]]
    for _, revert in reverts:
        runner.script_text(revert)
    if module._diff and reverts:
        result["diff"] = {
            "before": "",
            "after": render_diff(runner, [("revert", r) for _, r in reverts], "would run" if check else "ran"),
        }
    if reverts:
        result["rehearsal"] = rehearse_reverts(runner, result, [revert for _, revert in reverts], plan, check)
    if check:
        result["changed"] = bool(reverts)
        return

    current = plan["from_version"]
    for number, (migration, revert) in enumerate(reverts, start=1):
        runner.note_progress(revert["script"], number, len(reverts))
        delete = ("DELETE FROM %s WHERE version = %%s AND kind = 'migration'" % runner.history, (migration["version"],))
        try:
            if revert["transactional"]:

                def attempt(revert=revert, delete=delete):
                    runner.set_autocommit(False)
                    try:
                        runner.set_timeouts(local=True)
                        started = time.monotonic()
                        runner.run_script(revert)
                        runner.rows(*delete)
                        runner.conn.commit()
                        return (time.monotonic() - started) * 1000
                    except Exception:
                        runner.rollback()
                        raise

                duration, attempts = runner.with_lock_retries(revert["script"], attempt)
            else:
                duration, attempts = runner.execute_outside_transaction(revert)
                runner.rows(*delete)
                runner.set_autocommit(False)
        except StatementFailed as failure:
            raise stopped_by(result, failure, "rollback", current) from None
        result["reverted"].append(
            {
                "version": migration["version"],
                "script": revert["script"],
                "duration_ms": round(duration, 1),
                "attempts": attempts,
            }
        )
        remaining = [v for v in plan["revert_versions"] if v != migration["version"]]
        plan["revert_versions"] = remaining
        current = _version_below(history, migration["version"])
        result["changed"] = True


NOT_REHEARSED = "runs outside a transaction, cannot be rolled back"


def rehearse_reverts(runner: Runner, result: dict, reverts: list[dict], plan: dict, check: bool) -> dict:
    """Run the transactional REVERTS of the plan, in order, in ONE transaction, then roll it back.

    Each real revert commits on its own, so a revert that refuses late in the chain (U002 while a
    policy is published) used to leave the database half way, at a version nobody asked for. Its
    refusal is found here first, while the database is still where it was. A marked no-transaction
    revert cannot run in a transaction: it is skipped and listed in "not_rehearsed". The rehearsal
    holds the same table locks as the real reverts, with the run's timeouts and lock-timeout retries.
    """
    transactional = [revert for revert in reverts if revert["transactional"]]
    skipped = [
        {"script": revert["script"], "reason": NOT_REHEARSED} for revert in reverts if not revert["transactional"]
    ]

    def attempt() -> list[dict]:
        rehearsed = []
        runner.set_autocommit(False)
        try:
            runner.set_timeouts(local=True)
            for number, revert in enumerate(transactional, start=1):
                if not check:  # check mode runs in the foreground, with no watcher to read the note
                    runner.note_progress("%s (rehearsal)" % revert["script"], number, len(transactional))
                started = time.monotonic()
                runner.run_script(revert)
                rehearsed.append(
                    {"script": revert["script"], "duration_ms": round((time.monotonic() - started) * 1000, 1)}
                )
            return rehearsed
        finally:
            runner.rollback()

    rehearsed = []
    if transactional:
        try:
            rehearsed, _attempts = runner.with_lock_retries("the rehearsal of the reverts", attempt)
        except StatementFailed as failure:
            result["failure"] = failure.summary()
            raise RunFailed(rehearsal_refusal(runner.params, plan, failure, check)) from None
    return {"rehearsed": rehearsed, "not_rehearsed": skipped, "rolled_back": True}


def rehearsal_refusal(params: dict, plan: dict, failure: StatementFailed, check: bool) -> str:
    """The refusal of a rollback whose rehearsal failed: which revert would refuse, the server's reason, the fix."""
    message = (
        "the rollback of %s to %s %s; nothing was changed (the database is still at version %s, its history as it "
        "was). The rehearsal, which runs the reverts in one transaction and rolls it back, stopped at %s, statement "
        "%d (line %d) [SQLSTATE %s]: %s. Statement: %s."
        % (
            params["login_db"],
            params["target_version"],
            "would be refused" if check else "was refused before its first revert",
            plan["from_version"],
            failure.script,
            failure.number,
            failure.line,
            failure.sqlstate,
            failure.error,
            excerpt(failure.statement),
        )
    )
    if failure.sqlstate == LOCK_NOT_AVAILABLE:
        message += (
            " The lock timeout fired on every attempt (%d): another session holds a conflicting lock for longer; "
            "find it in pg_stat_activity/pg_locks." % getattr(failure, "attempts", 1)
        )
    return message + (
        " Remove the cause the server names and run the rollback again; or stay at %s and fix forward with a new "
        "migration." % plan["from_version"]
    )


def _version_below(history, version):
    from ansible.module_utils.pg_migrate_plan import version_key

    keys = sorted(
        (version_key(row["version"]), row["version"])
        for row in history
        if row.get("kind") in ("migration", "baseline")
        and row.get("success", True)
        and version_key(row["version"]) < version_key(version)
    )
    return keys[-1][1] if keys else NO_VERSION


def current_version(history):
    applied = [
        row["version"] for row in history if row.get("kind") in ("migration", "baseline") and row.get("success", True)
    ]
    return max(applied, key=version_key) if applied else NO_VERSION


def in_force(entry, version):
    """Whether an expectation or probe applies at VERSION: since <= version < until."""
    key = version_key(version)
    if version_key(entry.get("since", NO_VERSION)) > key:
        return False
    return entry.get("until") in (None, "") or key < version_key(entry["until"])


def active_expectations(expected, version):
    return {
        kind: [entry for entry in entries if in_force(entry, version)] if isinstance(entries, list) else entries
        for kind, entries in (expected or {}).items()
    }


def run_in_rolled_back_transaction(runner, statements):
    """Execute STATEMENTS; return (sqlstate, constraint, message) of the first error, or None. Always rolls back."""
    runner.set_autocommit(False)
    try:
        runner.rows(
            "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
            (runner.params["probe_lock_timeout"], "30s"),
        )
        for statement in statements:
            try:
                runner.rows(statement)
            except Exception as exc:
                if sqlstate_of(exc) is None:
                    raise
                diag = getattr(exc, "diag", None)
                return sqlstate_of(exc), getattr(diag, "constraint_name", None), describe_db_error(exc)
        return None
    finally:
        runner.rollback()


def run_probe(runner, probe, fixtures):
    setup = []
    for name in probe.get("fixtures", []):
        setup.extend(fixtures[name])
    setup.extend(probe.get("setup", []))
    expect = str(probe.get("expect", "success"))
    wanted = (
        "success"
        if expect == "success"
        else "SQLSTATE %s%s" % (expect, " from %s" % probe["object"] if probe.get("object") else "")
    )
    failed_setup = run_in_rolled_back_transaction(runner, setup) if setup else None
    if failed_setup:
        found = "the probe's setup failed: SQLSTATE %s: %s" % (failed_setup[0], failed_setup[2])
        outcome = None
    else:
        outcome = run_in_rolled_back_transaction(runner, [*setup, probe["statement"]])
        if outcome is None:
            found = "success (the statement was accepted)"
        else:
            found = "SQLSTATE %s%s: %s" % (outcome[0], " from %s" % outcome[1] if outcome[1] else "", outcome[2])
    if failed_setup:
        passed = False
    elif expect == "success":
        passed = outcome is None
    else:
        passed = (
            outcome is not None and outcome[0] == expect and (not probe.get("object") or outcome[1] == probe["object"])
        )
    message = (
        ("ok: %s" % probe["name"])
        if passed
        else ("probe failed: %s: expected %s, got %s" % (probe["name"], wanted, found))
    )
    return {
        "id": "probe %s" % probe["name"],
        "kind": "probe",
        "object": probe.get("object") or probe["name"],
        "table": probe.get("table"),
        "passed": passed,
        "message": message,
        "expected": wanted,
        "found": found,
    }


def run_verify(module, runner, result):
    params = module.params
    history = runner.read_history()
    version = current_version(history)
    result["version"] = version
    result["expected_active"] = active_expectations(params["expected"], version)
    results = []
    applied = {
        row["version"] for row in history if row.get("success", True) and row.get("kind") in ("migration", "baseline")
    }
    for migration in params["changeset"]["migrations"]:
        if migration["version"] not in applied or not migration.get("verify"):
            continue
        statements = [text for _, _, text in runner.statements(migration["verify"])]
        outcome = run_in_rolled_back_transaction(runner, statements)
        script = migration["verify"]["script"]
        results.append(
            {
                "id": "verify script %s" % script,
                "kind": "verify script",
                "object": script,
                "table": None,
                "passed": outcome is None,
                "expected": "no error",
                "found": "no error" if outcome is None else "SQLSTATE %s: %s" % (outcome[0], outcome[2]),
                "message": ("ok: verify script %s" % script)
                if outcome is None
                else "verify script %s failed: SQLSTATE %s: %s" % (script, outcome[0], outcome[2]),
            }
        )
    probes = params["probes"] or {}
    for probe in probes.get("probes", []):
        if in_force(probe, version):
            results.append(run_probe(runner, probe, probes.get("fixtures", {})))
    result["probe_results"] = results


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        action=dict(type="str", default="plan", choices=["plan", "migrate", "rollback", "verify", "seed", "backfill"]),
        changeset=dict(type="dict", required=True),
        scripts_dir=dict(type="path", required=True),
        login_db=dict(type="str", required=True),
        history_schema=dict(type="str", default="public"),
        history_table=dict(type="str", default="pg_migrate_history"),
        target_version=dict(type="str"),
        baseline_version=dict(type="str"),
        allow_out_of_order=dict(type="bool", default=False),
        repair=dict(type="bool", default=False),
        verify=dict(type="bool", default=True),
        apply_repeatables=dict(type="bool", default=True),
        lock_timeout=dict(type="str", default="2s"),
        statement_timeout=dict(type="str", default="30min"),
        lock_retries=dict(type="int", default=3),
        lock_retry_delay=dict(type="float", default=2.0),
        advisory_lock_wait=dict(type="float", default=120),
        rehearse=dict(type="bool", default=False),
        group_transactions=dict(type="bool", default=False),
        expected=dict(type="dict"),
        probes=dict(type="dict"),
        probe_lock_timeout=dict(type="str", default="1s"),
        force=dict(type="bool", default=False),
        backfill=dict(type="dict"),
        batch_size=dict(type="int", default=5000),
        cursor=dict(type="int", default=0),
        max_seconds=dict(type="float", default=0),
        batch_pause=dict(type="float", default=0),
        measure=dict(type="bool", default=True),
        phase=dict(type="str", default="forward", choices=["forward", "sweep"]),
        high_water=dict(type="int"),
        progress_file=dict(type="path"),
        password_handoff=dict(type="path", no_log=False),  # a path: the password itself comes through it
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    for option in ("history_schema", "history_table"):
        if not IDENTIFIER.match(module.params[option]):
            module.fail_json(
                msg="%s %r is not a plain lower-case SQL identifier (letters, digits, _; at most 63): "
                "choose a name like pg_migrate_history" % (option, module.params[option])
            )

    ensure_required_libs(module)
    runner = Runner(module, None)
    runner.write_note({"state": "starting"})
    params = module.params
    if module.params["password_handoff"]:
        try:
            secret = receive_password(module.params["password_handoff"], HANDOFF_WAIT)
        except RunFailed as failure:
            runner.clear_progress()
            module.fail_json(msg=str(failure), changed=False)
        # Masked wherever the module's output could carry it, as if it had come as a no_log argument.
        module.no_log_values.add(secret)
        params = dict(module.params, login_password=secret)  # not in module.params: those are echoed back
    conn_params = get_conn_params(module, params, warn_db_default=False)
    conn_params.setdefault("application_name", "pg_migrate")
    # Connected in autocommit, so the driver's own session settings (datestyle) are no open transaction: a
    # statement-pooling PgBouncer refuses transactions, and the pooling check must get to say so.
    conn, _ = connect_to_db(module, conn_params, autocommit=True)
    conn.autocommit = False
    runner.conn = conn
    runner.open_connection = lambda: connect_to_db(module, dict(conn_params), autocommit=False, fail_on_conn=False)[0]
    runner.connect_for_check = lambda: connect_to_db(ConnectOnly(module.params), dict(conn_params), autocommit=True)[0]
    result = dict(
        changed=False,
        applied=[],
        reverted=[],
        repeatables_applied=[],
        plan={},
        database=module.params["login_db"],
        action=module.params["action"],
    )
    try:
        if module.params["action"] == "plan":
            history = runner.read_history()
            result["plan"] = plan_migrate(
                module.params["changeset"],
                history,
                module.params["target_version"],
                module.params["baseline_version"],
                module.params["allow_out_of_order"],
                module.params["repair"],
            )
            result["history"] = history
            result["plan"]["failed_attempts"] = failed_attempts(history)
            result["plan"]["invalid_indexes"] = runner.invalid_indexes()
        elif module.params["action"] == "migrate":
            run_migrate(module, runner, result)
        elif module.params["action"] == "verify":
            run_verify(module, runner, result)
        elif module.params["action"] == "seed":
            run_seed(module, runner, result)
        elif module.params["action"] == "backfill":
            run_backfill(module, runner, result)
        else:
            run_rollback(module, runner, result)
    except RunFailed as failure:
        result["msg"] = str(failure)
        release_quietly(runner)
        conn.close()
        module.fail_json(**result)
    except Exception as exc:  # a lost connection, a server restart: still a readable failure, never a traceback
        result["msg"] = unexpected_failure_message(
            module.params["action"], module.params["login_db"], exc, runner.current_script
        )
        release_quietly(runner)
        with contextlib.suppress(Exception):
            conn.close()
        module.fail_json(**result)
    release_quietly(runner)
    conn.close()
    if runner.lock_waited_s >= 1:
        result["lock_waited_s"] = runner.lock_waited_s
    module.exit_json(**result)


HANDOFF_WAIT = 60.0


def receive_password(path, wait_s):
    """The login password, read from a FIFO at PATH that the role's watcher on the controller writes to.

    A background (async) job's arguments sit in a file on the managed host for as long as it runs, so the
    password is not among them: the job creates a FIFO (mode 0600, nothing is stored on disk), the watcher
    writes the password into it through its connection, and the job removes it. The FIFO appears under
    its final name only once the job reads it, so the writer never waits on a reader that is not there."""
    staging = path + ".new"
    for stale in (staging, path):
        with contextlib.suppress(FileNotFoundError):
            os.remove(stale)
    os.mkfifo(staging, 0o600)
    reader = os.open(staging, os.O_RDONLY | os.O_NONBLOCK)
    keep_open = os.open(staging, os.O_WRONLY | os.O_NONBLOCK)  # no end-of-file while no writer is attached
    os.rename(staging, path)
    received = b""
    deadline = time.monotonic() + wait_s
    try:
        while b"\n" not in received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RunFailed(
                    "the background job waited %ds for the login password from the controller and got none: the "
                    "controller went away, or its connection to this host broke. Nothing was changed; run the "
                    "playbook again." % wait_s
                )
            ready, _, _ = select.select([reader], [], [], min(remaining, 1.0))
            if ready:
                with contextlib.suppress(BlockingIOError):
                    received += os.read(reader, 4096)
    finally:
        os.close(reader)
        os.close(keep_open)
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    return received.split(b"\n", 1)[0].decode("utf-8")


def failed_attempts(history):
    """Failed attempts the history records (a marked script that stopped half-way) and no later success."""
    succeeded = {row["version"] for row in history if row.get("success", True) and row.get("version")}
    return [
        {"version": row["version"], "script": row["script"], "at": row.get("applied_at"), "by": row.get("applied_by")}
        for row in history
        if not row.get("success", True) and row.get("version") and row["version"] not in succeeded
    ]


def unexpected_failure_message(action, database, exc, script=None):
    """What an operator needs when the run broke off for a reason no script caused."""
    detail = " ".join(str(exc).split()) or exc.__class__.__name__
    if script:
        detail += ". It was running %s" % script
    advice = {
        "backfill": "Committed batches stay; run playbooks/backfill.yml again to continue.",
        "rollback": "Each revert is one transaction (except marked scripts): run playbooks/status.yml to see where "
        "the database stands, then run the rollback again.",
        "verify": "Verification changes nothing; run playbooks/verify.yml again once the server answers.",
    }.get(
        action,
        "Each migration is one transaction with its history row (except marked scripts): run playbooks/status.yml "
        "to see where the database stands, then run the playbook again.",
    )
    return "the %s run on %s broke off: %s: %s. %s" % (action, database, error_kind(exc), detail, advice)


def release_quietly(runner):
    runner.clear_progress()
    try:
        runner.conn.rollback()
        runner.release_lock()
    except Exception:  # the session is going away anyway; closing it releases the lock
        pass


if __name__ == "__main__":
    main()
