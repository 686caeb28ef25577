"""module_utils/importing/plan.py: what every import shares - unknown tools, nothing found, empty migrations."""

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.names import SOURCE_TOOLS
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.plan import CONVERTERS, EMPTY_DEPLOY
from tests.unit.plugins.module_utils.importing.support import planned


def test_every_source_tool_has_a_converter():
    assert tuple(CONVERTERS) == SOURCE_TOOLS


def test_an_unknown_tool_names_the_variable_and_the_choices():
    assert planned("liquibase", {}).problems == [
        "pg_migrate_import_from: 'liquibase' is not a tool the importer knows: use one of "
        "golang-migrate, goose, dbmate, flyway, diesel, efcore"
    ]


def test_a_directory_without_migrations_stops_the_import():
    plan = planned("goose", {"README.md": "hello\n"})
    assert plan.problems == ["no goose migrations found among 1 file(s)"]
    assert plan.not_carried  # and says what it saw


def test_an_empty_migration_keeps_its_version():
    plan = planned("golang-migrate", {"1_a.up.sql": "-- nothing yet\n"})
    assert plan.files == {"V1__a.sql": EMPTY_DEPLOY}
    assert plan.notes == ["V1__a.sql: empty in the source: written as `SELECT 1;` to keep version 1"]


def test_a_revert_without_its_migration_is_listed():
    plan = planned("golang-migrate", {"1_a.up.sql": "SELECT 1;\n", "2_b.down.sql": "SELECT 2;\n"})
    assert plan.not_carried == ["2_b.down.sql: a revert without its migration (no up script of version 2)"]
