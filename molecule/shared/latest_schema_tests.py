"""Tests every scenario that ends at the latest version imports: real state, read through the instance."""

from __future__ import annotations

from pgcheck import LATEST, applied_versions, claims_digest, digest_in_snapshot, psql, psql_error, reports


def test_database_is_at_the_latest_version(host):
    assert applied_versions(host) == LATEST


def test_policy_constraints_exist_and_are_valid(host):
    assert psql(host, "SELECT contype FROM pg_constraint WHERE conname = 'xp_policy_seasonal_boosts_no_overlap'") == "x"
    assert (
        psql(
            host,
            "SELECT indisunique AND indpred IS NOT NULL FROM pg_index "
            "WHERE indexrelid = 'xp_policy_versions_one_published_idx'::regclass",
        )
        == "t"
    )
    assert psql(host, "SELECT convalidated FROM pg_constraint WHERE conname = 'xp_awards_policy_version_fk'") == "t"
    assert (
        psql(host, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'xp_awards_policy_version_id_idx'::regclass")
        == "t"
    )
    assert psql(host, "SELECT count(*) FROM pg_extension WHERE extname = 'btree_gist'") == "1"
    assert psql(host, "SELECT to_regclass('xp_rules') IS NULL") == "t"


def test_overlapping_boosts_are_rejected_by_the_database(host):
    error = psql_error(
        host,
        """
        BEGIN;
        INSERT INTO xp_policies (policy_id, policy_key, display_name) OVERRIDING SYSTEM VALUE VALUES (-1, 'p', 'P');
        INSERT INTO xp_policy_versions (policy_version_id, policy_id, version, base_xp, effective_from)
               OVERRIDING SYSTEM VALUE VALUES (-1, -1, 1, 10, now());
        INSERT INTO xp_policy_seasonal_boosts (policy_version_id, label, multiplier, starts_at, ends_at)
               VALUES (-1, 'a', 2, '2026-01-01', '2026-02-01'), (-1, 'b', 2, '2026-01-15', '2026-03-01');
        ROLLBACK;""",
    )
    assert "23P01" in error and "xp_policy_seasonal_boosts_no_overlap" in error


def test_claims_granted_before_the_change_are_intact(host):
    assert claims_digest(host) == digest_in_snapshot(host, "prepared")
    assert int(claims_digest(host).split(":")[0]) >= 1000


def test_the_claim_path_still_works_with_its_idempotency_key(host):
    out = psql(
        host,
        """
        BEGIN;
        INSERT INTO xp_awards (player_id, amount, reason, idempotency_key)
             VALUES ('00000000-0000-0000-0000-0000000000aa', 10, 'quest', 'molecule-fresh') RETURNING 'granted';
        INSERT INTO xp_awards (player_id, amount, reason, idempotency_key)
             VALUES ('00000000-0000-0000-0000-0000000000aa', 10, 'quest', 'molecule-fresh')
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING 'granted twice';
        ROLLBACK;""",
    )
    assert "granted" in out and "granted twice" not in out


def test_the_role_verified_the_schema_after_migrating(host):
    verified = [r for r in reports("verify") if r["version"] == "005"]
    assert verified and all(r["summary"]["failed"] == 0 and r["summary"]["passed"] >= 150 for r in verified)
