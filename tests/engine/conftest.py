"""The engine below the playbook: module_utils called directly against the session's real PostgreSQL server.

A test writes a small change set into its tmp_path (migrations/, seeds/, backfill/, as the role copies them
to the managed host), discovers it with the same code as the pg_migrate_run action, and runs it through
a session.Runner whose parameters are the module's defaults."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from ansible_collections.community.postgresql.plugins.module_utils.postgres import connect_to_db

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset import discovery
from ansible_collections.pg_migrate.engine.plugins.module_utils.engine import result_dict
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.outcome import (
    ActionFailed,
    ActionOutcome,
    RunResult,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.pooling import ConnectOnly
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.session import Runner
from tests.engine import changeset as library_changeset
from tests.pgdb import Database
from tests.unit.plugins import load

MODULE = load("modules/pg_migrate.py", "pg_migrate_module")
HISTORY = "SELECT version, script, kind, success FROM pg_migrate_history ORDER BY installed_rank"


def module_defaults() -> dict:
    """The module's parameters as Ansible would fill them in when a task sets nothing."""
    return {name: spec.get("default") for name, spec in MODULE.argument_spec().items()}


def write_changeset(
    base: Path,
    migrations: dict[str, str],
    seeds: dict[str, str] | None = None,
    backfill: tuple[str, str] | None = None,
) -> dict:
    """The change set of these scripts (file name -> SQL), written under BASE as the role copies them, in its JSON
    form (the module option)."""
    for subdir, scripts in (("migrations", migrations), ("seeds", seeds or {})):
        (base / subdir).mkdir(parents=True, exist_ok=True)
        for name, text in scripts.items():
            (base / subdir / name).write_text(text)
    changeset, problems, _warnings = discovery.build_changeset(
        str(base / "migrations"), str(base / "seeds") if seeds else None
    )
    assert problems == []
    if backfill:
        (base / "backfill").mkdir(exist_ok=True)
        (base / "backfill" / "fill.sql").write_text(backfill[0])
        (base / "backfill" / "fill.count.sql").write_text(backfill[1])
        changeset = replace(changeset, backfill=discovery.read_backfill(str(base / "backfill" / "fill.sql"), problems))
        assert problems == []
    return changeset.to_dict()


def connection_params(db: Database) -> dict:
    server = db.server
    return {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "password": server.password,
        "dbname": db.name,
        "application_name": "pg_migrate",
    }


def connect(db: Database, autocommit: bool = False):
    """A connection as the module opens it (community.postgresql's connect_to_db: dict rows, client cursor)."""
    conn = connect_to_db(ConnectOnly({}), connection_params(db), autocommit=True)[0]
    conn.autocommit = autocommit
    return conn


class Runners:
    """Runners on DB with the module's defaults and the test's change set; all closed at the end."""

    def __init__(self, db: Database, base: Path) -> None:
        self.db = db
        self.base = base
        self.opened: list[Runner] = []
        self.warnings: list[str] = []

    def __call__(self, changeset: dict, **params: object) -> Runner:
        values = dict(module_defaults(), changeset=changeset, scripts_dir=str(self.base), login_db=self.db.name)
        values.update(lock_retry_delay=0.05, advisory_lock_wait=5.0)  # keep failing tests fast
        values.update(params)
        runner = Runner(
            values,
            connect(self.db),
            warn=self.warnings.append,
            reconnect=lambda: connect(self.db),
            connect_for_check=lambda: connect(self.db, autocommit=True),
        )
        self.opened.append(runner)
        return runner

    def close(self) -> None:
        for runner in self.opened:
            runner.release_quietly()
            runner.session.conn.close()


@pytest.fixture
def runner_for(db: Database, tmp_path: Path) -> Iterator[Callable[..., Runner]]:
    runners = Runners(db, tmp_path)
    try:
        yield runners
    finally:
        runners.close()
    assert runners.warnings == []  # the pooling check runs on every lock: a direct connection passes it


@pytest.fixture
def library(tmp_path: Path) -> Callable[..., dict]:
    """The engine tests' neutral change set (tests/engine/changeset/: a library's shelves and books, an index built
    CONCURRENTLY, a seed, a backfill) written under the test's tmp_path as the role copies it, and discovered:
    library(up_to=None, seeds=False, backfill=False) -> changeset."""

    def write(up_to: str | None = None, seeds: bool = False, backfill: bool = False) -> dict:
        return library_changeset.copy_to(tmp_path, up_to, seeds, backfill)

    return write


def new_result() -> dict:
    """The result the module starts every run with."""
    return {"changed": False, "applied": [], "reverted": [], "repeatables_applied": [], "plan": {}}


def run(runner: Runner, action: Callable[..., ActionOutcome], result: dict | None = None, **flags: object) -> dict:
    """ACTION(runner, **flags) as the module runs it, its outcome as the module's dict (engine.result_dict) put in
    RESULT: the lock and the progress note go at the end, failed or not; a failed action raises what stopped it
    once its outcome so far is in RESULT."""
    result = new_result() if result is None else result
    as_dict = lambda outcome: result_dict(RunResult(runner.params["login_db"], runner.params["action"], outcome))  # noqa: E731
    try:
        outcome = action(runner, **flags)
    except ActionFailed as stop:
        result.update(as_dict(stop.outcome))
        raise stop.cause from None
    finally:
        runner.release_quietly()
    result.update(as_dict(outcome))
    return result


def history(db: Database) -> list[tuple]:
    if not db.scalar("SELECT to_regclass('pg_migrate_history') IS NOT NULL"):
        return []
    return db.query(HISTORY)


def tables(db: Database) -> list[str]:
    return [row[0] for row in db.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]


def advisory_locks(db: Database) -> int:
    return db.scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    )


@pytest.fixture
def role(db: Database) -> Iterator[str]:
    """A login role of this test only (the server is shared by parallel workers), dropped with what it owns."""
    name = f"least_{uuid.uuid4().hex[:10]}"
    db.query(f"CREATE ROLE {name} LOGIN PASSWORD 'secret'")
    try:
        yield name
    finally:
        db.query(f"DROP OWNED BY {name}")
        db.query(f"DROP ROLE {name}")


@pytest.fixture
def runner_as(db: Database, role: str, tmp_path) -> Iterator[Callable[..., Runner]]:
    """Runners logged in as ROLE, with the module's defaults and the preflight on; closed at the end."""
    opened: list[Runner] = []

    def make(changeset: dict, **params: object) -> Runner:
        login = dict(connection_params(db), user=role, password="secret")

        def connect(autocommit: bool = False):
            conn = connect_to_db(ConnectOnly({}), dict(login), autocommit=True)[0]
            conn.autocommit = autocommit
            return conn

        values = dict(module_defaults(), changeset=changeset, scripts_dir=str(tmp_path), login_db=db.name)
        values.update(preflight=True, inventory_host="here", lock_retry_delay=0.05, advisory_lock_wait=5.0)
        values.update(params)
        runner = Runner(values, connect(), connect_for_check=lambda: connect(autocommit=True))
        opened.append(runner)
        return runner

    yield make
    for runner in opened:
        runner.release_quietly()
        runner.session.conn.close()
