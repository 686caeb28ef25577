"""playbooks/import.yml (the collection's pg_migrate.engine.import) as an operator runs it: check mode shows and
writes nothing, the import writes the engine's files, and a bad input fails before anything is written."""

from __future__ import annotations

from pathlib import Path

from tests.ansible_run import run_playbook
from tests.pgdb import Database

GOOSE = Path(__file__).resolve().parent.parent / "fixtures" / "import" / "goose"


def inputs(tool: str, source: Path, dest: Path) -> list[str]:
    return [
        "-e",
        f"pg_migrate_import_from={tool}",
        "-e",
        f"pg_migrate_import_source={source}",
        "-e",
        f"pg_migrate_import_dest={dest}",
    ]


def test_import_in_check_mode_then_for_real(db: Database, tmp_path: Path):
    dest = tmp_path / "migrations"
    checked = run_playbook(db, "import.yml", *inputs("goose", GOOSE, dest), "--check", "--diff").assert_ok()
    assert not dest.exists()
    assert "would write V00001__create_orders.sql (from 00001_create_orders.sql)" in checked.output
    assert "+-- pg_migrate:no-transaction" in checked.raw  # the diff of V00003
    assert "[WARNING]: not carried: 00004_backfill_totals.go: a Go migration" in checked.output

    imported = run_playbook(db, "import.yml", *inputs("goose", GOOSE, dest)).assert_ok()
    assert imported.recap["localhost"]["changed"] == 1
    assert sorted(path.name for path in dest.iterdir()) == [
        "U00001__create_orders.sql",
        "U00002__orders_touch.sql",
        "U00003__index_orders_placed_at.sql",
        "V00001__create_orders.sql",
        "V00002__orders_touch.sql",
        "V00003__index_orders_placed_at.sql",
        "V00005__order-lines.sql",
    ]
    assert "V00005__order-lines.sql has no revert" in imported.output

    again = run_playbook(db, "import.yml", *inputs("goose", GOOSE, dest)).assert_ok()
    assert again.recap["localhost"]["changed"] == 0 and "(7 already there, unchanged)" in again.output


def test_a_bad_input_fails_naming_the_variable_and_writes_nothing(db: Database, tmp_path: Path):
    dest = tmp_path / "migrations"
    failed = run_playbook(db, "import.yml", *inputs("liquibase", GOOSE, dest)).assert_failed()
    assert "pg_migrate_import_from: 'liquibase' is not a tool the importer knows" in failed.output
    assert "nothing was written" in failed.output and not dest.exists()

    missing = run_playbook(db, "import.yml", "-e", f"pg_migrate_import_source={GOOSE}").assert_failed()
    assert "-e pg_migrate_import_from=" in missing.output
