"""module_utils/importing/goose.py: sections, annotations stripped, NO TRANSACTION, Go migrations listed."""

from __future__ import annotations

from tests.unit.plugins.module_utils.importing.support import MARKER, planned

FUNCTION = """-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END; $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION f();
"""
INDEX = """-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY i ON t (x);
-- +goose Down
DROP INDEX CONCURRENTLY i;
"""


def test_sections_become_migration_and_revert_without_the_annotations():
    plan = planned("goose", {"00001_f.sql": FUNCTION})
    assert plan.files == {
        "V00001__f.sql": "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END; $$;\n",
        "U00001__f.sql": "DROP FUNCTION f();\n",
    }


def test_no_transaction_marks_both_directions():
    plan = planned("goose", {"00002_i.sql": INDEX})
    assert plan.files["V00002__i.sql"] == MARKER + "\nCREATE INDEX CONCURRENTLY i ON t (x);\n"
    assert plan.files["U00002__i.sql"].startswith(MARKER + "\n")
    assert plan.markers[0] == "V00002__i.sql: runs outside a transaction (goose: -- +goose NO TRANSACTION)"


def test_go_migrations_are_listed_as_not_carried():
    plan = planned("goose", {"00001_f.sql": FUNCTION, "00003_fill.go": "package migrations\n"})
    assert plan.not_carried == [
        "00003_fill.go: a Go migration: pg_migrate runs SQL only; write what it does as a SQL migration of its version"
    ]


def test_a_file_without_an_up_section_or_with_envsub_stops_the_import():
    plan = planned("goose", {"1_a.sql": "CREATE TABLE a (id int);\n", "2_b.sql": "-- +goose ENVSUB ON\n-- +goose Up\n"})
    assert plan.problems == [
        "1_a.sql: SQL before `-- +goose Up`, which goose would not run: move it into a section",
        "2_b.sql: `-- +goose ENVSUB ON` is a goose annotation pg_migrate cannot carry",
    ]


def test_an_empty_down_section_is_a_revert_with_nothing_to_undo():
    plan = planned("goose", {"1_a.sql": "-- +goose Up\nCREATE TABLE a (id int);\n-- +goose Down\n-- nothing\n"})
    assert list(plan.files) == ["V1__a.sql", "U1__a.sql"]
    assert plan.reverts == [
        "U1__a.sql reverts V1__a.sql with nothing to undo (empty down in 1_a.sql): a rollback past it removes its "
        "history row only"
    ]
