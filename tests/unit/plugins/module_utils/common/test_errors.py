"""The failure texts of module_utils/common/errors.py that more than one action uses."""

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.common import errors


class LockTimeout(Exception):
    sqlstate = errors.LOCK_NOT_AVAILABLE


class CheckViolation(Exception):
    sqlstate = "23514"


def failure(exc: Exception, attempts: int = 3) -> errors.StatementFailed:
    failed = errors.StatementFailed("V002__x.sql", 2, 7, "ALTER TABLE t ADD COLUMN c int", exc)
    failed.attempts = attempts
    return failed


def test_lock_timeout_advice_names_the_attempts_and_where_to_look_and_nothing_for_other_errors():
    advice = errors.lock_timeout_advice(failure(LockTimeout("canceling statement due to lock timeout")))
    assert advice == (
        " The lock timeout fired on every attempt (3): another session holds a conflicting lock for longer; "
        "find it in pg_stat_activity/pg_locks."
    )
    with_retry = errors.lock_timeout_advice(failure(LockTimeout("x")), " and retry when it is gone")
    assert with_retry.endswith("find it in pg_stat_activity/pg_locks and retry when it is gone.")
    assert errors.lock_timeout_advice(failure(CheckViolation("violates check constraint"))) == ""


def test_a_migration_failure_message_carries_the_lock_advice_with_the_retry_hint():
    message = errors.failure_message(failure(LockTimeout("canceling statement due to lock timeout")), "migrate", "001")
    assert message.startswith("V002__x.sql failed at statement 2 (line 7) [SQLSTATE 55P03]: ")
    assert "The lock timeout fired on every attempt (3)" in message
    assert "find it in pg_stat_activity/pg_locks and retry when it is gone." in message
