# pg_migrate: the run's advisory lock needs a server session of its own; refuse connection poolers that
# share one (PgBouncer transaction and statement pooling) before anything is changed.

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import one_line

POOLING_CHECK_ROUNDS = 4  # rounds of the check; see docs/runbook.md, "Connection poolers (PgBouncer)"
POOLING_CHECK_WAIT = 5.0  # seconds one step of the check's second connection may wait for a server session
STATEMENT_POOLING = "statement pooling mode"  # in PgBouncer's error for any transaction block


class ConnectOnly:
    """What community.postgresql's connect_to_db needs of a module, for a connection opened on another thread
    (or outside a module).

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


def announced_backend_pid(conn) -> int | None:
    """The backend pid the server announced when CONN connected (BackendKeyData), as psycopg 3 or 2 keeps it."""
    info = getattr(conn, "info", None)
    announced = getattr(info, "backend_pid", None)
    if announced is None and hasattr(conn, "get_backend_pid"):
        announced = conn.get_backend_pid()
    return announced or None


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
            raise CheckIncomplete("a second connection failed: %s" % one_line(value))
        return value

    def pid(self) -> int:
        """The server session of a transaction begun here and left open: it holds that session meanwhile."""
        return self.run(lambda: backend_pid(self.conn))

    def commit(self) -> None:
        self.run(self._commit)

    def _commit(self) -> None:
        self.conn.commit()  # self.conn read on the worker thread, when the step runs

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


def refuse_transaction_pooling(
    conn,
    database: str,
    lock_purpose: str,
    connect_for_check: Callable[[], object],
    warn: Callable[[str], None],
) -> None:
    """Stop, before any change, when CONN goes through transaction or statement pooling.

    The migration and backfill locks are session advisory locks. Behind transaction pooling the lock stays on
    whichever pooled server session took it: the run reports success, every later run fails naming a client
    that has nothing to do with it, and two runs no longer exclude each other. Statement pooling refuses
    transactions outright. When the second connection (CONNECT_FOR_CHECK) cannot do its part (a connection
    limit, a full session pool) the check proves nothing; the run goes on with a WARNing rather than fail a
    setup that worked."""
    try:
        own = next_backend_pid(conn)
    except Exception as exc:
        if STATEMENT_POOLING not in str(exc):
            raise
        raise RunFailed(
            pooling_refusal(
                database,
                "statement",
                "it refuses every transaction (%s), and pg_migrate applies each migration together with its "
                "history row in one transaction under a session advisory lock, which works neither behind "
                "statement pooling nor behind transaction pooling" % one_line(exc),
            )
        ) from None
    if announced_backend_pid(conn) == own:
        # The session that announced itself at connect time is the one serving transactions: PostgreSQL itself.
        # A pooler answers the connect with a cancel key of its own (PgBouncer: random bytes), since no server
        # session belongs to the client yet; so no second connection is needed to rule pooling out.
        return
    other = None
    try:
        other = CheckConnection(connect_for_check, POOLING_CHECK_WAIT)
        found = shared_server_session(conn, own, other, POOLING_CHECK_ROUNDS)
    except CheckIncomplete as incomplete:
        warn(
            "pg_migrate could not check whether %s is reached through a transaction-pooling connection pooler "
            "(%s); the run went on without that check. Behind PgBouncer transaction pooling its %s lock would "
            "not protect the run: connect directly or through a session-pooled entry."
            % (database, incomplete, lock_purpose)
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
                "with them, and two runs would no longer exclude each other" % (found, lock_purpose),
            )
        )
