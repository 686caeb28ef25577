"""module_utils/importing/names.py: each tool's version identity (shared with adopt) and the engine's file names."""

from __future__ import annotations

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import version_key
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing import names
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.names import SourceName

CASES = [
    ("golang-migrate", "000001_create_users.up.sql", SourceName("000001", "create_users", "deploy")),
    ("golang-migrate", "000001_create_users.down.sql", SourceName("000001", "create_users", "revert")),
    ("golang-migrate", "1_create_users.sql", None),
    ("goose", "20240101120000_add orders.sql", SourceName("20240101120000", "add orders", "deploy")),
    ("goose", "00004_backfill.go", None),
    ("dbmate", "20151129054053_test_migration.sql", SourceName("20151129054053", "test_migration", "deploy")),
    ("dbmate", "schema.sql", None),
    ("flyway", "V1_1__add_sku.sql", SourceName("1.1", "add_sku", "deploy")),
    ("flyway", "V2.0.1__fix.sql", SourceName("2.0.1", "fix", "deploy")),
    ("flyway", "U1_1__add_sku.sql", SourceName("1.1", "add_sku", "revert")),
    ("flyway", "B5__baseline.sql", SourceName("5", "baseline", "baseline")),
    ("flyway", "R__views.sql", SourceName(None, "views", "repeatable")),
    ("flyway", "afterMigrate.sql", None),
    ("diesel", "2016-08-15-133237_create_posts", SourceName("20160815133237", "create_posts", "deploy")),
    ("diesel", "20160815133237_create_posts", SourceName("20160815133237", "create_posts", "deploy")),
    ("diesel", "00000000000000_diesel_initial_setup", SourceName("00000000000000", "diesel_initial_setup", "deploy")),
    ("efcore", "20240301101500_InitialCreate.sql", SourceName("20240301101500", "InitialCreate", "deploy")),
    ("efcore", "20240301101500_InitialCreate.down.sql", SourceName("20240301101500", "InitialCreate", "revert")),
    ("efcore", "2024_Initial.sql", None),
]


@pytest.mark.parametrize(("tool", "name", "expected"), CASES, ids=[f"{t}:{n}" for t, n, _ in CASES])
def test_each_tool_names_its_version_and_description(tool: str, name: str, expected: SourceName | None):
    assert names.source_name(tool, name) == expected


def test_every_source_tool_has_a_name_rule():
    assert set(names.SOURCE_TOOLS) == set(names.NAME_RULES)


@pytest.mark.parametrize(
    ("tool", "recorded", "file_name"),
    [
        ("golang-migrate", "1", "000001_create_users.up.sql"),
        ("goose", "20240101120000", "20240101120000_add_orders.sql"),
        ("dbmate", "20151129054053", "20151129054053_test_migration.sql"),
        ("flyway", "1.1", "V1_1__add_sku.sql"),
        ("diesel", "20160815133237", "2016-08-15-133237_create_posts"),
        ("efcore", "20240301101500_InitialCreate", "20240301101500_InitialCreate.sql"),
    ],
)
def test_a_history_row_finds_the_imported_version(tool: str, recorded: str, file_name: str):
    imported = names.source_name(tool, file_name).version
    assert version_key(names.history_version(tool, recorded)) == version_key(imported)


@pytest.mark.parametrize(
    ("description", "written"),
    [
        ("create_users", "create_users"),
        ("AddUsers", "AddUsers"),
        ("add  users & roles!", "add_users_roles"),
        ("__odd__", "odd"),
        ("", "migration"),
        ("ünïcode", "n_code"),
    ],
)
def test_descriptions_keep_letters_digits_and_underscores(description: str, written: str):
    assert names.engine_description(description) == written


def test_dashes_and_dots_stay_exactly_where_the_engine_takes_them():
    written = names.engine_description("add-profiles.v2")
    expected = "add-profiles.v2"
    for character in "-.":
        if character not in names.KEPT_PUNCTUATION:
            expected = expected.replace(character, "_")
    assert written == expected
    assert names.parse_name("V1__%s.sql" % written).slug == written  # the engine reads back what was written


def test_a_description_never_makes_a_migration_look_like_a_verify_script():
    written = names.engine_description("check.verify")
    assert names.parse_name(names.engine_file_name("deploy", "1", written)).role == "deploy"


def test_engine_file_names():
    assert names.engine_file_name("deploy", "1.1", "x") == "V1.1__x.sql"
    assert names.engine_file_name("revert", "1.1", "x") == "U1.1__x.sql"
    assert names.engine_file_name("repeatable", None, "x") == "R__x.sql"
