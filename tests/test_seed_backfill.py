"""The default-policy seed is idempotent; the backfill is batched, resumable, idempotent, never waits
on a locked row, and links every historical award to the default policy version in force."""

from __future__ import annotations

import threading

import pytest

from tests.pgdb import BACKFILL_SCRIPT, Database

POLICY_TABLES = [
    "xp_policies",
    "xp_policy_versions",
    "xp_policy_streak_curve",
    "xp_policy_seasonal_boosts",
    "xp_policy_segment_overrides",
]


def policy_snapshot(db: Database) -> dict[str, list[tuple]]:
    # As text: psycopg cannot load -infinity (the seed's effective_from) into a Python datetime.
    return {table: db.query(f"SELECT t::text FROM {table} AS t ORDER BY 1") for table in POLICY_TABLES}


def test_seed_publishes_the_default_policy(latest_db: Database):
    latest_db.seed()
    row = latest_db.query(
        "SELECT p.policy_key, v.version, v.status, v.base_xp, v.effective_from = '-infinity', "
        "       v.published_at IS NOT NULL"
        "  FROM xp_policies p JOIN xp_policy_versions v USING (policy_id)"
    )
    assert row == [("default", 1, "published", 100, True, True)]
    assert latest_db.scalar("SELECT count(*) FROM xp_policy_streak_curve") == 5
    assert latest_db.scalar("SELECT count(*) FROM xp_policy_segment_overrides") == 2


def test_seed_twice_equals_seed_once(latest_db: Database):
    latest_db.seed()
    once = policy_snapshot(latest_db)
    latest_db.seed()
    latest_db.seed()
    assert policy_snapshot(latest_db) == once


def test_seed_brings_the_policy_description_up_to_date_without_touching_versions(latest_db: Database):
    latest_db.seed()
    latest_db.query("UPDATE xp_policies SET display_name = 'renamed by hand'")
    versions = policy_snapshot(latest_db)["xp_policy_versions"]
    latest_db.seed()
    assert latest_db.scalar("SELECT display_name FROM xp_policies") == "Default XP policy"
    assert policy_snapshot(latest_db)["xp_policy_versions"] == versions


def test_seed_leaves_a_default_policy_with_newer_versions_alone(latest_db: Database):
    latest_db.seed()
    latest_db.query("UPDATE xp_policy_versions SET status = 'archived'")
    latest_db.query(
        "INSERT INTO xp_policy_versions (policy_id, version, status, base_xp, effective_from, "
        "published_at) SELECT policy_id, 2, 'published', 150, now(), now() FROM xp_policies"
    )
    before = policy_snapshot(latest_db)
    latest_db.seed()
    assert policy_snapshot(latest_db) == before


def test_backfill_without_seed_links_nothing_and_says_why(latest_db: Database):
    latest_db.load_claims(100)
    assert latest_db.backfill_batch(50) == (0, None, 50)  # all 50 of its reach are blocked
    with pytest.raises(AssertionError, match="apply the seed first"):
        latest_db.backfill_until_done(batch_size=50)


def test_backfill_links_every_historical_award_in_batches(latest_db: Database):
    last = latest_db.load_claims(2500)
    claims = latest_db.awards_digest(last)
    latest_db.seed()
    default_v1 = latest_db.scalar("SELECT policy_version_id FROM xp_policy_versions WHERE version = 1")

    assert latest_db.backfill_until_done(batch_size=1000) == [1000, 1000, 500]

    assert latest_db.query("SELECT policy_version_id, count(*) FROM xp_awards GROUP BY 1") == [(default_v1, 2500)]
    assert latest_db.awards_digest(last) == claims
    # Idempotent: a finished backfill links nothing and changes nothing.
    assert latest_db.backfill_batch(1000) == (0, None, 0)
    assert latest_db.backfill_until_done(batch_size=1000) == []


def test_backfill_resumes_after_an_interruption(latest_db: Database):
    latest_db.load_claims(1000)
    latest_db.seed()
    assert latest_db.backfill_batch(300, after=0)[:2] == (300, 300)
    assert latest_db.backfill_batch(300, after=300)[:2] == (300, 600)
    # ... the operator's session dies here; a later run starts over from cursor 0 and picks up the rest.
    assert latest_db.backfill_until_done(batch_size=300) == [300, 100]
    assert latest_db.scalar("SELECT count(*) FROM xp_awards WHERE policy_version_id IS NULL") == 0


def test_backfill_attributes_awards_by_the_version_window(latest_db: Database):
    latest_db.load_claims(1000)  # awarded 2025-01-01 .. 2025-01-05
    latest_db.seed()
    # The game team closed v1 at 2025-01-03 and published v2 from then on.
    latest_db.query("UPDATE xp_policy_versions SET status = 'archived' WHERE version = 1")
    latest_db.query(
        "INSERT INTO xp_policy_versions (policy_id, version, status, base_xp, effective_from, "
        "published_at) SELECT policy_id, 2, 'published', 150, '2025-01-03', now() FROM xp_policies"
    )
    latest_db.backfill_until_done(batch_size=400)
    wrong = latest_db.scalar(
        "SELECT count(*) FROM xp_awards a JOIN xp_policy_versions v USING (policy_version_id) "
        "WHERE (a.awarded_at < '2025-01-03') <> (v.version = 1)"
    )
    assert wrong == 0
    assert latest_db.scalar("SELECT count(DISTINCT policy_version_id) FROM xp_awards") == 2


def test_backfill_skips_rows_a_claim_transaction_holds_instead_of_waiting(latest_db: Database):
    latest_db.load_claims(200)
    latest_db.seed()
    held = threading.Event()
    release = threading.Event()

    def hold_row_lock() -> None:
        with latest_db.connect() as conn:
            conn.execute("SELECT 1 FROM xp_awards WHERE award_id = 1 FOR UPDATE")
            held.set()
            release.wait(timeout=30)
            conn.rollback()

    holder = threading.Thread(target=hold_row_lock)
    holder.start()
    try:
        assert held.wait(timeout=10)
        # lock_timeout=1s: if the backfill waited on the held row, this would fail with 55P03.
        batches = latest_db.backfill_until_done(batch_size=150, options="-c lock_timeout=1s")
        assert sum(batches) == 199
        assert latest_db.scalar("SELECT policy_version_id IS NULL FROM xp_awards WHERE award_id = 1")
    finally:
        release.set()
        holder.join()
    assert latest_db.backfill_until_done(batch_size=150) == [1]


def test_backfill_batch_takes_no_table_lock_stronger_than_row_exclusive(latest_db: Database):
    latest_db.load_claims(100)
    latest_db.seed()
    sql = BACKFILL_SCRIPT.read_text()
    with latest_db.connect() as conn:
        conn.execute("SET pg_migrate.batch_size = 10")
        conn.execute(sql)
        modes = {
            row[0]
            for row in conn.execute(
                "SELECT mode FROM pg_locks WHERE locktype = 'relation' AND pid = pg_backend_pid() "
                "AND relation = 'xp_awards'::regclass"
            )
        }
        conn.rollback()
    assert modes <= {"AccessShareLock", "RowShareLock", "RowExclusiveLock"}
    assert "RowExclusiveLock" in modes
