"""Field trials of the engine: pg_migrate_run_timeout on both paths, a login role with no more than CREATE on
the schemas it writes, and lock messages that name only this database's sessions."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.pgdb import Database
from tests.role.conftest import advisory_locks, both_paths, history


def _wait_for(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


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
