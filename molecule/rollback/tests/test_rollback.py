"""rollback: migrate -> rollback to 001 -> migrate gives identical schema dumps; claims survive."""

from pgcheck import applied_versions, claims_digest, digest_in_snapshot, snapshot


def test_migrating_again_after_the_rollback_gives_the_identical_schema(host):
    assert snapshot(host, "second_apply") == snapshot(host, "first_apply")


def test_the_rollback_went_back_to_v001(host):
    rolled_back = snapshot(host, "rolled_back")
    assert "CREATE TABLE public.xp_rules" in rolled_back
    assert "xp_policies" not in rolled_back and "policy_version_id" not in rolled_back
    assert "|V002__policy_as_data.sql|" not in rolled_back
    assert "001|V001__claims_baseline.sql|" in rolled_back


def test_the_database_ends_at_the_latest_version_with_every_claim(host):
    assert applied_versions(host) == ["001", "002", "003", "004", "005"]
    assert claims_digest(host) == digest_in_snapshot(host, "prepared")
