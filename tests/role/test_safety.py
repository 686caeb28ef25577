"""The guard and the locks: drift, injected failures, concurrent runs, a killed controller, busy tables."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import psycopg

from tests.ansible_run import start_playbook
from tests.pgdb import Database
from tests.role.conftest import advisory_locks, both_paths, history


def _state(db: Database) -> tuple:
    return db.schema_dump(), history(db)


@both_paths
def test_editing_an_applied_file_is_drift_and_repair_records_the_new_checksum(
    db: Database, migrated, play, changeset_dir
):
    extra = ("-e", f"pg_migrate_migrations_dir={changeset_dir}")
    migrated("002")
    edited = changeset_dir / "V002__policy_as_data.sql"
    recorded = history(db)[1][2]
    edited.write_text(edited.read_text() + "\n-- reviewed by the DBA team\n")
    before = _state(db)

    result = play("migrate.yml", *extra).assert_failed()
    assert (
        "checksum drift: V002__policy_as_data.sql was applied with sha256 %s but the file now has" % recorded
        in result.output
    )
    assert "nothing was changed" in result.output
    assert _state(db) == before

    play("migrate.yml", *extra, "-e", "pg_migrate_repair=true").assert_ok()
    import hashlib

    assert history(db)[1][2] == hashlib.sha256(edited.read_bytes()).hexdigest()
    assert [row[0] for row in history(db)] == ["001", "002", "003", "004", "005"]


@both_paths
def test_a_migration_that_fails_half_way_changes_nothing_and_the_fixed_file_applies(
    db: Database, migrated, play, changeset_dir: Path
):
    extra = ("-e", f"pg_migrate_migrations_dir={changeset_dir}")
    migrated("005")
    last = db.load_claims(800)
    broken = changeset_dir / "V006__award_source.sql"
    broken.write_text(
        "ALTER TABLE xp_awards ADD COLUMN source text;\n"
        "UPDATE xp_awards SET source = 'legacy';\n"
        "ALTER TABLE xp_awards ADD CONSTRAINT xp_awards_source_known CHECK (source IN ('game', 'support'));\n"
        "CREATE INDEX xp_awards_source_idx ON xp_awards (source);\n"
    )
    before = _state(db), db.awards_digest(last)

    result = play("migrate.yml", *extra).assert_failed()
    assert "V006__award_source.sql failed at statement 3 (line 3) [SQLSTATE 23514]" in result.output
    assert 'check constraint "xp_awards_source_known"' in result.output
    assert "Statement: ALTER TABLE xp_awards ADD CONSTRAINT xp_awards_source_known" in result.output
    assert "the database is at version 005" in result.output
    assert "CREATE INDEX xp_awards_source_idx" not in result.output  # never the whole script
    assert (_state(db), db.awards_digest(last)) == before

    broken.write_text(broken.read_text().replace("('game', 'support')", "('game', 'support', 'legacy')"))
    play("migrate.yml", *extra).assert_ok()
    assert history(db)[-1][0] == "006"
    assert db.scalar("SELECT count(*) FROM xp_awards WHERE source = 'legacy'") == 800


@both_paths
def test_failing_verify_script_rolls_its_migration_back(db: Database, migrated, play, changeset_dir: Path):
    extra = ("-e", f"pg_migrate_migrations_dir={changeset_dir}")
    migrated("005")
    (changeset_dir / "V006__lookup_index.sql").write_text("CREATE TABLE xp_lookup (id int);\n")
    (changeset_dir / "V006__lookup_index.verify.sql").write_text(
        "DO $$ BEGIN IF to_regclass('xp_lookup_missing') IS NULL THEN "
        "RAISE EXCEPTION 'V006 not in effect: xp_lookup_missing is missing'; END IF; END $$;\n"
    )
    result = play("migrate.yml", *extra).assert_failed()
    assert "the verify script of V006__lookup_index.sql failed" in result.output
    assert "V006 not in effect" in result.output
    assert db.scalar("SELECT to_regclass('xp_lookup')") is None
    assert [row[0] for row in history(db)][-1] == "005"


@both_paths
def test_a_failed_concurrent_index_is_reported_with_the_fix(db: Database, migrated, play, changeset_dir: Path):
    extra = ("-e", f"pg_migrate_migrations_dir={changeset_dir}")
    migrated("005")
    db.query(
        "INSERT INTO xp_awards (player_id, amount, reason, idempotency_key) VALUES "
        "(gen_random_uuid(), 5, 'dup', 'k1'), (gen_random_uuid(), 5, 'dup', 'k2')"
    )
    (changeset_dir / "V006__unique_reason.sql").write_text(
        "-- pg_migrate:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY xp_awards_reason_key ON xp_awards (reason);\n"
    )
    result = play("migrate.yml", *extra).assert_failed()
    assert "[SQLSTATE 23505]" in result.output
    assert "runs outside a transaction" in result.output
    assert "INVALID index xp_awards_reason_key" in result.output
    assert "DROP INDEX CONCURRENTLY xp_awards_reason_key" in result.output
    assert history(db)[-1][0] == "006" and history(db)[-1][4] is False  # recorded as a failed attempt


def test_two_simultaneous_runs_apply_each_migration_once(db: Database, tmp_path: Path):
    runs = [
        start_playbook(db, "migrate.yml", "-e", f"pg_migrate_remote_dir={tmp_path / f'remote{n}'}") for n in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    versions = [row[0] for row in history(db)]
    assert versions == ["001", "002", "003", "004", "005"]
    applied_lines = [line for output in outputs for line in output.splitlines() if "applied V0" in line]
    assert len(applied_lines) == 5, outputs
    assert advisory_locks(db) == 0


def test_killed_controller_leaves_no_lock_and_a_consistent_database(
    db: Database, migrated, play, changeset_dir: Path, tmp_path: Path
):
    extra = ("-e", f"pg_migrate_migrations_dir={changeset_dir}")
    migrated("002")
    (changeset_dir / "V003__awards_policy_version_link.sql").write_text(
        (changeset_dir / "V003__awards_policy_version_link.sql").read_text() + "\nSELECT pg_sleep(30);\n"
    )
    run = start_playbook(db, "migrate.yml", *extra, "-e", f"pg_migrate_remote_dir={tmp_path / 'remote'}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until V003 is running (its sleep shows in pg_stat_activity)
        if db.scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%%'"):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the migration never started")
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)

    # The module process died with its controller, or finishes on its own: either way, once its
    # session is gone, history and schema agree and no lock is left.
    deadline = time.monotonic() + 60
    while (
        db.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_migrate'")
        and time.monotonic() < deadline
    ):
        time.sleep(0.5)
    assert advisory_locks(db) == 0
    column = db.scalar(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'xp_awards' "
        "AND column_name = 'policy_version_id'"
    )
    assert column == ("003" in [row[0] for row in history(db)])

    play("migrate.yml", *extra).assert_ok()
    assert [row[0] for row in history(db)] == ["001", "002", "003", "004", "005"]
    assert advisory_locks(db) == 0


@both_paths
def test_a_held_lock_makes_the_run_give_up_without_stalling_claims(db: Database, migrated, play):
    """A report holds ACCESS SHARE on xp_awards in a transaction that does not end: the run never queues its ACCESS
    EXCLUSIVE request behind it (so claims never queue behind the run), and gives up after
    pg_migrate_lock_wait_limit naming the report's session - bounded, nothing of V003 applied."""
    migrated("002")
    claim_latencies: list[float] = []
    reader_ready = threading.Event()
    release_reader = threading.Event()
    reader_pid: list[int] = []

    def long_report() -> None:
        with db.connect() as conn:  # a report holding ACCESS SHARE on xp_awards for a long time
            reader_pid.append(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
            conn.execute("SELECT count(*) FROM xp_awards")
            reader_ready.set()
            release_reader.wait(timeout=60)

    def claims_while_waiting() -> None:
        with db.connect(autocommit=True) as conn:
            stop = time.monotonic() + 5
            number = 0
            while time.monotonic() < stop:
                number += 1
                started = time.monotonic()
                conn.execute(
                    "INSERT INTO xp_awards (player_id, amount, reason, idempotency_key) "
                    "VALUES (gen_random_uuid(), 1, 'q', %s)",
                    (f"busy-{number}",),
                )
                claim_latencies.append(time.monotonic() - started)
                time.sleep(0.05)

    reader = threading.Thread(target=long_report)
    reader.start()
    assert reader_ready.wait(timeout=10)
    claims = threading.Thread(target=claims_while_waiting)
    try:
        claims.start()
        started = time.monotonic()
        result = play(
            "migrate.yml",
            "-e",
            "pg_migrate_lock_wait_limit=3s",
            "-e",
            "pg_migrate_lock_timeout=1s",
            "-e",
            "pg_migrate_lock_retries=2",
            "-e",
            "pg_migrate_lock_retry_delay=0.5",
        ).assert_failed()
        waited = time.monotonic() - started
    finally:
        claims.join()
        release_reader.set()
        reader.join()
    assert "V003__awards_policy_version_link.sql failed" in result.output
    assert "[SQLSTATE 55P03]" in result.output
    assert "without queueing behind the session(s) that block it: pid %d (" % reader_pid[0] in result.output
    assert "SELECT count(*) FROM xp_awards" in result.output and "the application was not held up" in result.output
    assert [row[0] for row in history(db)] == ["001", "002"]
    # The wait limit never cuts the attempts the lock settings describe: the rungs below 1 s, 3 x 1 s and the
    # sleeps (about 6.6 s in all), plus Ansible's own start-up; never unbounded.
    assert waited < 6.6 + 15, waited
    # The run never had a request in the queue: claims did not wait for it (the bound is 250 ms).
    assert max(claim_latencies) < 0.25, max(claim_latencies)
    assert len(claim_latencies) > 20


def test_password_never_appears_in_the_output(db: Database, play):
    password = db.server.password
    result = play("migrate.yml", "-vvv")
    assert result.returncode == 0
    assert password not in result.raw
    failing = play("migrate.yml", "-vvv", "-e", "pg_migrate_login_port=1")
    assert failing.returncode != 0
    assert password not in failing.raw


def test_a_run_that_waits_too_long_for_another_runs_lock_says_who_holds_it(db: Database, play):
    key = "pg_migrate:public.pg_migrate_history"
    with psycopg.connect(db.server.conninfo(db.name), autocommit=True, application_name="other-run") as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
        result = play("migrate.yml", "-e", "pg_migrate_advisory_lock_wait=2").assert_failed()
    assert "another pg_migrate run holds the migration lock" in result.output
    assert "application other-run" in result.output
    assert history(db) == [] or all(row[4] for row in history(db))
    assert db.scalar("SELECT to_regclass('xp_awards')") is None


def test_a_session_killed_mid_migration_fails_readably_and_leaves_the_database_as_it_was(
    db: Database, migrated, play, changeset_dir: Path, tmp_path: Path
):
    extra = ("-e", f"pg_migrate_migrations_dir={changeset_dir}", "-e", f"pg_migrate_reports_dir={tmp_path}")
    migrated("002")
    before = db.schema_dump()
    (changeset_dir / "V003__awards_policy_version_link.sql").write_text(
        (changeset_dir / "V003__awards_policy_version_link.sql").read_text() + "\nSELECT pg_sleep(30);\n"
    )
    killer_done = threading.Event()

    def terminate_when_sleeping() -> None:  # a DBA (or a failover) ends the migration's session
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if db.scalar(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%%'"
            ):
                break
            time.sleep(0.2)
        killer_done.set()

    killer = threading.Thread(target=terminate_when_sleeping)
    killer.start()
    run = play("migrate.yml", *extra).assert_failed()
    killer.join()
    assert "Traceback" not in run.raw, run.raw
    # The server ended the session: no SQLSTATE of a script, a lost connection, and what to do next.
    assert "the migrate run on %s broke off: OperationalError" % db.name in run.output, run.raw
    assert "run a status (pg_migrate_action=status) to see where the database stands" in run.output
    assert [row[0] for row in history(db)] == ["001", "002"]
    assert db.schema_dump() == before
    report = json.loads((tmp_path / "localhost" / "migrate.json").read_text())
    assert report["error"], report
