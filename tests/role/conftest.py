"""Fixtures for running the role's playbooks against a fresh database of the test server."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ansible_run import PlaybookRun, run_playbook
from tests.changeset import MIGRATIONS
from tests.pgdb import Database

HISTORY_SQL = "SELECT version, script, checksum, kind, success FROM pg_migrate_history ORDER BY installed_rank"


@pytest.fixture
def changeset_dir(tmp_path: Path) -> Path:
    """A private copy of the project's migrations that a test may edit."""
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, target)
    return target


@pytest.fixture
def play(db: Database, tmp_path: Path) -> Callable[..., PlaybookRun]:
    """Run a playbook of the project with the local inventory against the test database."""
    remote = tmp_path / "remote"

    def run(playbook: str = "migrate.yml", *args: str, **kwargs) -> PlaybookRun:
        return run_playbook(db, playbook, "-e", f"pg_migrate_remote_dir={remote}", *args, **kwargs)

    return run


def history(db: Database) -> list[tuple]:
    if not db.scalar("SELECT to_regclass('pg_migrate_history') IS NOT NULL"):
        return []
    return db.query(HISTORY_SQL)


def advisory_locks(db: Database) -> int:
    return db.scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    )
