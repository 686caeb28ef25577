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
    """Run a playbook of the project with the local inventory against the test database.

    The run's temporary files (TMPDIR: check mode's staging directory, for one), its scripts and its reports
    go to this test's own directory, so a test that looks for leftovers sees only its own."""
    remote = tmp_path / "remote"
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)

    def run(playbook: str = "migrate.yml", *args: str, env: dict[str, str] | None = None, **kwargs) -> PlaybookRun:
        env = {"TMPDIR": str(scratch), **(env or {})}
        own = ("-e", f"pg_migrate_remote_dir={remote}", "-e", f"pg_migrate_reports_dir={tmp_path / 'reports'}")
        return run_playbook(db, playbook, *own, *args, env=env, **kwargs)

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


@pytest.fixture
def standby(db: Database):
    """A real hot standby of the test server (pg_basebackup -R), holding the test database."""
    import shutil
    import tempfile

    import localpg

    base = Path(tempfile.mkdtemp(prefix="pg_migrate-standby-"))
    try:
        yield localpg.start_standby(db.server, base)
    finally:
        localpg.stop(base)
        shutil.rmtree(base, ignore_errors=True)
