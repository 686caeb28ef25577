"""rollback.py against a real database: reverts with their history rows, refused whole when the rehearsal fails."""

from __future__ import annotations

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.run import apply, rollback
from tests.engine.conftest import history, run, tables, write_changeset
from tests.pgdb import Database

SCRIPTS = {
    "V001__accounts.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY);\n",
    "U001__accounts.sql": "DROP TABLE accounts;\n",
    "V002__ledger.sql": "CREATE TABLE ledger (id bigint PRIMARY KEY);\n",
    "U002__ledger.sql": "DROP TABLE ledger;\n",
    "V003__audit.sql": "CREATE TABLE audit (id bigint);\n",
    "U003__audit.sql": "DROP TABLE audit;\n",
}
# A revert that guards data: it refuses while accounts has rows.
GUARDED_U001 = (
    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM accounts) THEN RAISE EXCEPTION 'accounts hold data'; END IF; END $$;\n"
    "DROP TABLE accounts;\n"
)


def migrated(db: Database, runner_for, tmp_path, scripts: dict) -> dict:
    changeset = write_changeset(tmp_path, scripts)
    run(runner_for(changeset), apply.run_migrate, check=False, diff=False)
    assert [row[0] for row in history(db)] == ["001", "002", "003"]
    return changeset


def test_a_rollback_reverts_newest_first_with_the_history_rows(db: Database, runner_for, tmp_path):
    changeset = migrated(db, runner_for, tmp_path, SCRIPTS)
    result = run(
        runner_for(changeset, action="rollback", target_version="001"), rollback.run_rollback, check=False, diff=False
    )
    assert [item["script"] for item in result["reverted"]] == ["U003__audit.sql", "U002__ledger.sql"]
    assert result["rehearsal"]["rolled_back"] and len(result["rehearsal"]["rehearsed"]) == 2
    assert [row[0] for row in history(db)] == ["001"]
    assert tables(db) == ["accounts", "pg_migrate_history"]
    assert result["plan"]["revert_versions"] == []


def test_a_rollback_whose_rehearsal_fails_is_refused_before_its_first_revert(db: Database, runner_for, tmp_path):
    changeset = migrated(db, runner_for, tmp_path, {**SCRIPTS, "U001__accounts.sql": GUARDED_U001})
    db.query("INSERT INTO accounts VALUES (1)")
    schema, recorded = db.schema_dump(), history(db)
    runner = runner_for(changeset, action="rollback", target_version="000")
    result = {"changed": False, "applied": [], "reverted": [], "repeatables_applied": [], "plan": {}}
    with pytest.raises(RunFailed) as refused:
        run(runner, rollback.run_rollback, result, check=False, diff=False)
    assert str(refused.value).startswith(
        "the rollback of %s to 000 was refused before its first revert; nothing was changed (the database is still "
        "at version 003, its history as it was)." % db.name
    )
    assert "stopped at U001__accounts.sql, statement 1 (line 1) [SQLSTATE P0001]: accounts hold data" in str(
        refused.value
    )
    assert result["failure"]["script"] == "U001__accounts.sql" and result["reverted"] == []
    assert db.schema_dump() == schema and history(db) == recorded  # U003 and U002 did not run either


def test_a_check_mode_rollback_rehearses_and_changes_nothing(db: Database, runner_for, tmp_path):
    changeset = migrated(db, runner_for, tmp_path, SCRIPTS)
    schema = db.schema_dump()
    result = run(
        runner_for(changeset, action="rollback", target_version="000"), rollback.run_rollback, check=True, diff=False
    )
    assert result["changed"] and result["reverted"] == []
    assert [item["script"] for item in result["rehearsal"]["rehearsed"]] == [
        "U003__audit.sql",
        "U002__ledger.sql",
        "U001__accounts.sql",
    ]
    assert db.schema_dump() == schema and len(history(db)) == 3


def test_a_rollback_without_a_target_or_a_revert_is_refused(db: Database, runner_for, tmp_path):
    scripts = {name: text for name, text in SCRIPTS.items() if name != "U002__ledger.sql"}
    changeset = migrated(db, runner_for, tmp_path, scripts)
    with pytest.raises(RunFailed, match="a rollback needs pg_migrate_target_version"):
        run(runner_for(changeset, action="rollback"), rollback.run_rollback, check=False, diff=False)
    with pytest.raises(RunFailed, match=r"^the rollback of \S+ to 000 was refused; nothing was changed"):
        run(
            runner_for(changeset, action="rollback", target_version="000"),
            rollback.run_rollback,
            check=False,
            diff=False,
        )
    assert len(history(db)) == 3 and "audit" in tables(db)


@pytest.mark.parametrize("empty_revert", ["", "-- diesel's generated down.sql: nothing to undo\n"])
def test_an_empty_revert_lets_migrate_run_and_a_rollback_removes_its_history_row_only(
    db: Database, runner_for, tmp_path, empty_revert: str
):
    changeset = migrated(db, runner_for, tmp_path, {**SCRIPTS, "U002__ledger.sql": empty_revert})
    check = run(
        runner_for(changeset, action="rollback", target_version="001"), rollback.run_rollback, check=True, diff=False
    )
    assert [(item["script"], item["nothing_to_undo"]) for item in check["plan"]["revert"]] == [
        ("U003__audit.sql", False),
        ("U002__ledger.sql", True),
    ]
    assert [row[0] for row in history(db)] == ["001", "002", "003"]

    result = run(
        runner_for(changeset, action="rollback", target_version="001"), rollback.run_rollback, check=False, diff=False
    )
    assert [(item["version"], item["nothing_to_undo"]) for item in result["reverted"]] == [
        ("003", False),
        ("002", True),
    ]
    assert [row[0] for row in history(db)] == ["001"]
    assert tables(db) == ["accounts", "ledger", "pg_migrate_history"]  # nothing to undo: ledger stays
