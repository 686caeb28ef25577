"""Adoption, pure: each tool's history rows -> the versions it applied and what refuses them, and the baseline
a change set takes from them (only a prefix of its migrations)."""

from __future__ import annotations

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Changeset
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan import adoption, migrate
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.adoption import ForeignHistory, adopted_up_to
from ansible_collections.pg_migrate.engine.plugins.module_utils.settings.checks import adopt_problems
from tests.unit.plugins.module_utils.plan.test_plan import CHANGESET, applied

VERSIONS = ["001", "002", "003", "004"]


def flyway_row(rank: int, version: str | None, kind: str = "SQL", success: bool = True) -> dict:
    script = "V%s__step.sql" % version if version else "R__view.sql"
    return {"installed_rank": rank, "version": version, "type": kind, "script": script, "success": success}


# --- each tool's rows ---------------------------------------------------------------------------------------
def test_golang_migrate_one_clean_row_counts_every_version_up_to_it():
    read = adoption.golang_migrate([{"version": 3, "dirty": False}], "schema_migrations")
    assert (read.applied, read.up_to, read.problems) == (("3",), "3", ())
    assert adopted_up_to(read, VERSIONS) == ("003", [])


def test_golang_migrate_dirty_is_refused_with_the_fix():
    read = adoption.golang_migrate([{"version": 3, "dirty": True}], "schema_migrations")
    assert read.problems == (
        "golang-migrate marks version 3 dirty: a migration failed half-way; fix the database and `migrate force`, "
        "then adopt",
    )
    assert adopted_up_to(read, VERSIONS) == (None, list(read.problems))


def test_golang_migrate_empty_applied_nothing_and_two_rows_are_not_its_table():
    assert adopted_up_to(adoption.golang_migrate([], "t"), VERSIONS) == (None, [])
    two = adoption.golang_migrate([{"version": 1, "dirty": False}, {"version": 2, "dirty": False}], "t")
    assert "t has 2 rows, golang-migrate keeps exactly one" in two.problems[0]


def test_dbmate_and_diesel_rows_are_the_applied_versions():
    assert adoption.dbmate([{"version": "20240101120000"}, {"version": "20240102120000"}], "t").applied == (
        "20240101120000",
        "20240102120000",
    )
    # diesel's directory prefix 2024-01-01-120000 is recorded without its dashes; a stray one is dropped too.
    assert adoption.diesel([{"version": "20240101120000"}, {"version": "2024-01-02-120000"}], "t").applied == (
        "20240101120000",
        "20240102120000",
    )
    assert "not a version pg_migrate can compare" in adoption.dbmate([{"version": "abc"}], "t").problems[0]


def test_goose_counts_a_version_by_its_latest_row_and_never_version_zero():
    rows = [
        {"id": 1, "version_id": 0, "is_applied": True},
        {"id": 2, "version_id": 1, "is_applied": True},
        {"id": 3, "version_id": 2, "is_applied": True},
        {"id": 4, "version_id": 3, "is_applied": True},
        {"id": 5, "version_id": 3, "is_applied": False},  # goose down 3
    ]
    read = adoption.goose(list(reversed(rows)), "goose_db_version")  # order by id, not as given
    assert read.applied == ("1", "2") and read.problems == ()
    assert adopted_up_to(read, VERSIONS) == ("002", [])
    assert adoption.goose(rows[:1], "t").applied == ()


def test_flyway_failed_row_refuses():
    read = adoption.flyway([flyway_row(1, "1"), flyway_row(2, "2", success=False)], "flyway_schema_history")
    assert read.problems == (
        "flyway records version 2 (V2__step.sql) as failed (success = false): fix the database and run "
        "`flyway repair`, then adopt",
    )


