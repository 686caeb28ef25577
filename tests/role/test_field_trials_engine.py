"""Field trials of the engine: pg_migrate_run_timeout on both paths, a login role with no more than CREATE on
the schemas it writes, and a lock message that names only a session of the run's own database."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.conftest import _drop_database, _new_database
from tests.pgdb import Database
from tests.role.conftest import advisory_locks, both_paths, history
from tests.role.test_field_trials import _wait_for

# --- pg_migrate_run_timeout ---------------------------------------------------------------------------------
SLEEP = 30  # seconds V006 sleeps; the run is given 3


@both_paths
def test_a_run_longer_than_the_run_timeout_is_ended_and_rolled_back(
    db: Database, migrated, play, changeset_dir: Path, tmp_path: Path, execution: str
):
    migrated("005")
    before = history(db)
    (changeset_dir / "V006__slow_step.sql").write_text(
        f"CREATE TABLE xp_slow_step (id int);\nSELECT pg_sleep({SLEEP});\n"
    )
    started = time.monotonic()
    result = play(
        "migrate.yml", "-e", f"pg_migrate_migrations_dir={changeset_dir}", "-e", "pg_migrate_run_timeout=3"
    ).assert_failed()
    seconds = time.monotonic() - started
    assert "ran longer than pg_migrate_run_timeout" in result.output, result.raw
    assert "raise pg_migrate_run_timeout if the step needs longer, and run again" in result.output, result.raw
    assert "Traceback" not in result.raw
    if execution == "controller":
        assert "ran longer than pg_migrate_run_timeout (3 s) and was stopped while running V006__slow_step.sql" in (
            result.output
        ), result.raw
        # Stopped at 3 s, not when the sleep ends: the rest is the playbook's own start-up and summary.
        assert seconds < SLEEP / 2, seconds
    # The killed job of the host path lets go of its session once the server notices the client is gone.
    _wait_for(lambda: advisory_locks(db) == 0, "the run's session to let go")
    _wait_for(
        lambda: db.scalar("SELECT count(*) = 0 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(%%'"),
        "the sleep to end",
    )
    assert history(db) == before  # no row for 006, failed or not
    assert db.scalar("SELECT to_regclass('xp_slow_step')") is None  # its transaction rolled back
    report = json.loads((tmp_path / "reports" / "localhost" / "migrate.json").read_text())
    assert "pg_migrate_run_timeout" in (report["error"] or ""), report
    assert report["applied"] == []
    print(f"{execution}: the playbook failed after {seconds:.1f} s")


# --- least privilege: CREATE on the schemas the run writes, nothing on the database -------------------------
TINY = {
    "V001__items.sql": "CREATE TABLE lp_items (id bigint PRIMARY KEY, name text NOT NULL);\n",
    "V002__items_name.sql": "CREATE INDEX lp_items_name_idx ON lp_items (name);\n",
}
# The project's verification files and extension are the XP change set's: a change set of its own has none.
OWN_CHANGESET = ("-e", '{"pg_migrate_required_extensions": []}', "-e", "pg_migrate_expected_schema=")
OWN_CHANGESET += ("-e", "pg_migrate_probes=")


@dataclass(frozen=True)
class Login:
    name: str
    password: str

    @property
    def env(self) -> dict[str, str]:
        """The local inventory's connection comes from the environment."""
        return {"PGUSER": self.name, "PGPASSWORD": self.password}


