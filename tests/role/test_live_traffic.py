"""Live traffic first, end to end: a rollout that meets an application transaction holding a conflicting lock on
xp_awards waits without queueing (so claims never queue behind it), says who blocks on its progress lines, goes
on once that transaction commits, and its report records the wait. On both execution paths."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from tests.pgdb import Database
from tests.role.conftest import both_paths, history

# The run's wait without queueing, as pg_stat_activity shows its session: its last statement is its look at
# pg_locks (run/table_locks.py LOOK) or the rollback after it (it keeps no transaction open while it waits).
LOOKING = (
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_migrate' "
    "AND (query LIKE '%JOIN pg_locks l%' OR query = 'ROLLBACK')"
)
QUEUED = (
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
    "WHERE a.application_name = 'pg_migrate' AND NOT l.granted AND l.relation = 'xp_awards'::regclass"
)


@both_paths
def test_a_rollout_waits_without_queueing_behind_an_application_transaction_and_reports_it(
    db: Database, migrated, play, tmp_path: Path, execution: str
):
    migrated("002")
    blocker = db.connect()
    blocker.execute("SET application_name = 'claims-worker'")
    blocker_pid = blocker.execute("SELECT pg_backend_pid()").fetchone()[0]
    blocker.commit()
    blocker.execute("LOCK TABLE xp_awards IN ROW EXCLUSIVE MODE")  # as an INSERT of a claim does, then it stays
    outcome: dict = {}
    thread = threading.Thread(
        target=lambda: outcome.update(run=play("migrate.yml", "-e", "pg_migrate_progress_every=1")), daemon=True
    )
    thread.start()
    watcher = db.connect(autocommit=True)
    seen_looking, queued = 0, 0
    deadline = time.monotonic() + 120
    while seen_looking < 40 and time.monotonic() < deadline and thread.is_alive():  # ~2 s of its looking
        seen_looking += watcher.execute(LOOKING).fetchone()[0]
        queued += watcher.execute(QUEUED).fetchone()[0]
        time.sleep(0.05)
    assert seen_looking >= 40, "the run never looked at pg_locks while the application held its lock"
    assert [row[0] for row in history(db)] == ["001", "002"]  # nothing of V003 while it waits
    blocker.commit()
    thread.join(180)
    watcher.close()
    blocker.close()

    run = outcome["run"].assert_ok()
    assert queued == 0, "the run queued a lock request on xp_awards behind the application"
    assert "waits without queueing for its table locks" in run.output, run.raw
    assert f"pid {blocker_pid} (application 'claims-worker'" in run.output, run.raw
    report = json.loads((tmp_path / "reports" / "localhost" / "migrate.json").read_text())
    v003 = next(entry for entry in report["applied"] if entry["version"] == "003")
    assert v003["lock_wait_ms"] >= 1000 and v003["attempts"] == 1, v003
    assert v003["blocked_by"][0]["pid"] == blocker_pid and v003["blocked_by"][0]["application"] == "claims-worker"
    # blocked_by is the latest look at each blocker (docs/reports.md): a look during the blocker's COMMIT, which
    # holds its lock until it ends, sees that statement.
    assert v003["blocked_by"][0]["query"] in ("LOCK TABLE xp_awards IN ROW EXCLUSIVE MODE", "COMMIT"), v003
    assert f"waiting for its table locks (blocked by pid {blocker_pid})" in run.output, run.raw
    assert [row[0] for row in history(db)] == ["001", "002", "003", "004", "005"]