def test_flyway_baseline_undo_repeatables_and_java():
    rows = [
        flyway_row(1, None, "SCHEMA"),
        flyway_row(2, "1", "BASELINE"),
        flyway_row(3, "2"),
        flyway_row(4, "3", "JDBC"),
        flyway_row(5, "4"),
        flyway_row(6, "4", "UNDO_SQL"),
        flyway_row(7, None),
    ]
    read = adoption.flyway(rows, "flyway_schema_history")
    assert (read.applied, read.up_to, read.problems) == (("2", "3"), "1", ())
    assert read.notes == (
        "flyway's version 3 ran as Java (V3__step.sql): its migration here must do what that class did",
        "flyway's repeatable migration R__view.sql does not count for the baseline",
    )
    assert adopted_up_to(read, VERSIONS) == ("003", [])


def test_flyway_dotted_versions_compare_numerically():
    read = adoption.flyway([flyway_row(1, "1.1"), flyway_row(2, "1.2")], "t")
    assert adopted_up_to(read, ["1.1", "1.2", "1.10"]) == ("1.2", [])


def test_efcore_version_is_the_timestamp_of_the_migration_id():
    read = adoption.efcore([{"MigrationId": "20240101120000_Init"}, {"MigrationId": "Init"}], "t")
    assert read.applied == ("20240101120000",)
    assert read.problems == (
        "EF Core's MigrationId 'Init' does not start with a 14-digit timestamp: it cannot be matched with a "
        "migration here",
    )


# --- the prefix rule ----------------------------------------------------------------------------------------
def test_versions_without_a_file_here_are_refused_by_name():
    read = ForeignHistory("goose", "goose_db_version", ("1", "2", "7"))
    assert adopted_up_to(read, VERSIONS) == (
        None,
        ["version(s) 7 applied by goose (goose_db_version) but not in the change set: import them or remove the rows"],
    )


def test_a_gap_below_the_highest_applied_version_is_refused_by_name():
    read = ForeignHistory("dbmate", "schema_migrations", ("1", "3"))
    up_to, problems = adopted_up_to(read, VERSIONS)
    assert up_to is None
    assert problems[0].startswith("version(s) 002 of the change set sort below 003, the highest version dbmate applied")


def test_leading_zeros_are_the_same_version():
    assert adopted_up_to(ForeignHistory("dbmate", "t", ("000001", "2")), VERSIONS) == ("002", [])


# --- the plan -----------------------------------------------------------------------------------------------
def plan(history: list[dict], foreign: ForeignHistory) -> dict:
    return migrate.plan_migrate(Changeset.from_dict(CHANGESET), history, adopt=foreign).to_dict()


def test_the_plan_baselines_what_the_tool_applied_and_says_where_it_came_from():
    found = plan([], ForeignHistory("goose", "goose_db_version", ("1", "2")))
    assert [entry["version"] for entry in found["baseline"]] == ["001", "002"]
    assert found["pending_versions"] == ["003", "004"] and found["problems"] == []
    assert found["adopted_from"] == {"tool": "goose", "table": "goose_db_version", "up_to": "002", "notes": []}


def test_the_plan_refuses_with_the_reason_prefixed():
    found = plan([], ForeignHistory("goose", "goose_db_version", ("9",)))
    assert found["baseline"] == [] and found["problems"][0].startswith("adopt: version(s) 9 applied by goose")


def test_once_pg_migrate_has_a_history_the_other_tools_is_not_read():
    found = plan([applied("001")], ForeignHistory("goose", "t", ("9",)))
    assert (
        found["problems"] == [] and "adopted_from" not in found and found["pending_versions"] == ["002", "003", "004"]
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            {"adopt": "goose", "baseline_version": "003"},
            "pg_migrate_adopt (goose) and pg_migrate_baseline_version (003)",
        ),
        ({"adopt_table": "x"}, "pg_migrate_adopt_table (x) is set but pg_migrate_adopt is not"),
        ({"adopt": "goose", "adopt_table": "x; drop table y"}, "pg_migrate_adopt_table (x; drop table y) is not a"),
    ],
)
def test_the_settings_check_refuses_before_connecting(args: dict, expected: str):
    assert [problem[: len(expected)] for problem in adopt_problems(args)] == [expected]


def test_the_settings_check_passes_an_adoption_alone():
    assert (
        adopt_problems({"adopt": "efcore", "adopt_table": 'app."__EFMigrationsHistory"', "baseline_version": ""}) == []
    )
