"""Shared fixtures: one disposable real PostgreSQL server per test session, a fresh database per test."""

from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))  # localpg, gen_variables_table
# The collection's Python code imports itself as ansible_collections.pg_migrate.engine...: a namespace package
# that the repository's collections/ joins beside the installed collections (community.postgresql).
sys.path.insert(0, str(ROOT / "collections"))

import localpg  # noqa: E402  (tools/ is not a package; the path is set just above)
from tests.pgdb import Database  # noqa: E402


@pytest.fixture(scope="session")
def pg_server() -> Iterator[localpg.Connection]:
    """A real PostgreSQL server (initdb + pg_ctl on a free port), removed at the end of the session."""
    # Not under pytest's tmp_path: as root that is mode 0700, and the server runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="pg_migrate-test-"))
    try:
        yield localpg.start(base)
    finally:
        localpg.stop(base)
        shutil.rmtree(base, ignore_errors=True)


def _new_database(server: localpg.Connection, template: str = "template1") -> Database:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return Database(server, name)


def _drop_database(database: Database) -> None:
    database.close()
    with psycopg.connect(database.server.conninfo(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')


@pytest.fixture
def db(pg_server: localpg.Connection) -> Iterator[Database]:
    """A new, empty database on the session's server, dropped after the test."""
    database = _new_database(pg_server)
    try:
        yield database
    finally:
        _drop_database(database)


@pytest.fixture(scope="session")
def latest_template(pg_server: localpg.Connection) -> Iterator[Database]:
    """A database with the whole change set applied, built once, to copy from (CREATE DATABASE ... TEMPLATE)."""
    template = _new_database(pg_server)
    template.migrate()
    template.close()  # a template must have no open connections while it is copied
    try:
        yield template
    finally:
        _drop_database(template)


@pytest.fixture
def latest_db(pg_server: localpg.Connection, latest_template: Database) -> Iterator[Database]:
    """A new database at the latest version (a copy of latest_template), dropped after the test."""
    database = _new_database(pg_server, template=latest_template.name)
    database.version = latest_template.version
    try:
        yield database
    finally:
        _drop_database(database)


# --- scheduling: the longest tests first --------------------------------------------------------------------
# pytest-xdist hands tests out in collection order as workers free up; started first, the long playbook tests
# run side by side, and the many short ones fill the gaps at the end instead of one worker finishing a long
# test alone. Lower runs earlier; by folder or module (a rough measure of seconds per test, not a contract).
FIRST = {
    "tests/role/test_walkthrough.py": 0,
    "tests/role/test_field_trials.py": 1,
    "tests/role/test_fleet_trials.py": 1,
    "tests/role/test_field_trials_engine.py": 2,
    "tests/role/test_seed_backfill_playbooks.py": 1,
    "tests/role/test_safety.py": 1,
    "tests/role/test_poolers.py": 2,
    "tests/role/test_reports.py": 2,
    "tests/role/test_inventories.py": 2,
    "tests/collection": 1,  # builds and installs the collection, then runs a playbook
    "tests/role": 3,
    "tests/engine": 4,
    "tests/test_squawk.py": 4,
    "tests": 5,
    "tests/unit": 6,
}


def _rank(item: pytest.Item) -> int:
    path = Path(str(item.path)).relative_to(ROOT).as_posix()
    for prefix, rank in sorted(FIRST.items(), key=lambda entry: -len(entry[0])):
        if path == prefix or path.startswith(prefix + "/"):
            return rank
    return len(FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: the order within a module stays as written
