# pg_migrate: what went wrong, said so that an operator knows where and what to do.
#
# Failures are exceptions: RunFailed carries the whole message (the module hands it to fail_json),
# StatementFailed the place in a script and the server's reason. The driver's errors (psycopg 2 or 3)
# share no base class importable here, so they are read by their attributes.

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import clip, line_of, one_line
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import NO_VERSION

LOCK_NOT_AVAILABLE = "55P03"
DUPLICATE_TABLE = "42P07"
EXCERPT_CHARS = 160


class RunFailed(Exception):
    """An expected failure: the message says what happened, where, and what to do."""


def sqlstate_of(exc: BaseException) -> str | None:
    return getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)


def session_ended(exc: BaseException) -> bool:
    """The server ended the session (class 57P: terminated, shut down, crashed) or the connection broke (08)."""
    return str(sqlstate_of(exc) or "").startswith(("57P", "08"))


def error_kind(exc: BaseException) -> str:
    """The DB-API class of a driver error (OperationalError, ...), stable across psycopg 2 and 3's subclasses."""
    for klass in type(exc).__mro__:
        if klass.__name__ in ("OperationalError", "InterfaceError", "InternalError", "DatabaseError"):
            return klass.__name__
    return type(exc).__name__


def describe_db_error(exc: BaseException) -> str:
    """The server's message with DETAIL and HINT; never the statement text or a password."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or line_of(exc)
    parts = [primary]
    for label, attribute in (("DETAIL", "message_detail"), ("HINT", "message_hint")):
        value = getattr(diag, attribute, None)
        if value:
            parts.append("%s: %s" % (label, value))
    return " ".join(parts)


def excerpt(statement_text: str) -> str:
    """The first line of a statement, shortened: enough to find it, never the whole script."""
    lines = [line.strip() for line in statement_text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    code_lines = [line for line in lines if not line.startswith("--")]
    if code_lines:
        first = code_lines[0]
    return clip(first, EXCERPT_CHARS, "...")


class StatementFailed(Exception):
    """A statement of a script failed: which one, where, and the server's reason (never the whole text).

    Whoever handles it may add: attempts (lock-timeout retries), locks (the tables the statement locks) with
    blockers and blocker_lines (who held them when it gave up), verify_of (the migration whose verify script
    failed), outside_transaction and left_invalid (a marked script's committed part)."""

    def __init__(self, script: str, number: int, line: int, statement: str, exc: BaseException) -> None:
        super().__init__(describe_db_error(exc))
        self.script = script
        self.number = number
        self.line = line
        self.statement = statement
        self.sqlstate = sqlstate_of(exc)
        self.error = describe_db_error(exc)

    def summary(self) -> dict:
        """Where and why it failed, for the module's result (no statement text)."""
        found = {
            "script": self.script,
            "statement": self.number,
            "line": self.line,
            "sqlstate": self.sqlstate,
            "error": self.error,
        }
        if getattr(self, "blockers", None):
            found["blocked_by"] = list(self.blockers)
        return found


class LockWaitRanOut(Exception):
    """The cause of a LockWaitExpired, as a driver error reads: one line, SQLSTATE 55P03 (lock not available)."""

    sqlstate = LOCK_NOT_AVAILABLE


class LockWaitExpired(StatementFailed):
    """A statement's table was blocked for the whole of pg_migrate_lock_wait_limit, and the run never queued
    behind the blockers (BLOCKERS: their descriptions as dicts, run/table_locks.Holder)."""

    def __init__(self, script: str, number: int, line: int, statement: str, error: str, blockers: list) -> None:
        super().__init__(script, number, line, statement, LockWaitRanOut(error))
        self.blockers = blockers


def stopped_by(result: dict, failure: StatementFailed, action: str, from_version: str | None) -> RunFailed:
    """A failed script ends the run: its fields go into the result, its advice into the RunFailed to raise."""
    result["failure"] = failure.summary()
    return RunFailed(failure_message(failure, action, from_version))


def lock_timeout_advice(failure: StatementFailed, then: str = "") -> str:
    """What to do when a statement lost its table lock: the wait without queueing ran out, or the lock timeout
    fired on every attempt ('' for any other failure)."""
    if failure.sqlstate != LOCK_NOT_AVAILABLE:
        return ""
    if isinstance(failure, LockWaitExpired):
        return (
            " The run never queued behind them, so the application was not held up, and it does not touch them: "
            "let them finish, or end them yourself (docs/runbook.md, 'A rollout waits for a lock')%s." % then
        )
    lines = getattr(failure, "blocker_lines", None)
    now = " holding or awaiting a conflicting lock when it gave up: %s;" % "; ".join(lines) if lines else ""
    return (
        " The lock timeout fired on every attempt (%d): another session holds a conflicting lock for longer;%s "
        "find it in pg_stat_activity/pg_locks%s." % (getattr(failure, "attempts", 1), now, then)
    )


def failure_message(failure: StatementFailed, action: str, from_version: str | None) -> str:
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
    message += lock_timeout_advice(failure, " and retry when it is gone")
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


def lost_session_message(database: str, script: str, exc: BaseException, left_invalid: list[str]) -> str:
    """A marked script whose session ended under it: what stayed, what it left, what to do."""
    detail = one_line(exc) or exc.__class__.__name__
    message = (
        "the session running %s on %s ended under it: %s: %s. This script runs outside a transaction: statements "
        "before the interrupted one stayed committed, and the run is recorded as failed."
        % (script, database, error_kind(exc), detail)
    )
    for index in left_invalid:
        message += (
            " It left the INVALID index %s behind (an interrupted CREATE INDEX CONCURRENTLY): re-running a script "
            "that drops it first repairs it, or remove it with DROP INDEX CONCURRENTLY %s;" % (index, index)
        )
    return message + (
        " Run a status (pg_migrate_action=status) to see where the database stands, then run the playbook again."
    )


def unexpected_failure_message(action: str, database: str, exc: BaseException, script: str | None = None) -> str:
    """What an operator needs when the run broke off for a reason no script caused."""
    detail = one_line(exc) or exc.__class__.__name__
    if script:
        detail += ". It was running %s" % script
    advice = {
        "backfill": "Committed batches stay; run the backfill (pg_migrate_action=backfill) again to continue.",
        "rollback": "Each revert is one transaction (except marked scripts): run a status "
        "(pg_migrate_action=status) to see where the database stands, then run the rollback again.",
        "verify": "Verification changes nothing; run it (pg_migrate_action=verify) again once the server answers.",
    }.get(
        action,
        "Each migration is one transaction with its history row (except marked scripts): run a status "
        "(pg_migrate_action=status) to see where the database stands, then run the playbook again.",
    )
    return "the %s run on %s broke off: %s: %s. %s" % (action, database, error_kind(exc), detail, advice)
