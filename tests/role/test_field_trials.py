"""Field trials: bad inputs refused before any change, a dead background job noticed, a killed
concurrent index build named, a waiting run's own progress, and no password on disk."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import psycopg
import pytest

from tests.ansible_run import start_playbook
from tests.background import repeating
from tests.pgdb import Database
from tests.role.conftest import advisory_locks, history


def _nothing_created(db: Database) -> bool:
    return db.scalar("SELECT to_regclass('pg_migrate_history') IS NULL AND to_regclass('xp_awards') IS NULL")


def test_bad_inputs_are_refused_together_before_any_change(db: Database, play, tmp_path: Path):
    """An empty database name and user, bad timeouts and an unwritable reports directory: one refusal that
    names every variable, before anything connects."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    result = play(
        "migrate.yml",
        # The test environment sets PGDATABASE to the test database: libpq would fall back to it.
        "-e",
        "pg_migrate_db=",
        "-e",
        "pg_migrate_login_user=",
        "-e",
        "pg_migrate_lock_timeout='2 sec'",
        "-e",
        "pg_migrate_statement_timeout=30M",
        "-e",
        f"pg_migrate_reports_dir={blocker / 'reports'}",
    ).assert_failed()
    assert "pg_migrate_db is empty" in result.output and "pg_migrate_login_user is empty" in result.output
    assert "nothing was changed" in result.output
    assert "pg_migrate_lock_timeout ('2 sec') is not a PostgreSQL duration" in result.output
    assert "pg_migrate_statement_timeout ('30M') is not a PostgreSQL duration" in result.output
    assert f"pg_migrate_reports_dir: cannot write the run reports to {blocker}/reports/localhost" in result.output
    assert "broke off" not in result.output
    assert _nothing_created(db)


def test_a_run_refused_by_the_version_check_creates_nothing(db: Database, play):
    result = play("migrate.yml", "-e", "pg_migrate_target_version=999").assert_failed()
    assert "pg_migrate_target_version 999 matches no migration" in result.output
    assert _nothing_created(db)  # not even the history table


def _slow_v006(changeset_dir: Path, seconds: int) -> None:
    (changeset_dir / "V006__slow_step.sql").write_text(
        f"CREATE TABLE xp_slow_step (id int);\nSELECT pg_sleep({seconds});\n"
    )


