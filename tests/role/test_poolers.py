"""Behind PgBouncer: transaction and statement pooling are refused before any change; session pooling works.

The migration lock is a session advisory lock. Behind transaction pooling it stays on whichever pooled
server session took it, so a run could report success, leave its lock behind and make every later run fail,
and two runs would not exclude each other. The check (refuse_transaction_pooling in module_utils/run/pooling.py)
is tested here directly, many times over, and through the playbooks, against a real PgBouncer in front of the test
server (tests/pgbouncer.py).
"""

from __future__ import annotations

import time
import types
from pathlib import Path

import psycopg
import pytest
from ansible_collections.community.postgresql.plugins.module_utils.postgres import connect_to_db
from psycopg import sql

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.run import pooling
from tests.ansible_run import PlaybookRun, start_playbook
from tests.pgbouncer import Bouncer, pgbouncer
from tests.pgdb import Database
from tests.role.conftest import advisory_locks, history

TRIALS = 25  # the check runs this often per setup: PgBouncer's reuse order must not let it slip through once
TRANSACTION_REFUSAL = "is reached through PgBouncer transaction pooling (pool_mode=transaction)"
STATEMENT_REFUSAL = "is reached through PgBouncer statement pooling (pool_mode=statement)"
THE_FIX = (
    "Connect directly to PostgreSQL (pg_migrate_login_host and pg_migrate_login_port of the server, not of "
    "PgBouncer), or through a PgBouncer database entry with pool_mode=session"
)


# --- the check itself, on connections opened the way the module opens them ---------------------------------
def _params(host: str, port: int, db: Database) -> dict:
    server = db.server
    return {
        "host": host,
        "port": port,
        "user": server.user,
        "password": server.password,
        "dbname": db.name,
        "application_name": "pg_migrate",
    }


def _connect(params: dict, autocommit: bool):
    return connect_to_db(pooling.ConnectOnly({}), dict(params), autocommit=autocommit)[0]


def _runner(conn, params: dict, db: Database, warnings: list[str]) -> types.SimpleNamespace:
    """What the check uses of a Runner: main() hands it connect_for_check the same way."""
    return types.SimpleNamespace(
        conn=conn,
        params={"login_db": db.name},
        lock_purpose="migration",
        module=types.SimpleNamespace(warn=warnings.append),
        connect_for_check=lambda: _connect(params, autocommit=True),
    )


def _check(host: str, port: int, db: Database, quiet_connect: bool = False) -> tuple[str | None, list[str]]:
    """Run the check on a fresh connection: (the refusal, or None; the warnings).

    The run's own connection is opened as main() opens it, through connect_to_db, which leaves a
    transaction open (SET datestyle); QUIET_CONNECT opens it without any statement, as psycopg2 does."""
    params = _params(host, port, db)
    conn = _connect(params, autocommit=quiet_connect)
    if quiet_connect:
        conn.autocommit = False
    warnings: list[str] = []
    runner = _runner(conn, params, db, warnings)
    try:
        pooling.refuse_transaction_pooling(
            runner.conn, db.name, runner.lock_purpose, runner.connect_for_check, runner.module.warn
        )
        return None, warnings
    except RunFailed as refusal:
        return str(refusal), warnings
    finally:
        conn.close()


@pytest.mark.parametrize("settings", [{}, {"server_round_robin": "1"}], ids=["lifo", "round-robin"])
def test_the_check_finds_transaction_pooling_every_time(db: Database, settings: dict[str, str]):
    with pgbouncer(db.server, "transaction", **settings) as bouncer:
        verdicts = [_check(bouncer.host, bouncer.port, db) for _ in range(TRIALS)]
    refusals = [refusal for refusal, _ in verdicts]
    assert all(refusal and TRANSACTION_REFUSAL in refusal for refusal in refusals), refusals
    assert all(refusal.endswith("Nothing was changed.") and THE_FIX in refusal for refusal in refusals)
    assert [warnings for _, warnings in verdicts] == [[]] * TRIALS


@pytest.mark.parametrize("through", ["direct", "session"])
def test_the_check_never_refuses_a_direct_or_session_pooled_connection(db: Database, through: str):
    server = db.server
    if through == "direct":
        verdicts = [_check(server.host, server.port, db) for _ in range(TRIALS)]
    else:
        with pgbouncer(server, "session") as bouncer:
            verdicts = [_check(bouncer.host, bouncer.port, db) for _ in range(TRIALS)]
    assert verdicts == [(None, [])] * TRIALS


def test_the_check_refuses_statement_pooling(db: Database):
    with pgbouncer(db.server, "statement") as bouncer:
        refusal, warnings = _check(bouncer.host, bouncer.port, db, quiet_connect=True)
    assert refusal and STATEMENT_REFUSAL in refusal, refusal
    assert "transaction blocks not allowed in statement pooling mode" in refusal
    assert THE_FIX in refusal and refusal.endswith("Nothing was changed.")
    assert warnings == []


