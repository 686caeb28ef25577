"""concurrency: two simultaneous runs apply each migration exactly once and leave no lock."""

import os
from pathlib import Path

from pgcheck import applied_versions, claims_digest, digest_in_snapshot, history, psql

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])


def test_both_runs_ended_cleanly():
    assert [(EPHEMERAL / f"run{n}.rc").read_text().strip() for n in (1, 2)] == ["0", "0"]


def test_each_migration_was_applied_once(host):
    assert [row[0] for row in history(host)] == ["001", "002", "003", "004", "005"]
    assert applied_versions(host) == ["001", "002", "003", "004", "005"]
    logs = [(EPHEMERAL / f"run{n}.log").read_text() for n in (1, 2)]
    applied = [line for log in logs for line in log.splitlines() if "applied V00" in line]
    assert len(applied) == 4, applied  # 002-005, by one run or the other, never by both


def test_no_lock_is_left_behind(host):
    assert psql(host, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == "0"
    assert claims_digest(host) == digest_in_snapshot(host, "prepared")
