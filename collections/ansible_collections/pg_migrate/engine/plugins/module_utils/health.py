# pg_migrate: the operator's health gate after a change (pg_migrate_fleet_health_query): one SQL query that
# returns one number, at most pg_migrate_fleet_health_max to pass - a claims error rate, a latency, a count of
# stuck rows. It runs read-only, after the migration and its verification, on the migrated database.

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.errors import describe_db_error
from ansible_collections.pg_migrate.engine.plugins.module_utils.session import Runner


def judge(value, maximum: float) -> dict:
    """The gate's verdict on VALUE (what the query returned)."""
    gate = {"value": None, "max": maximum, "passed": False}
    try:
        number = float(value)
    except (TypeError, ValueError):
        gate["message"] = "health gate failed: the health query returned %r, not a number" % (value,)
        return gate
    gate.update(value=number, passed=number <= maximum)
    gate["message"] = ("health gate passed: %g <= %g" if gate["passed"] else "health gate failed: %g > %g") % (
        number,
        maximum,
    )
    return gate


def health_gate(runner: Runner, query: str, maximum: float) -> dict:
    """Run QUERY in a read-only transaction that is rolled back; the gate's verdict."""
    runner.set_autocommit(False)
    try:
        runner.rows("SET TRANSACTION READ ONLY")
        value = runner.value(query)
    except Exception as exc:
        return {
            "value": None,
            "max": maximum,
            "passed": False,
            "message": "health gate failed: the health query failed: %s" % describe_db_error(exc),
        }
    finally:
        runner.rollback()
    return judge(value, maximum)
