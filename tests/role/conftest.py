"""Fixtures for running the role's playbooks against a fresh database of the test server."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.ansible_run import PlaybookRun, run_playbook
from tests.changeset import MIGRATIONS
from tests.conftest import _drop_database, _new_database
from tests.pgdb import Database

HISTORY_SQL = "SELECT version, script, checksum, kind, success FROM pg_migrate_history ORDER BY installed_rank"


@pytest.fixture
def changeset_dir(tmp_path: Path) -> Path:
    """A private copy of the project's migrations that a test may edit."""
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, target)
    return target


# The two execution paths (pg_migrate_execution): a behaviour test marked @both_paths runs once on each, its
# `play` runs pass the path, and the test may ask for `execution` to tell which one it is on.
PATHS = ("controller", "host")
both_paths = pytest.mark.parametrize("execution", PATHS, indirect=True)


@pytest.fixture
def execution(request: pytest.FixtureRequest) -> str:
    """The execution path of this test's runs: each of PATHS under @both_paths, else the default (auto: the
    controller, for the local inventory)."""
    return getattr(request, "param", "auto")


@pytest.fixture
def play(db: Database, tmp_path: Path, execution: str) -> Callable[..., PlaybookRun]:
    """Run a playbook of the project with the local inventory against the test database.

    The run's temporary files (TMPDIR: check mode's staging directory, for one), its scripts and its reports
    go to this test's own directory, so a test that looks for leftovers sees only its own."""
    remote = tmp_path / "remote"
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    path = () if execution == "auto" else ("-e", f"pg_migrate_execution={execution}")

    def run(playbook: str = "migrate.yml", *args: str, env: dict[str, str] | None = None, **kwargs) -> PlaybookRun:
        env = {"TMPDIR": str(scratch), **(env or {})}
        own = ("-e", f"pg_migrate_remote_dir={remote}", "-e", f"pg_migrate_reports_dir={tmp_path / 'reports'}")
        return run_playbook(db, playbook, *own, *path, *args, env=env, **kwargs)

    return run


# --- databases that migrate.yml brought to a version, built once per worker -------------------------------
@dataclass(frozen=True)
class RoleTemplate:
    database: Database  # a template database: no connection may stay open on it
    remote: Path  # the scripts directory its run left behind (what the next run finds on the host)


class RoleTemplates:
    """Databases brought to a version by playbooks/migrate.yml, each built on first use and then copied
    (CREATE DATABASE ... TEMPLATE) into any test that starts from that state: the state is exactly what
    the playbook leaves, history table included, without paying a playbook run per test."""

    def __init__(self, server, base: Path) -> None:
        self.server = server
        self.base = base
        self.built: dict[tuple[str, bool], RoleTemplate] = {}

    def get(self, version: str, seeds: bool) -> RoleTemplate:
        key = (version, seeds)
        if key not in self.built:
            self.built[key] = self._build(version, seeds)
        return self.built[key]

    def _build(self, version: str, seeds: bool) -> RoleTemplate:
        database = _new_database(self.server)
        folder = self.base / f"{version}-{'seeded' if seeds else 'plain'}"
        scratch = folder / "tmp"
        scratch.mkdir(parents=True)
        run_playbook(
            database,
            "migrate.yml",
            *("-e", f"pg_migrate_remote_dir={folder / 'remote'}", "-e", f"pg_migrate_reports_dir={folder / 'reports'}"),
            *("-e", f"pg_migrate_target_version={version}", "-e", f"pg_migrate_seeds_enabled={str(seeds).lower()}"),
            env={"TMPDIR": str(scratch)},
        ).assert_ok()
        database.close()
        return RoleTemplate(database, folder / "remote")

    def drop_all(self) -> None:
        for template in self.built.values():
            _drop_database(template.database)


@pytest.fixture(scope="session")
def role_templates(pg_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoleTemplates]:
    templates = RoleTemplates(pg_server, tmp_path_factory.mktemp("role-templates"))
    try:
        yield templates
    finally:
        templates.drop_all()


@pytest.fixture
def migrated(db: Database, tmp_path: Path, role_templates: RoleTemplates) -> Callable[..., Database]:
    """Make the test's database what `playbooks/migrate.yml -e pg_migrate_target_version=VERSION` (with the
    seed when SEEDS) leaves, and the test's scripts directory what that run leaves on the host, as if the
    test had run it through `play` itself. Returns the database."""

    def restore(version: str = "005", seeds: bool = False) -> Database:
        template = role_templates.get(version, seeds)
        db.close()
        with psycopg.connect(db.server.conninfo(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{db.name}" TEMPLATE "{template.database.name}"')
        # copytree keeps modes and times: the next run's copy of the change set finds nothing to change.
        if template.remote.exists():  # the host path's copy (the controller path copies nothing)
            shutil.copytree(template.remote, tmp_path / "remote", dirs_exist_ok=True)
        return db

    return restore


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
    import tempfile

    import localpg

    base = Path(tempfile.mkdtemp(prefix="pg_migrate-standby-"))
    try:
        yield localpg.start_standby(db.server, base)
    finally:
        localpg.stop(base)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def fleet_maker(db: Database, pg_server, role_templates: RoleTemplates, tmp_path: Path):
    """fleet_maker(servers, at="001", settings=None, execution=None, ...) -> Fleet (tests/role/fleet_support.py's
    FleetMaker); any number of fleets per test, every database dropped after it."""
    from tests.role.fleet_support import FleetMaker  # it builds on this module's RoleTemplates

    maker = FleetMaker(pg_server, role_templates, db, tmp_path / "fleets")
    try:
        yield maker
    finally:
        maker.drop_all()


@pytest.fixture
def ledger_db(pg_server) -> Iterator[str]:
    """A fleet ledger database of this test's own (pg_migrate_fleet_ledger_db), dropped after it."""
    name = f"ledger_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(pg_server.conninfo(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
