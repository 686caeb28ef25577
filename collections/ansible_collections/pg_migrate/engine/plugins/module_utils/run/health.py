# pg_migrate: the operator's health gate after a change (pg_migrate_fleet_health_query): one SQL query that
# returns one number, at most pg_migrate_fleet_health_max to pass - a claims error rate, a latency, a count of
# stuck rows. It runs read-only, after the migration and its verification, on the migrated database.

from __future__ import annotations

import math

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import describe_db_error, sqlstate_of
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.connection import Session

DEFAULT_TIMEOUT = "5s"
TIMED_OUT = {
    "55P03": "waited longer than %s (pg_migrate_fleet_health_timeout) for a lock",
    "57014": "ran longer than %s (pg_migrate_fleet_health_timeout)",
}


def failed_gate(maximum: float, why: str) -> dict:
    return {"value": None, "max": maximum, "passed": False, "message": "health gate failed: %s" % why}


def judge(value, maximum: float) -> dict:
    """The gate's verdict on VALUE (what the query returned)."""
    if value is None:
        return failed_gate(maximum, "the health query returned NULL, not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return failed_gate(maximum, "the health query returned %r, not a number" % (value,))
    if math.isnan(number):  # NaN passes no comparison: never a pass
        return failed_gate(maximum, "the health query returned NaN, not a number")
    gate = {"value": number, "max": maximum, "passed": number <= maximum}
    gate["message"] = ("health gate passed: %g <= %g" if gate["passed"] else "health gate failed: %g > %g") % (
        number,
        maximum,
    )
    return gate


def single_value(rows: list[tuple], columns: int) -> tuple[bool, object]:
    """(True, the value) when ROWS hold exactly one value, else (False, why not)."""
    if not rows:
        return False, "the health query returned no row; it must return one value"
    if len(rows) > 1 or columns > 1:
        return (
            False,
            "the health query returned more than one value (%d row(s) of %d column(s)); it must return one"
            % (
                len(rows),
                columns,
            ),
        )
    return True, rows[0][0]


def health_gate(session: Session, query: str, maximum: float, timeout: str = DEFAULT_TIMEOUT) -> dict:
    """Run QUERY in a read-only transaction that is rolled back, with TIMEOUT as its lock and statement timeout
    (a gate must never wait silently behind a lock while the run holds its migration lock and server slot);
    the gate's verdict."""
    session.set_autocommit(False)
    try:
        session.rows("SET TRANSACTION READ ONLY")
        session.rows(
            "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
            (timeout, timeout),
        )
        with session.conn.cursor() as cursor:
            cursor.execute(query)
            if cursor.description is None:
                return failed_gate(maximum, "the health query returned no rows (is it a SELECT?)")
            columns = len(cursor.description)
            rows = [tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in cursor.fetchmany(2)]
    except Exception as exc:
        reason = TIMED_OUT.get(str(sqlstate_of(exc) or ""))
        if reason:
            return failed_gate(maximum, "the health query %s: %s" % (reason % timeout, describe_db_error(exc)))
        return failed_gate(maximum, "the health query failed: %s" % describe_db_error(exc))
    finally:
        session.rollback()
    single, value = single_value(rows, columns)
    return judge(value, maximum) if single else failed_gate(maximum, str(value))