@pytest.fixture
def migrator(db: Database) -> Iterator[Login]:
    """A login role of its own (roles belong to the whole server, which parallel workers share): no privilege
    but CONNECT (PUBLIC's); dropped with whatever it owns or was granted in the test database."""
    login = Login(f"migrator_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex)
    db.query(f"CREATE ROLE {login.name} LOGIN PASSWORD '{login.password}'")
    try:
        yield login
    finally:
        db.query(f"DROP OWNED BY {login.name}")  # its objects and grants in the test database (the only one)
        db.query(f"DROP ROLE {login.name}")


def _tiny_changeset(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir()
    for name, text in TINY.items():
        (folder / name).write_text(text)
    return folder


@both_paths
def test_a_login_role_with_create_on_its_schemas_only_migrates(
    db: Database, play, migrator: Login, tmp_path: Path, execution: str
):
    """The common grant: the application's schema with USAGE and CREATE, nothing on the database."""
    db.query("CREATE SCHEMA app")
    db.query(f"GRANT USAGE, CREATE ON SCHEMA app TO {migrator.name}")
    db.query(f"ALTER ROLE {migrator.name} IN DATABASE {db.name} SET search_path = app")
    assert not db.scalar("SELECT has_database_privilege(%s, current_database(), 'CREATE')", (migrator.name,))
    flags = ("-e", f"pg_migrate_migrations_dir={_tiny_changeset(tmp_path)}", "-e", "pg_migrate_history_schema=app")
    result = play("migrate.yml", *flags, *OWN_CHANGESET, env=migrator.env)
    assert "permission denied" not in result.output, result.raw
    result.assert_ok()
    assert db.query("SELECT version, success, applied_by FROM app.pg_migrate_history ORDER BY installed_rank") == [
        ("001", True, migrator.name),
        ("002", True, migrator.name),
    ]
    assert db.scalar("SELECT to_regclass('app.lp_items_name_idx') IS NOT NULL")
    again = play("migrate.yml", *flags, *OWN_CHANGESET, env=migrator.env).assert_ok()
    assert "nothing pending: already at 002" in again.output
    play("status.yml", *flags, *OWN_CHANGESET, env=migrator.env).assert_ok()


@pytest.mark.parametrize("history_schema_exists", [False, True], ids=["no-history-schema", "no-create-on-it"])
@pytest.mark.parametrize("check", [False, True], ids=["run", "check-mode"])
def test_a_missing_privilege_is_named_with_its_grant_before_any_change(
    db: Database, play, migrator: Login, tmp_path: Path, history_schema_exists: bool, check: bool
):
    db.query("CREATE SCHEMA app")
    db.query(f"GRANT USAGE, CREATE ON SCHEMA app TO {migrator.name}")
    db.query(f"ALTER ROLE {migrator.name} IN DATABASE {db.name} SET search_path = app")
    if history_schema_exists:
        db.query("CREATE SCHEMA audit")
        db.query(f"GRANT USAGE ON SCHEMA audit TO {migrator.name}")  # reads it, may not create in it
    flags = ("-e", f"pg_migrate_migrations_dir={_tiny_changeset(tmp_path)}", "-e", "pg_migrate_history_schema=audit")
    result = play("migrate.yml", *flags, *OWN_CHANGESET, *(["--check"] if check else []), env=migrator.env)
    result.assert_failed()
    assert "Preflight failed" in result.output and "Nothing was changed" in result.output, result.raw
    assert "permission denied" not in result.output, result.raw  # said before it was tried
    if history_schema_exists:
        assert f"GRANT CREATE ON SCHEMA audit TO {migrator.name};" in result.output, result.raw
    else:
        assert "schema audit does not exist" in result.output, result.raw
        assert f"GRANT CREATE ON DATABASE {db.name} TO {migrator.name};" in result.output, result.raw
    assert db.scalar("SELECT to_regclass('app.lp_items') IS NULL")
    assert db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'audit'") == int(history_schema_exists)
    assert db.scalar("SELECT to_regclass('audit.pg_migrate_history') IS NULL")


# --- the lock's holder is a session of this database ------------------------------------------------------
@both_paths
def test_a_refused_run_names_the_lock_holder_of_its_own_database_only(db: Database, play, execution: str):
    key = "pg_migrate:public.pg_migrate_history"  # the same key in every database with the default history
    other = _new_database(db.server)
    elsewhere = [psycopg.connect(db.server.conninfo(other.name), autocommit=True) for _ in range(3)]
    here = psycopg.connect(db.server.conninfo(db.name), autocommit=True, application_name="holder-here")
    try:
        for conn in elsewhere:
            conn.execute("SELECT pg_advisory_lock_shared(hashtextextended(%s, 0))", (key,))
        here.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
        result = play("migrate.yml", "-e", "pg_migrate_advisory_lock_wait=1").assert_failed()
        assert f"another pg_migrate run holds the migration lock of {db.name} (pid {here.info.backend_pid} " in (
            result.output
        ), result.raw
        for conn in elsewhere:
            assert f"pid {conn.info.backend_pid}" not in result.output, result.raw
    finally:
        here.close()
        for conn in elsewhere:
            conn.close()
        _drop_database(other)
    assert history(db) == []


@pytest.mark.parametrize("playbook", ["migrate.yml", "backfill.yml"])
def test_the_password_is_not_shown_with_the_task_arguments_on_the_host_path(
    db: Database, play, migrated, playbook: str
):
    """The host path hands the password to the tasks that need it on the managed host (the job's watch, the
    backfill's batches): a callback that shows task arguments (display_args_to_stdout here; AWX records them
    in its job events) must not get it, nor may module defaults carry it into the other tasks."""
    password = db.server.password
    assert password
    if playbook == "backfill.yml":
        migrated("005", seeds=True).load_claims(200)  # the backfill's batches run on the managed host
    run = play(
        playbook,
        "-e",
        "pg_migrate_execution=host",
        "-e",
        "pg_migrate_seeds_enabled=true",
        env={"ANSIBLE_DISPLAY_ARGS_TO_STDOUT": "true"},
    ).assert_ok()
    ran = "Follow the job until it ends" if playbook == "migrate.yml" else "Run the backfill in batches"
    assert ran in run.raw  # the task that takes the password ran
    assert password not in run.raw
