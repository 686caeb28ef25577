"""Each script starts from the run's own session settings: a SET in one migration does not carry into the next
(psql, running each file in a session of its own, would not let it), whatever the grouping or transaction mode."""

from __future__ import annotations

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.run import apply, rollback
from tests.engine.conftest import history, run, write_changeset
from tests.pgdb import Database

NO_TRANSACTION = "-- pg_migrate:no-transaction\n"


def _changeset(tmp_path, role: str, v001_outside: bool) -> dict:
    v001 = "CREATE SCHEMA elsewhere;\nSET search_path = elsewhere;\nCREATE TABLE moved (id bigint);\n"
    return write_changeset(
        tmp_path,
        {
            "V001__elsewhere.sql": (NO_TRANSACTION if v001_outside else "") + v001,
            "V002__stays_home.sql": "CREATE TABLE home (id bigint);\n",
            "V003__settings.sql": f"SET timezone = 'Pacific/Kiritimati';\nSET ROLE {role};\n"
            "SET statement_timeout = '1ms';\nSET lock_timeout = '1ms';\n",
            "V004__seen.sql": "CREATE TABLE seen AS SELECT current_setting('TimeZone') AS tz, current_user::text AS "
            "who, current_setting('statement_timeout') AS statement_timeout, (SELECT true FROM pg_sleep(0.05)) AS "
            "slept;\n",
            "U004__seen.sql": "SET search_path = elsewhere;\n",
            "U003__settings.sql": "DROP TABLE seen;\n",
        },
    )


@pytest.mark.parametrize(
    ("grouped", "v001_outside"),
    [(False, False), (True, False), (False, True)],
    ids=["one-transaction-each", "grouped", "no-transaction-first"],
)
def test_a_set_in_one_migration_does_not_reach_the_next(
    db: Database, runner_for, tmp_path, role: str, grouped: bool, v001_outside: bool
):
    db.query(f"GRANT CREATE ON SCHEMA public TO {role}")
    changeset = _changeset(tmp_path, role, v001_outside)
    run(runner_for(changeset, group_transactions=grouped), apply.run_migrate, check=False, diff=False)

    where = dict(
        db.query(
            "SELECT relname, relnamespace::regnamespace::text FROM pg_class WHERE relname IN ('moved', 'home', 'seen')"
        )
    )
    assert where == {"moved": "elsewhere", "home": "public", "seen": "public"}
    login = db.scalar("SELECT current_user")
    tz, who, statement_timeout, slept = db.query("SELECT tz, who, statement_timeout, slept FROM seen")[0]
    assert (tz, who, slept) == (db.scalar("SELECT current_setting('TimeZone')"), login, True)
    assert statement_timeout != "1ms"
    assert db.scalar("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'seen'") == login
    assert [row[0] for row in history(db)] == ["001", "002", "003", "004"]

    # A revert's SET does not reach the next revert either: U003 finds seen where it is.
    result = run(
        runner_for(changeset, action="rollback", target_version="002"), rollback.run_rollback, check=False, diff=False
    )
    assert [item["version"] for item in result["reverted"]] == ["004", "003"]
    assert db.scalar("SELECT to_regclass('public.seen') IS NULL")
