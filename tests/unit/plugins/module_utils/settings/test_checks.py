"""The input checks that run on the controller before anything connects (pg_migrate_inputs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.settings import checks as inputs


@pytest.mark.parametrize("database", ["", "   ", None, "\t"])
def test_an_empty_database_name_is_a_problem_naming_the_variable(database):
    [problem] = inputs.connection_problems(database, "postgres", "")
    assert problem.startswith("pg_migrate_db is empty")
    assert "fall back to the login user's default database" in problem


def test_a_padded_database_name_an_empty_user_and_a_blank_host_are_problems():
    problems = inputs.connection_problems(" xp", "", "  ")
    assert problems[0] == "pg_migrate_db (' xp') has leading or trailing white space: remove it"
    assert problems[1].startswith("pg_migrate_login_user is empty")
    assert problems[2].startswith("pg_migrate_login_host is white space only")


def test_good_connection_settings_pass():
    assert inputs.connection_problems("xp", "postgres", "") == []  # empty host: the local socket
    assert inputs.connection_problems("xp", "migrator", "db.example") == []


@pytest.mark.parametrize("value", ["2s", "2 s", "500ms", "30min", "1h", "1d", "250us", "1500", "0", "1.5s", 2000])
def test_postgresql_durations_pass(value):
    assert inputs.duration_problems({"pg_migrate_lock_timeout": value}) == []


@pytest.mark.parametrize("value", ["2 sec", "30M", "2S", "-1s", "", "soon", "1,5s", True, "2s;"])
def test_anything_else_is_a_problem_naming_the_variable_and_the_units(value):
    [problem] = inputs.duration_problems({"pg_migrate_statement_timeout": value})
    assert problem.startswith("pg_migrate_statement_timeout (%r) is not a PostgreSQL duration" % (value,))
    assert "us, ms, s, min, h, d" in problem


def test_numbers_below_their_minimum_are_problems():
    problems = inputs.number_problems(
        {
            "pg_migrate_lock_retries": ["-1", 0],
            "pg_migrate_run_timeout": ["0", 1],
            "pg_migrate_lock_retry_delay": ["x", 0],
        }
    )
    assert problems == [
        "pg_migrate_lock_retries (-1) must be at least 0",
        "pg_migrate_lock_retry_delay ('x') must be a number",
        "pg_migrate_run_timeout (0) must be at least 1",
    ]
    assert inputs.number_problems({"pg_migrate_lock_retries": [3, 0]}) == []


def test_the_reports_dir_is_created_and_proven_writable(tmp_path: Path):
    target = tmp_path / "reports" / "db1"
    assert inputs.reports_dir_problem(str(target)) is None
    assert target.is_dir() and os.listdir(target) == []  # the write test leaves nothing behind


def test_an_uncreatable_reports_dir_is_a_problem_with_the_fix(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    problem = inputs.reports_dir_problem(str(blocker / "reports"))
    assert problem.startswith(f"pg_migrate_reports_dir: cannot write the run reports to {blocker}/reports (")
    assert "-e pg_migrate_reports_dir=$PWD/reports" in problem
    assert inputs.reports_dir_problem("").startswith("pg_migrate_reports_dir is empty")


def test_all_problems_come_in_one_message():
    message = inputs.inputs_problems_message(["a", "b"], "db1")
    assert message == "The inputs for db1 have 2 problem(s); nothing was changed:\n  - a\n  - b"


def test_the_action_arguments_give_every_problem_at_once(tmp_path: Path):
    args = {
        "database": "",
        "login_user": "postgres",
        "durations": {"pg_migrate_lock_timeout": "2 sec"},
        "minimums": {"pg_migrate_retries": [-1, 0]},
        "reports_dir": str(tmp_path / "reports"),
    }
    problems = inputs.input_problems(args)
    assert [p.split(" ", 1)[0] for p in problems] == ["pg_migrate_db", "pg_migrate_lock_timeout", "pg_migrate_retries"]
    assert inputs.input_problems(dict(args, database="xp", durations={}, minimums={})) == []
    assert inputs.input_problems({"database": "xp", "login_user": "postgres"})[0].startswith(
        "pg_migrate_reports_dir is empty"
    )
