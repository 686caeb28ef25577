"""module_utils/importing/flyway.py: dotted versions, undo, repeatables, .conf, what has no counterpart."""

from __future__ import annotations

from tests.unit.plugins.module_utils.importing.support import MARKER, planned

FILES = {
    "V1__a.sql": "CREATE TABLE a (id int);\n",
    "U1__a.sql": "DROP TABLE a;\n",
    "db/V1_1__b.sql": "CREATE TABLE b (id int);\n",
    "V2__i.sql": "CREATE INDEX CONCURRENTLY i ON a (id);\n",
    "V2__i.sql.conf": "executeInTransaction=false\n",
    "R__v.sql": "CREATE OR REPLACE VIEW v AS SELECT 1 AS one;\n",
    "beforeMigrate.sql": "SELECT 1;\n",
    "B2__base.sql": "CREATE TABLE a (id int);\n",
    "V3__Fill.java": "class V3__Fill {}\n",
}


def test_versions_are_written_with_dots_and_repeatables_kept():
    plan = planned("flyway", FILES)
    assert plan.problems == []
    assert list(plan.files) == ["V1__a.sql", "U1__a.sql", "V1.1__b.sql", "V2__i.sql", "R__v.sql"]
    assert plan.sources["V1.1__b.sql"] == "db/V1_1__b.sql"


def test_execute_in_transaction_false_gives_the_marker():
    plan = planned("flyway", FILES)
    assert plan.files["V2__i.sql"] == MARKER + "\nCREATE INDEX CONCURRENTLY i ON a (id);\n"
    assert plan.markers == [
        "V2__i.sql: runs outside a transaction (Flyway: executeInTransaction=false in V2__i.sql.conf)"
    ]


def test_callbacks_baselines_and_java_migrations_are_listed():
    carried = {line.split(":")[0]: line for line in planned("flyway", FILES).not_carried}
    assert set(carried) == {"B2__base.sql", "V3__Fill.java", "beforeMigrate.sql"}
    assert "a Flyway callback" in carried["beforeMigrate.sql"]
    assert "a Java migration" in carried["V3__Fill.java"]
    assert "a Flyway baseline migration (the schema at version 2" in carried["B2__base.sql"]


def test_placeholders_stop_the_import():
    plan = planned("flyway", {"V1__a.sql": "CREATE TABLE ${prefix}_a (id int);\n"})
    assert plan.problems == [
        "V1__a.sql: Flyway placeholders (${prefix}), which pg_migrate does not replace: put their values into the "
        "script, then import again"
    ]


def test_versions_equal_as_numbers_are_one_version():
    plan = planned("flyway", {"V1__a.sql": "SELECT 1;\n", "V1_0__b.sql": "SELECT 2;\n"})
    assert plan.problems and "both are version" in plan.problems[0]