def _wait_for(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _note_in_state(remote: Path, state: str) -> dict | None:
    for path in remote.glob(".progress-*.json"):
        try:
            note = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if note.get("state") == state:
            return note
    return None


def _running_note(remote: Path) -> dict | None:
    for path in remote.glob(".progress-*.json"):
        try:
            note = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if note.get("state") == "running" and "V006" in str(note.get("script")):
            return note
    return None


def _kill_job_and_wait(db: Database, changeset_dir: Path, tmp_path: Path, kill) -> tuple[str, int, float]:
    """Start a migrate whose V006 sleeps, kill (part of) its job once V006 runs; (output, rc, seconds after kill)."""
    extra = ("-e", f"pg_migrate_migrations_dir={changeset_dir}", "-e", f"pg_migrate_reports_dir={tmp_path / 'r'}")
    extra += ("-e", "pg_migrate_execution=host")  # the background job of the host path is what gets killed
    remote = tmp_path / "remote"
    run = start_playbook(
        db, "migrate.yml", *extra, "-e", f"pg_migrate_remote_dir={remote}", "-e", "pg_migrate_progress_every=1"
    )
    note = _wait_for(lambda: _running_note(remote), "V006 to start")
    kill(note)
    killed_at = time.monotonic()
    output, _ = run.communicate(timeout=120)
    return " ".join(output.split()), run.returncode, time.monotonic() - killed_at


def test_a_killed_module_process_is_noticed_quickly_and_explained(
    db: Database, migrated, changeset_dir: Path, tmp_path
):
    migrated("005")
    _slow_v006(changeset_dir, 120)
    output, returncode, seconds = _kill_job_and_wait(
        db, changeset_dir, tmp_path, lambda note: os.kill(note["pid"], signal.SIGKILL)
    )
    assert returncode != 0, output
    assert seconds < 60, seconds  # not pg_migrate_run_timeout (a day)
    assert "Traceback" not in output and "No start of json char found" not in output, output
    died = f"the pg_migrate job for {db.name} on localhost died while running V006__slow_step.sql (1 of 1)"
    assert died in output, output
    assert "The database is now at version 005, with 006 pending" in output, output
    _wait_for(lambda: advisory_locks(db) == 0, "the killed session's lock to go")
    assert [row[0] for row in history(db)][-1] == "005"
    assert db.scalar("SELECT to_regclass('xp_slow_step')") is None  # its transaction rolled back


def test_a_killed_job_wrapper_and_module_are_noticed_quickly(db: Database, migrated, changeset_dir: Path, tmp_path):
    migrated("005")
    _slow_v006(changeset_dir, 120)

    def kill_the_whole_job(note: dict) -> None:  # what the OOM killer or a reboot does to the job's processes
        wrapper = int(Path(f"/proc/{note['pid']}/stat").read_text().rsplit(")", 1)[1].split()[1])
        os.kill(wrapper, signal.SIGKILL)
        os.kill(note["pid"], signal.SIGKILL)

    output, returncode, seconds = _kill_job_and_wait(db, changeset_dir, tmp_path, kill_the_whole_job)
    assert returncode != 0, output
    assert seconds < 60, seconds
    assert "died while running V006__slow_step.sql (1 of 1)" in output, output
    assert "The database is now at version 005" in output
    # V006 was killed about when it started: a line or two before that at most, none once it was dead.
    assert output.count(f"localhost {db.name}: running V006__slow_step.sql") <= 2, output


@pytest.mark.parametrize("execution", ["controller", "host"])
def test_a_killed_concurrent_index_build_names_the_invalid_index(
    db: Database, migrated, play, changeset_dir: Path, execution: str
):
    # A lock_timeout of a minute: the build waits for the writer until it is killed, however slow the machine.
    extra = (
        "-e",
        f"pg_migrate_migrations_dir={changeset_dir}",
        "-e",
        f"pg_migrate_execution={execution}",
        "-e",
        "pg_migrate_lock_timeout=1min",
    )
    migrated("005")
    (changeset_dir / "V006__reason_index.sql").write_text(
        "-- pg_migrate:no-transaction\nCREATE INDEX CONCURRENTLY xp_awards_reason_idx ON xp_awards (reason);\n"
    )
    release = threading.Event()
    holding = threading.Event()

    def hold_a_write_lock() -> None:  # CREATE INDEX CONCURRENTLY waits for this writer's transaction to end
        with db.connect() as conn:
            conn.execute("LOCK TABLE xp_awards IN ROW EXCLUSIVE MODE")
            holding.set()
            release.wait(timeout=120)

    def kill_the_build() -> None:  # a DBA (or a failover) ends the session that builds the index
        _wait_for(
            lambda: db.scalar(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE query LIKE '%%CREATE INDEX CONCURRENTLY%%' AND application_name = 'pg_migrate'"
            ),
            "the index build to wait",
        )

    holder = threading.Thread(target=hold_a_write_lock)
    holder.start()
    assert holding.wait(timeout=30)
    killer = threading.Thread(target=kill_the_build)
    killer.start()
    try:
        result = play("migrate.yml", *extra).assert_failed()
    finally:
        killer.join()
        release.set()
        holder.join()
    assert "Traceback" not in result.raw
    assert "the session running V006__reason_index.sql" in result.output, result.raw
    assert "It left the INVALID index xp_awards_reason_idx behind" in result.output
    assert "DROP INDEX CONCURRENTLY xp_awards_reason_idx" in result.output
    assert history(db)[-1][0] == "006" and history(db)[-1][4] is False

    status = play("status.yml", *extra).assert_ok()
    assert "failed attempt: 006 (V006__reason_index.sql" in status.output
    assert "INVALID index: xp_awards_reason_idx" in status.output


@pytest.mark.parametrize("execution", ["controller", "host"])
def test_a_lost_connection_names_the_interrupted_script_and_the_servers_reason(
    db: Database, migrated, play, changeset_dir: Path, execution: str
):
    extra = ("-e", f"pg_migrate_migrations_dir={changeset_dir}", "-e", f"pg_migrate_execution={execution}")
    migrated("005")
    _slow_v006(changeset_dir, 60)
    killer = threading.Thread(
        target=_wait_for,
        args=(
            lambda: db.scalar(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%%'"
            ),
            "V006 to sleep",
        ),
    )
    killer.start()
    result = play("migrate.yml", *extra).assert_failed()
    killer.join()
    assert "It was running V006__slow_step.sql" in result.output, result.raw
    assert "terminating connection due to administrator command" in result.output, result.raw


def test_a_run_that_waited_for_another_says_so_and_shows_only_its_own_progress(
    db: Database, migrated, play, changeset_dir: Path, tmp_path: Path
):
    extra = ("-e", f"pg_migrate_migrations_dir={changeset_dir}", "-e", "pg_migrate_progress_every=1")
    extra += ("-e", "pg_migrate_execution=host")  # the other run's notes sit beside the scripts on the host
    migrated("005")
    (changeset_dir / "V006__quick_step.sql").write_text("CREATE TABLE xp_quick_step (id int);\n")
    # Another run holds the migration lock and notes its progress beside the same scripts, as a second
    # operator's run on the same host does (under the note names of this version and of the one before).
    remote = tmp_path / "remote"
    remote.mkdir(exist_ok=True)
    others = {"action": "migrate", "state": "running", "script": "V006__other.sql", "number": 1, "total": 1}
    for name in (".progress.json", ".progress-0123456789ab.json"):
        (remote / name).write_text(json.dumps(dict(others, since=time.time() + 3600)))
    key = "pg_migrate:public.pg_migrate_history"
    with psycopg.connect(db.server.conninfo(db.name), autocommit=True, application_name="other-run") as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))

        def release_once_it_waits() -> None:
            _wait_for(lambda: _note_in_state(remote, "waiting"), "the run to wait for the lock", timeout=120)
            time.sleep(2)
            other.execute("SELECT pg_advisory_unlock_all()")

        releaser = threading.Thread(target=release_once_it_waits)
        releaser.start()
        result = play("migrate.yml", *extra)
        releaser.join()
        result.assert_ok()
    assert "waiting for another pg_migrate run to release the migration lock (held by pid" in result.output, result.raw
    assert "s for the lock of another pg_migrate run" in result.output, result.raw
    assert "V006__other.sql" not in result.output  # the other run's progress is not ours
    assert "applied V006__quick_step.sql" in result.output


