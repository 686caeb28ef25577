"""module_utils/importing/dbmate.py: the up and down sections, transaction:false."""

from __future__ import annotations

from tests.unit.plugins.module_utils.importing.support import MARKER, planned


def test_sections_become_migration_and_revert():
    text = "-- migrate:up\nCREATE TABLE a (id int);\n\n-- migrate:down\nDROP TABLE a;\n"
    plan = planned("dbmate", {"20240101000000_a.sql": text})
    assert plan.files == {
        "V20240101000000__a.sql": "CREATE TABLE a (id int);\n",
        "U20240101000000__a.sql": "DROP TABLE a;\n",
    }


def test_transaction_false_marks_its_section_only():
    text = "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON a (id);\n-- migrate:down\nDROP INDEX i;\n"
    plan = planned("dbmate", {"2_i.sql": text})
    assert plan.files["V2__i.sql"].startswith(MARKER + "\n")
    assert plan.files["U2__i.sql"] == "DROP INDEX i;\n"
    assert plan.markers == ["V2__i.sql: runs outside a transaction (dbmate: transaction:false)"]


def test_a_missing_down_section_or_an_empty_one_is_no_revert():
    plan = planned(
        "dbmate", {"1_a.sql": "-- migrate:up\nSELECT 1;\n", "2_b.sql": "-- migrate:up\nSELECT 2;\n-- migrate:down\n"}
    )
    assert plan.reverts == [
        "V1__a.sql has no revert (the source has no down script for it)",
        "U2__b.sql reverts V2__b.sql with nothing to undo (empty down in 2_b.sql): a rollback past it removes its "
        "history row only",
    ]


def test_a_file_without_sections_stops_the_import():
    plan = planned("dbmate", {"1_a.sql": "CREATE TABLE a (id int);\n"})
    assert plan.problems == ["1_a.sql: expected one `-- migrate:up` line, then at most one `-- migrate:down` line"]
