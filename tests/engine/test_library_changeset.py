"""The engine end to end on its own neutral change set (tests/engine/changeset/: a library), against the real
server: every migration applied with its history row and verify script, the no-transaction index build outside a
transaction, the seed after the migrations, the backfill to the end, and a rollback to nothing that a second
migrate turns back into the identical schema."""

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.run import apply, backfill, rollback
from ansible_collections.pg_migrate.engine.plugins.module_utils.verify import database_checks as verify
from tests.engine import changeset as library_changeset
from tests.engine.conftest import history, run, tables
from tests.pgdb import Database

LATEST = [
    ("001", "V001__shelves.sql", "migration", True),
    ("002", "V002__books.sql", "migration", True),
    ("003", "V003__books_title_index.sql", "migration", True),
]


def migrate(runner_for, changeset: dict, **params: object) -> dict:
    return run(runner_for(changeset, **params), apply.run_migrate, check=False, diff=False)


def test_an_empty_database_migrates_to_the_latest_version_and_its_verify_scripts_pass(
    db: Database, runner_for, library
):
    result = migrate(runner_for, library())
    assert [item["version"] for item in result["applied"]] == list(library_changeset.VERSIONS)
    assert result["plan"]["to_version"] == "003"
    assert history(db) == LATEST
    assert tables(db) == ["books", "pg_migrate_history", "shelves"]
    # Built CONCURRENTLY (outside a transaction) and valid.
    assert db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'books_title_idx'::regclass") is True

    checked = verify.run_verify(runner_for(library(), action="verify"))
    assert checked["version"] == "003"
    assert {item["id"]: item["passed"] for item in checked["probe_results"]} == {
        "verify script V001__shelves.verify.sql": True,
        "verify script V002__books.verify.sql": True,
        "verify script V003__books_title_index.verify.sql": True,
    }


def test_a_database_part_of_the_way_gets_only_what_is_pending(db: Database, runner_for, library):
    assert [item["version"] for item in migrate(runner_for, library(up_to="001"))["applied"]] == ["001"]
    result = migrate(runner_for, library())
    assert [item["version"] for item in result["applied"]] == ["002", "003"]
    assert result["plan"]["from_version"] == "001" and history(db) == LATEST


def test_a_rollback_to_nothing_reverts_newest_first_and_a_migrate_rebuilds_the_identical_schema(
    db: Database, runner_for, library
):
    migrate(runner_for, library())
    latest = db.schema_dump()
    reverted = run(
        runner_for(library(), action="rollback", target_version="000"), rollback.run_rollback, check=False, diff=False
    )
    assert [item["script"] for item in reverted["reverted"]] == [
        "U003__books_title_index.sql",
        "U002__books.sql",
        "U001__shelves.sql",
    ]
    assert tables(db) == ["pg_migrate_history"] and history(db) == []
    migrate(runner_for, library())
    assert db.schema_dump() == latest and history(db) == LATEST


def test_the_seed_follows_the_migrations_and_the_backfill_links_every_book_it_can(db: Database, runner_for, library):
    changeset = library(seeds=True, backfill=True)
    result = migrate(runner_for, changeset)
    assert [item["script"] for item in result["repeatables_applied"]] == ["R__shelves.sql"]
    assert db.query("SELECT shelf_id, label FROM shelves ORDER BY 1") == [(1, "fiction"), (2, "reference")]

    db.query(
        "INSERT INTO books (book_id, title, genre) SELECT g, 'book ' || g, "
        "(ARRAY['fiction', 'reference', 'poetry'])[g % 3 + 1] FROM generate_series(1, 30) AS g"
    )
    runner = runner_for(changeset, action="backfill", backfill=changeset["backfill"], batch_size=4)
    report = run(runner, backfill.run_backfill, check=False)["backfill"]
    assert (report["linked"], report["done"], report["remaining"]) == (20, True, 10)  # no poetry shelf yet
    assert db.query("SELECT genre, count(*) FROM books WHERE shelf_id IS NULL GROUP BY 1") == [("poetry", 10)]