@pytest.mark.parametrize("execution", ["controller", "host"])
def test_the_password_is_never_written_to_disk(db: Database, play, changeset_dir: Path, tmp_path: Path, execution: str):
    """Scan every directory the run writes to (Ansible's temp files on the controller and on the managed
    host, its async results, TMPDIR, the remote scripts directory, the reports) while a migration runs,
    for the login password."""
    password = db.server.password.encode()
    _slow_v006(changeset_dir, 4)
    home, scratch = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    found: list[str] = []

    def scan() -> None:
        # os.walk, not rglob: a directory removed mid-walk (Ansible's temp dirs) ended rglob's scan thread.
        for folder, _dirs, names in os.walk(tmp_path):
            for name in names:
                path = Path(folder) / name
                try:
                    if path.is_file() and not path.is_symlink() and password in path.read_bytes():
                        found.append(str(path))
                except OSError:
                    pass  # removed while we looked

    with repeating(scan, 0.05):
        result = play(
            "migrate.yml",
            "-e",
            f"pg_migrate_migrations_dir={changeset_dir}",
            "-e",
            f"pg_migrate_reports_dir={tmp_path / 'reports'}",
            "-e",
            f"pg_migrate_execution={execution}",
            env={
                "HOME": str(home),  # the controller's temp files
                "TMPDIR": str(scratch),
                # Where Ansible puts module files and async results on the managed host (by default under the
                # remote user's home, which Ansible finds by name, not by HOME): here, inside this test.
                "ANSIBLE_REMOTE_TMP": str(tmp_path / "remote_tmp"),
                "ANSIBLE_ASYNC_DIR": str(tmp_path / "async"),
            },
        ).assert_ok()
    assert "applied V006__slow_step.sql" in result.output
    if execution == "host":
        # The scan looked where Ansible wrote (both folders are made by the run itself).
        assert (tmp_path / "async").is_dir() and (tmp_path / "remote_tmp").is_dir()
    else:
        # In the controller process: no module file, no job, nothing on a managed host at all.
        assert not (tmp_path / "async").exists() and not (tmp_path / "remote_tmp").exists()
    assert found == []
    assert password.decode() not in result.raw


def test_a_tls_failure_names_the_tls_settings(db: Database, play):
    result = play("migrate.yml", "-e", "pg_migrate_ssl_mode=require").assert_failed()
    assert "This is a TLS problem: pg_migrate_ssl_mode is require" in result.output
    assert "pg_migrate_ca_cert" in result.output
    assert _nothing_created(db)
