"""module_utils/importing/diesel.py: a directory per migration, metadata.toml, diesel's empty down."""

from __future__ import annotations

from tests.unit.plugins.module_utils.importing.support import MARKER, planned

FILES = {
    "00000000000000_diesel_initial_setup/up.sql": "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';\n",
    "00000000000000_diesel_initial_setup/down.sql": "DROP FUNCTION f();\n",
    "2016-08-15-133237_create_posts/up.sql": "CREATE TABLE posts (id int);\n",
    "2016-08-15-133237_create_posts/down.sql": "-- This file should undo anything in `up.sql`\n",
    "2016-08-16-000000_index/up.sql": "CREATE INDEX CONCURRENTLY i ON posts (id);\n",
    "2016-08-16-000000_index/metadata.toml": "run_in_transaction = false\n",
    "2016-08-16-000000_index/notes.md": "why\n",
}


def test_directories_become_migrations_with_the_dashes_of_their_versions_removed():
    plan = planned("diesel", FILES)
    assert list(plan.files) == [
        "V00000000000000__diesel_initial_setup.sql",
        "U00000000000000__diesel_initial_setup.sql",
        "V20160815133237__create_posts.sql",
        "U20160815133237__create_posts.sql",
        "V20160816000000__index.sql",
    ]


def test_the_generated_comment_only_down_is_a_revert_with_nothing_to_undo():
    assert (
        "U20160815133237__create_posts.sql reverts V20160815133237__create_posts.sql with nothing to undo (empty "
        "down in 2016-08-15-133237_create_posts/down.sql): a rollback past it removes its history row only"
        in (planned("diesel", FILES).reverts)
    )


def test_run_in_transaction_false_gives_the_marker_and_stray_files_are_listed():
    plan = planned("diesel", FILES)
    assert plan.files["V20160816000000__index.sql"].startswith(MARKER + "\n")
    assert "run_in_transaction = false" in plan.markers[0]
    assert [line.split(":")[0] for line in plan.not_carried] == ["2016-08-16-000000_index/notes.md"]


def test_a_directory_without_up_sql_stops_the_import():
    plan = planned("diesel", {"2016-08-15-133237_x/down.sql": "SELECT 1;\n"})
    assert plan.problems == ["2016-08-15-133237_x/: no up.sql: add it (diesel would refuse the directory too)"]
