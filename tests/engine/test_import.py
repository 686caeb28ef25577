"""An import gives the schema the other tool gives: each tool's fixture (tests/fixtures/import/<tool>/) imported,
migrated by the engine into an empty real database, and compared - through the catalogs - with a second empty
database where psql ran the tool's own up scripts in the tool's order, as the tool would.

The reference side reads the source files with rules written out here, not with the importer's code: a converter
that dropped a statement, lost a migration or reordered them would make the two schemas differ."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset import discovery
from ansible_collections.pg_migrate.engine.plugins.module_utils.run import apply
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.queries import CATALOG_SQL
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.import_files import run_import
from tests.conftest import _drop_database, _new_database
from tests.engine.conftest import history, run
from tests.pgdb import Database

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"
# The history tables of the engine and of the tools: bookkeeping, not the application's schema.
BOOKKEEPING = {
    "pg_migrate_history",
    "schema_migrations",
    "goose_db_version",
    "flyway_schema_history",
    "__diesel_schema_migrations",
    "__EFMigrationsHistory",
}
# What the catalog query leaves out and these migrations make: enum types, views, functions.
OTHER_OBJECTS_SQL = """
SELECT json_build_object(
    'enums', (SELECT json_agg(json_build_object('type', t.typname, 'labels',
                  (SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
                  ORDER BY t.typname)
                FROM pg_type t WHERE t.typtype = 'e' AND t.typnamespace = 'public'::regnamespace),
    'views', (SELECT json_agg(json_build_object('name', viewname, 'definition', definition) ORDER BY viewname)
                FROM pg_views WHERE schemaname = 'public'),
    'functions', (SELECT json_agg(pg_get_functiondef(p.oid) ORDER BY p.proname)
                    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace))
"""


def schema_of(db: Database) -> dict:
    """The schema of DB's public schema as the engine's verification reads it, plus enums, views and functions;
    without the history tables."""
    catalog = db.query(CATALOG_SQL, {"schema": "public"})[0][0]
    kept = {
        kind: [item for item in items if item.get("table", item["name"]) not in BOOKKEEPING]
        for kind, items in catalog.items()
    }
    return {**kept, **db.query(OTHER_OBJECTS_SQL)[0][0]}


def psql_text(db: Database, text: str) -> None:
    """TEXT run by psql as an operator runs a file (each statement on its own unless the text says otherwise)."""
    command = [db.server.program("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    result = subprocess.run(command, input=text, env=db.env(), capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def between(text: str, start: str, end: str) -> str:
    """The part of TEXT after the line matching START, up to the line matching END (or the end)."""
    after = re.split(start, text, maxsplit=1, flags=re.MULTILINE)[1]
    return re.split(end, after, maxsplit=1, flags=re.MULTILINE)[0]


def numeric(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name.split("__")[0].replace("-", "")))


def source_up_scripts(tool: str) -> list[str]:
    """The tool's up scripts, in the order the tool runs them, as the tool would send them to the server."""
    source = FIXTURES / tool
    if tool == "golang-migrate":
        return [path.read_text() for path in sorted(source.glob("*.up.sql"), key=lambda p: numeric(p.name))]
    if tool == "goose":
        files = sorted(source.glob("*.sql"), key=lambda p: numeric(p.name))
        return [between(path.read_text(), r"^-- \+goose Up$", r"^-- \+goose Down$") for path in files]
    if tool == "dbmate":
        files = sorted(source.glob("[0-9]*.sql"), key=lambda p: numeric(p.name))
        return [between(path.read_text(), r"^-- migrate:up.*$", r"^-- migrate:down.*$") for path in files]
    if tool == "flyway":
        versioned = sorted((source / "sql").glob("V*.sql"), key=lambda p: numeric(p.name[1:]))
        return [path.read_text() for path in [*versioned, *sorted((source / "sql").glob("R__*.sql"))]]
    if tool == "diesel":
        return [path.read_text() for path in sorted(source.glob("*/up.sql"), key=lambda p: numeric(p.parent.name))]
    assert tool == "efcore"
    return [path.read_text() for path in sorted(source.glob("[0-9]*_*.sql")) if not path.name.endswith(".down.sql")]


@pytest.fixture
def reference_db(pg_server) -> Iterator[Database]:
    database = _new_database(pg_server)
    try:
        yield database
    finally:
        _drop_database(database)


TOOLS = ["golang-migrate", "goose", "dbmate", "flyway", "diesel", "efcore"]
# How many migrations each fixture holds, and which of its scripts the source runs outside a transaction.
EXPECTED = {
    "golang-migrate": (4, ["V000003__index_users_status.sql", "U000003__index_users_status.sql"]),
    "goose": (4, ["V00003__index_orders_placed_at.sql", "U00003__index_orders_placed_at.sql"]),
    "dbmate": (4, ["V20240120080000__index_ledger_account.sql", "U20240120080000__index_ledger_account.sql"]),
    "flyway": (4, ["V3__index_products_name.sql"]),
    "diesel": (5, ["V20160820120000__index_posts_title.sql", "U20160820120000__index_posts_title.sql"]),
    "efcore": (4, ["V20240402120000__IndexPostsTitle.sql"]),
}


@pytest.mark.parametrize("tool", TOOLS)
def test_an_imported_history_migrates_an_empty_database_to_the_schema_the_tool_gives(
    tool: str, db: Database, reference_db: Database, runner_for, tmp_path: Path
):
    result = run_import(tool, str(FIXTURES / tool), str(tmp_path / "migrations"))
    assert not result.get("failed"), result.get("msg")
    assert result["not_carried"], "each fixture holds one thing the import cannot carry"
    changeset, problems, _warnings = discovery.build_changeset(str(tmp_path / "migrations"))
    assert problems == []
    count, unmarked = EXPECTED[tool]
    assert len(changeset.migrations) == count
    for name in unmarked:
        assert not discovery.is_transactional((tmp_path / "migrations" / name).read_text()), name

    applied = run(runner_for(changeset.to_dict()), apply.run_migrate, check=False, diff=False)
    assert [item["version"] for item in applied["applied"]] == [m.version for m in changeset.migrations]
    assert len(history(db)) == count + len(changeset.repeatables)

    for script in source_up_scripts(tool):
        psql_text(reference_db, script)
    assert schema_of(db) == schema_of(reference_db)
    assert schema_of(db)["tables"], "the comparison saw the application's tables"


# A database the tool migrated part of the way: its first K up scripts run (as the tool runs them), and the rows the
# tool's own history table has after them (the source's versions, as the tool records them).
PART_WAY = {
    "goose": (
        2,
        "CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, is_applied boolean NOT NULL, "
        "tstamp timestamp NULL default now(), PRIMARY KEY(id));"
        "INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), (2, true);",
    ),
    "diesel": (
        3,
        "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, "
        "run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);"
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('00000000000000'), ('20160815133237'), "
        "('20160816090000');",
    ),
}


@pytest.mark.parametrize("tool", sorted(PART_WAY))
def test_an_imported_history_adopts_a_database_the_tool_migrated_part_way_and_applies_only_the_rest(
    tool: str, db: Database, reference_db: Database, runner_for, tmp_path: Path
):
    done, history_sql = PART_WAY[tool]
    scripts = source_up_scripts(tool)
    for script in scripts[:done]:
        psql_text(db, script)
    psql_text(db, history_sql)
    result = run_import(tool, str(FIXTURES / tool), str(tmp_path / "migrations"))
    assert not result.get("failed"), result.get("msg")
    changeset, problems, _warnings = discovery.build_changeset(str(tmp_path / "migrations"))
    assert problems == []

    applied = run(runner_for(changeset.to_dict(), adopt=tool), apply.run_migrate, check=False, diff=False)
    versions = [m.version for m in changeset.migrations]
    assert [item["version"] for item in applied["applied"]] == versions[done:]  # the first ones ran once, by the tool
    assert [(row[0], row[2]) for row in history(db)] == [(v, "baseline") for v in versions[:done]] + [
        (v, "migration") for v in versions[done:]
    ]
    for script in scripts:
        psql_text(reference_db, script)
    assert schema_of(db) == schema_of(reference_db)
