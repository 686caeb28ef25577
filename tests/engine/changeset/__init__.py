"""The engine tests' own change set: a small library (shelves, books, an index built CONCURRENTLY), neutral to the
XP tables of files/. The engine is a generic tool; its tests prove it on a change set that is not the project's,
so that a change to the XP migrations never moves an engine test, and the engine's behaviour is not tied to them.

  migrations/  V001 shelves, V002 books (with a shelf to fill in later), V003 an index on books (title) built
               with CREATE INDEX CONCURRENTLY (marked -- pg_migrate:no-transaction, its revert too); each with
               its revert (U) and its verify script (raises 'V00N not in effect' when it is not)
  seeds/       R__shelves.sql: the shelves every library has (repeatable)
  backfill/    books_shelf.sql (+ .count.sql): links books to the shelf their genre names, along the book_id
               cursor; books whose genre has no shelf are blocked (docs/backfill.md's protocol)

Tests write it into their tmp_path as the role copies it to the managed host, and discover it with the same code
as the pg_migrate_run action (tests/engine/conftest.py: library)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset import discovery
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import version_key

HERE = Path(__file__).resolve().parent
MIGRATIONS = HERE / "migrations"
SEEDS = HERE / "seeds"
BACKFILL = HERE / "backfill" / "books_shelf.sql"
VERSIONS = ("001", "002", "003")
TABLES = ["books", "shelves"]  # what the whole change set creates in public
NO_TRANSACTION = "V003__books_title_index.sql"


def scripts(up_to: str | None = None) -> dict[str, str]:
    """The migrations directory's files (name -> SQL) of the versions up to UP_TO (default: all)."""
    found = {}
    for path in sorted(MIGRATIONS.glob("*.sql")):
        version = path.name[1:4]
        if up_to is None or version_key(version) <= version_key(up_to):
            found[path.name] = path.read_text()
    return found


def copy_to(base: Path, up_to: str | None = None, seeds: bool = False, backfill: bool = False) -> dict:
    """The change set up to UP_TO written under BASE (migrations/, seeds/, backfill/) and discovered: the
    changeset the pg_migrate_run action hands the module (its JSON form)."""
    (base / "migrations").mkdir(parents=True, exist_ok=True)
    for name, text in scripts(up_to).items():
        (base / "migrations" / name).write_text(text)
    if seeds:
        shutil.copytree(SEEDS, base / "seeds", dirs_exist_ok=True)
    changeset, problems, _warnings = discovery.build_changeset(
        str(base / "migrations"), str(base / "seeds") if seeds else None
    )
    assert problems == [], problems
    if backfill:
        shutil.copytree(BACKFILL.parent, base / "backfill", dirs_exist_ok=True)
        found = discovery.read_backfill(str(base / "backfill" / BACKFILL.name), problems)
        changeset = replace(changeset, backfill=found)
        assert problems == [], problems
    return changeset.to_dict()
