"""module_utils/importing/golang_migrate.py: up/down pairs, a wrapping BEGIN/COMMIT stripped, markers added."""

from __future__ import annotations

from tests.unit.plugins.module_utils.importing.support import MARKER, planned

FILES = {
    "000001_users.up.sql": "BEGIN;\nCREATE TABLE users (id int);\nCOMMIT;\n",
    "000001_users.down.sql": "DROP TABLE users;\n",
    "000002_users email.up.sql": "ALTER TABLE users ADD email text;\n",
    "000003_index.up.sql": "CREATE INDEX CONCURRENTLY users_email ON users (email);\n",
    "000004_mood.up.sql": "ALTER TYPE mood ADD VALUE 'meh';\n",
    "notes.txt": "not a migration\n",
}


def test_up_and_down_become_a_migration_and_its_revert_with_the_wrapping_transaction_stripped():
    plan = planned("golang-migrate", FILES)
    assert plan.problems == []
    assert plan.files["V000001__users.sql"] == "CREATE TABLE users (id int);\n"
    assert plan.files["U000001__users.sql"] == "DROP TABLE users;\n"
    assert "V000001__users.sql: stripped the wrapping BEGIN/COMMIT" in " ".join(plan.notes)
    assert plan.sources["U000001__users.sql"] == "000001_users.down.sql"


def test_a_title_with_a_space_is_renamed_and_said_so():
    plan = planned("golang-migrate", FILES)
    assert "V000002__users_email.sql" in plan.files
    assert any("'users email' written as users_email" in note for note in plan.notes)
    assert "V000002__users_email.sql has no revert (the source has no down script for it)" in plan.reverts


def test_statements_that_cannot_run_in_a_transaction_get_the_marker():
    plan = planned("golang-migrate", FILES)
    assert plan.files["V000003__index.sql"].startswith(MARKER + "\nCREATE INDEX CONCURRENTLY")
    assert plan.files["V000004__mood.sql"].startswith(MARKER + "\n")
    assert [line.split(":")[0] for line in plan.markers] == ["V000003__index.sql", "V000004__mood.sql"]
    assert "CREATE INDEX CONCURRENTLY cannot run inside a transaction" in plan.markers[0]
    assert "ADD VALUE" in plan.markers[1]


def test_files_of_no_migration_are_listed_not_dropped():
    assert [line.split(":")[0] for line in planned("golang-migrate", FILES).not_carried] == ["notes.txt"]


def test_a_transaction_in_the_middle_is_left_for_discovery_to_refuse():
    text = "CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\n"
    plan = planned("golang-migrate", {"1_a.up.sql": text})
    assert plan.files["V1__a.sql"] == text and plan.notes == []


def test_two_files_of_one_version_stop_the_import():
    plan = planned("golang-migrate", {"1_a.up.sql": "SELECT 1;\n", "01_b.up.sql": "SELECT 2;\n"})
    assert plan.files == {}
    assert plan.problems == [
        "01_b.up.sql and 1_a.up.sql: both are version 1: renumber one of them in the source, then import again"
    ]


def test_sql_that_does_not_parse_and_text_that_is_not_utf8_stop_the_import():
    plan = planned("golang-migrate", {"1_a.up.sql": "CREATE TABEL a;\n", "2_b.up.sql": None})
    assert plan.problems[0].startswith("1_a.up.sql: SQL does not parse")
    assert plan.problems[1] == "2_b.up.sql: not UTF-8 text: save it as UTF-8, then import again"
