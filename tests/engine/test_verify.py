"""verify.py against a real database: verify scripts and probes run, and every one is rolled back."""

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.run import apply
from ansible_collections.pg_migrate.engine.plugins.module_utils.verify import database_checks as verify
from tests.engine.conftest import run, write_changeset
from tests.pgdb import Database

SCRIPTS = {
    "V001__accounts.sql": "CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint CHECK (balance >= 0));\n",
    "V001__accounts.verify.sql": "SELECT id, balance FROM accounts LIMIT 0;\n",
    "V002__names.sql": "ALTER TABLE accounts ADD COLUMN name text;\n",
}
PROBES = {
    "fixtures": {"one account": ["INSERT INTO accounts (id, balance) VALUES (7, 10)"]},
    "probes": [
        {
            "name": "no negative balance",
            "fixtures": ["one account"],
            "statement": "UPDATE accounts SET balance = -1",
            "expect": "23514",
            "object": "accounts_balance_check",
            "table": "accounts",
        },
        {
            "name": "ids are unique",
            "fixtures": ["one account"],
            "statement": "INSERT INTO accounts VALUES (7, 1)",
            "expect": "23505",
        },
        {"name": "names are free text", "since": "002", "statement": "INSERT INTO accounts VALUES (8, 1, 'x')"},
        {"name": "from a later version", "since": "003", "statement": "SELECT 1/0"},
    ],
}


def test_verify_scripts_and_probes_in_force_run_and_leave_nothing(db: Database, runner_for, tmp_path):
    changeset = write_changeset(tmp_path, SCRIPTS)
    run(runner_for(changeset), apply.run_migrate, check=False, diff=False)
    expected = {"tables": [{"name": "accounts"}, {"name": "ledger", "since": "003"}], "schema": "public"}
    result = verify.run_verify(runner_for(changeset, action="verify", expected=expected, probes=PROBES))

    assert result["version"] == "002"
    assert result["expected_active"] == {"tables": [{"name": "accounts"}], "schema": "public"}
    outcomes = {item["id"]: (item["passed"], item["message"]) for item in result["probe_results"]}
    assert outcomes == {
        "verify script V001__accounts.verify.sql": (True, "ok: verify script V001__accounts.verify.sql"),
        "probe no negative balance": (True, "ok: no negative balance"),
        "probe ids are unique": (True, "ok: ids are unique"),
        "probe names are free text": (True, "ok: names are free text"),
    }
    assert db.scalar("SELECT count(*) FROM accounts") == 0  # every probe and verify script was rolled back


def test_a_probe_that_is_not_refused_fails_and_says_what_it_found(db: Database, runner_for, tmp_path):
    changeset = write_changeset(tmp_path, SCRIPTS)
    run(runner_for(changeset), apply.run_migrate, check=False, diff=False)
    probe = {"name": "balance capped", "statement": "INSERT INTO accounts VALUES (9, 1000000)", "expect": "23514"}
    result = verify.run_verify(runner_for(changeset, action="verify", probes={"probes": [probe]}))
    failed = result["probe_results"][-1]
    assert not failed["passed"]
    assert failed["message"] == (
        "probe failed: balance capped: expected SQLSTATE 23514, got success (the statement was accepted)"
    )
