"""apply.py against a real database: a migration and its history row are one unit, and so is a group."""

from __future__ import annotations

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.run import apply
from tests.engine.conftest import history, new_result, run, tables, write_changeset
from tests.pgdb import Database

V001 = {"V001__accounts.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY);\n"}
V002 = {"V002__ledger.sql": "CREATE TABLE ledger (id bigint PRIMARY KEY);\nINSERT INTO ledger VALUES (1);\n"}
V003 = {"V003__audit.sql": "CREATE TABLE audit (id bigint);\n"}
# Fails at its second statement, after its first one created a table.
V004_FAILS = {"V004__broken.sql": "CREATE TABLE half_done (id bigint);\nINSERT INTO missing_table VALUES (1);\n"}


def migrate(runner_for, changeset: dict, check: bool = False, **params: object) -> dict:
    return run(runner_for(changeset, **params), apply.run_migrate, check=check, diff=False)


def test_pending_migrations_are_applied_in_order_each_with_its_history_row(db: Database, runner_for, tmp_path):
    changeset = write_changeset(tmp_path, {**V001, **V002})
    result = migrate(runner_for, changeset)
    assert [item["version"] for item in result["applied"]] == ["001", "002"]
    assert result["changed"] and result["plan"]["to_version"] == "002"
    assert history(db) == [
        ("001", "V001__accounts.sql", "migration", True),
        ("002", "V002__ledger.sql", "migration", True),
    ]
    again = migrate(runner_for, changeset)
    assert again["applied"] == [] and not again["changed"]


def test_a_failing_migration_leaves_schema_and_history_exactly_as_before(db: Database, runner_for, tmp_path):
    migrate(runner_for, write_changeset(tmp_path, {**V001, **V002}))
    schema, recorded = db.schema_dump(), history(db)

    changeset = write_changeset(tmp_path, {**V001, **V002, **V004_FAILS})
    result = new_result()
    with pytest.raises(RunFailed) as failed:
        run(runner_for(changeset), apply.run_migrate, result, check=False, diff=False)

    assert db.schema_dump() == schema  # not even the table of its first statement
    assert history(db) == recorded
    assert result["failure"] == {
        "script": "V004__broken.sql",
        "statement": 2,
        "line": 2,
        "sqlstate": "42P01",
        "error": 'relation "missing_table" does not exist',
    }
    assert str(failed.value).startswith("V004__broken.sql failed at statement 2 (line 2) [SQLSTATE 42P01]")
    assert "The migration was rolled back; the database is at version 002." in str(failed.value)


@pytest.mark.parametrize("grouped", [True, False], ids=["grouped", "one-each"])
def test_grouped_transactions_are_all_or_nothing(db: Database, runner_for, tmp_path, grouped: bool):
    migrate(runner_for, write_changeset(tmp_path, V001))
    changeset = write_changeset(tmp_path, {**V001, **V002, **V003, **V004_FAILS})
    with pytest.raises(RunFailed, match=r"V004__broken\.sql failed"):
        migrate(runner_for, changeset, group_transactions=grouped)
    applied = [row[0] for row in history(db)]
    if grouped:  # 002, 003 and 004 were one transaction
        assert applied == ["001"] and tables(db) == ["accounts", "pg_migrate_history"]
    else:
        assert applied == ["001", "002", "003"]
        assert tables(db) == ["accounts", "audit", "ledger", "pg_migrate_history"]


def test_a_failing_verify_script_rolls_its_migration_back(db: Database, runner_for, tmp_path):
    changeset = write_changeset(
        tmp_path, {**V001, "V001__accounts.verify.sql": "SELECT 1/0 FROM accounts WHERE false UNION SELECT 1/0;\n"}
    )
    with pytest.raises(RunFailed, match=r"the verify script of V001__accounts\.sql failed"):
        migrate(runner_for, changeset)
    assert tables(db) == ["pg_migrate_history"] and history(db) == []


def test_a_no_transaction_script_keeps_its_committed_statements_and_records_the_failure(
    db: Database, runner_for, tmp_path
):
    marked = "-- pg_migrate:no-transaction\nCREATE TABLE first_part (id bigint);\nSELECT 1/0;\n"
    changeset = write_changeset(tmp_path, {**V001, "V002__marked.sql": marked})
    with pytest.raises(RunFailed) as failed:
        migrate(runner_for, changeset)
    assert "statements before the failing one stayed committed" in str(failed.value)
    assert "first_part" in tables(db)
    assert history(db)[-1] == ("002", "V002__marked.sql", "migration", False)