def test_a_full_session_pool_makes_the_check_give_up_with_a_warning_not_hang(
    db: Database, monkeypatch: pytest.MonkeyPatch
):
    """pool_size=1 in session mode: the second connection can get no server session while the run holds one."""
    monkeypatch.setattr(pooling, "POOLING_CHECK_WAIT", 0.5)
    with pgbouncer(db.server, "session", default_pool_size="1") as bouncer:
        started = time.monotonic()
        refusal, warnings = _check(bouncer.host, bouncer.port, db)
        elapsed = time.monotonic() - started
    assert refusal is None
    assert elapsed < 5, elapsed
    assert len(warnings) == 1 and "got no server session within 0.5s" in warnings[0], warnings
    assert "the run went on without that check" in warnings[0]


def test_a_refused_second_connection_is_a_warning_not_a_failure(db: Database):
    """Behind session pooling with room for one client only, the check's second connection is refused: a setup
    that worked before the check existed still does, with a warning."""
    with pgbouncer(db.server, "session", max_client_conn="1") as bouncer:
        refusal, warnings = _check(bouncer.host, bouncer.port, db)
    assert refusal is None
    assert len(warnings) == 1 and "no more connections allowed" in warnings[0], warnings
    assert "the run went on without that check" in warnings[0]


def test_a_direct_connection_needs_no_second_connection(db: Database):
    """PostgreSQL announces the backend pid that then serves every transaction; a pooler cannot (PgBouncer
    announces random bytes). So a role with CONNECTION LIMIT 1, connected directly, passes without a warning."""
    role = f"{db.name}_limited"  # roles are cluster-wide: named after the test's own database
    db.query(
        sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 1 PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(db.server.password)
        )
    )
    warnings: list[str] = []
    try:
        params = {**_params(db.server.host, db.server.port, db), "user": role}
        with _connect(params, autocommit=False) as conn:
            runner = _runner(conn, params, db, warnings)
            pooling.refuse_transaction_pooling(
                conn, db.name, runner.lock_purpose, runner.connect_for_check, runner.module.warn
            )
            assert pooling.announced_backend_pid(conn) == db.scalar(
                "SELECT pid FROM pg_stat_activity WHERE usename = %s", (role,)
            )
    finally:
        with psycopg.connect(db.server.conninfo(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    assert warnings == []


# --- through the playbooks ----------------------------------------------------------------------------------
def _through(bouncer: Bouncer, tmp: Path, **extra: str) -> dict[str, str]:
    """The environment that points inventories/local at PgBouncer instead of the server."""
    tmp.mkdir(parents=True, exist_ok=True)
    return {"PGHOST": bouncer.host, "PGPORT": str(bouncer.port), "TMPDIR": str(tmp), **extra}


def _own_dirs(base: Path) -> tuple[str, ...]:
    return ("-e", f"pg_migrate_remote_dir={base / 'remote'}", "-e", f"pg_migrate_reports_dir={base / 'reports'}")


def _relations(db: Database) -> int:
    return db.scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
    )


def test_two_simultaneous_runs_behind_transaction_pooling_both_refuse_and_change_nothing(db: Database, tmp_path: Path):
    with pgbouncer(db.server, "transaction") as bouncer:
        runs = [
            start_playbook(
                db, "migrate.yml", *_own_dirs(tmp_path / f"run{n}"), env=_through(bouncer, tmp_path / f"tmp{n}")
            )
            for n in range(2)
        ]
        outputs = [run.communicate(timeout=300)[0] for run in runs]
        results = [PlaybookRun(run.returncode, output) for run, output in zip(runs, outputs, strict=True)]
        locks = advisory_locks(db)  # while PgBouncer still holds its server sessions: a lock left there shows
    for result in results:
        result.assert_failed()
        assert TRANSACTION_REFUSAL in result.output, result.raw[-6000:]
        assert THE_FIX in result.output
        assert "Nothing was changed." in result.output
    assert history(db) == []
    assert _relations(db) == 0  # not even the history table
    assert locks == 0


def test_statement_pooling_is_refused_the_same_way(db: Database, play, tmp_path: Path):
    with pgbouncer(db.server, "statement") as bouncer:
        result = play("migrate.yml", env=_through(bouncer, tmp_path / "tmp")).assert_failed()
        locks = advisory_locks(db)
    assert history(db) == [] and _relations(db) == 0 and locks == 0
    assert "PgBouncer statement pooling" in result.output, result.raw[-6000:]
    assert THE_FIX in result.output
    assert "Nothing was changed." in result.output


def test_a_session_pooled_entry_for_the_same_database_is_the_fix(db: Database, play, tmp_path: Path):
    """The documented fix: next to a transaction-pooled default, an entry with pool_mode=session."""
    alias = f"{db.name}_migrate"
    with pgbouncer(db.server, "transaction", databases={alias: f"dbname={db.name} pool_mode=session"}) as bouncer:
        refused = play("migrate.yml", env=_through(bouncer, tmp_path / "tmp")).assert_failed()
        assert TRANSACTION_REFUSAL in refused.output, refused.raw[-6000:]
        assert history(db) == [] and _relations(db) == 0

        play("migrate.yml", env=_through(bouncer, tmp_path / "tmp", PG_MIGRATE_DB=alias)).assert_ok()
        locks = advisory_locks(db)
    assert [row[0] for row in history(db)] == ["001", "002", "003", "004", "005"]
    assert locks == 0