def test_a_rehearsal_runs_everything_and_leaves_nothing(db: Database, runner_for, tmp_path):
    changeset = write_changeset(tmp_path, {**V001, **V002})
    result = migrate(runner_for, changeset, check=True, rehearse=True)
    assert [item["script"] for item in result["rehearsal"]["rehearsed"]] == ["V001__accounts.sql", "V002__ledger.sql"]
    assert result["changed"] and result["applied"] == []
    assert tables(db) == []  # not even the history table

    failing = write_changeset(tmp_path, {**V001, **V002, **V004_FAILS})
    with pytest.raises(RunFailed, match=r"^rehearsal failed \(everything was rolled back, nothing changed\)"):
        migrate(runner_for, failing, check=True, rehearse=True)
    assert tables(db) == []


def test_check_mode_without_rehearsal_touches_nothing_and_takes_no_lock(db: Database, runner_for, tmp_path):
    runner = runner_for(write_changeset(tmp_path, V001))
    outcome = apply.run_migrate(runner, check=True, diff=True)
    assert outcome.changed and not runner.lock.locked
    assert "-- ===== would run: V001__accounts.sql (pending) =====" in outcome.diff["after"]
    assert tables(db) == []


def test_the_seed_follows_the_migrations_and_runs_again_only_when_changed(db: Database, runner_for, tmp_path):
    seeds = {"R__reference.sql": "INSERT INTO accounts VALUES (42) ON CONFLICT DO NOTHING;\n"}
    changeset = write_changeset(tmp_path, V001, seeds)
    result = migrate(runner_for, changeset)
    assert [item["script"] for item in result["repeatables_applied"]] == ["R__reference.sql"]
    assert db.scalar("SELECT count(*) FROM accounts") == 1

    seed = run(runner_for(changeset), apply.run_seed, check=False, diff=False)
    assert seed["repeatables_applied"] == [] and not seed["changed"]
    forced = run(runner_for(changeset, force=True), apply.run_seed, check=False, diff=False)
    assert [item["script"] for item in forced["repeatables_applied"]] == ["R__reference.sql"]
    assert [row[2] for row in history(db)] == ["migration", "repeatable", "repeatable"]


def test_the_seed_is_refused_while_migrations_are_pending(db: Database, runner_for, tmp_path):
    changeset = write_changeset(tmp_path, V001, {"R__reference.sql": "SELECT 1;\n"})
    with pytest.raises(RunFailed, match=r"run a migrate \(pg_migrate_action=migrate\) first .*; nothing was changed"):
        run(runner_for(changeset), apply.run_seed, check=False, diff=False)
    assert tables(db) == []


def test_a_baseline_adopts_an_existing_schema_only_when_its_verify_scripts_pass(db: Database, runner_for, tmp_path):
    scripts = {**V001, "V001__accounts.verify.sql": "SELECT id FROM accounts LIMIT 0;\n", **V002}
    changeset = write_changeset(tmp_path, scripts)
    with pytest.raises(RunFailed, match=r"baseline refused: V001__accounts\.verify\.sql fails on this database"):
        migrate(runner_for, changeset, baseline_version="001")
    assert history(db) == []

    db.query("CREATE TABLE accounts (id bigint PRIMARY KEY)")
    result = migrate(runner_for, changeset, baseline_version="001")
    assert [item["version"] for item in result["applied"]] == ["002"]
    assert [(row[0], row[2]) for row in history(db)] == [("001", "baseline"), ("002", "migration")]


def test_a_refusal_for_many_drifted_files_names_the_first_few_and_the_report_has_every_one(
    db: Database, runner_for, tmp_path
):
    scripts = {"V%03d__table_%d.sql" % (n, n): "CREATE TABLE t%d (id bigint);\n" % n for n in range(1, 13)}
    migrate(runner_for, write_changeset(tmp_path, scripts))
    edited = {name: text + "-- edited\n" if n < 8 else text for n, (name, text) in enumerate(scripts.items())}
    changeset = write_changeset(tmp_path, {**edited, "V013__more.sql": "SELECT 1;\n"})
    result = new_result()
    with pytest.raises(RunFailed) as refused:
        run(runner_for(changeset), apply.run_migrate, result, check=False, diff=False)
    message = str(refused.value)
    assert message.count("checksum drift:") == 5
    assert message.endswith("  - ... and 3 more: the run report's plan.problems lists every one")
    assert len(result["plan"]["problems"]) == 8 and len(result["plan"]["drift"]) == 8
    assert [row[0] for row in history(db)][-1] == "012"  # nothing changed
