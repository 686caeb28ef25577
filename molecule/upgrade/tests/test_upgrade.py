"""upgrade: V001 without history -> baseline 001 + migrate; claims preserved byte for byte."""

from latest_schema_tests import (  # noqa: F401  (pytest collects the imported tests)
    test_claims_granted_before_the_change_are_intact,
    test_database_is_at_the_latest_version,
    test_policy_constraints_exist_and_are_valid,
    test_the_claim_path_still_works_with_its_idempotency_key,
    test_the_role_verified_the_schema_after_migrating,
)
from pgcheck import history, snapshot


def test_prepare_left_no_history(host):
    assert "(no history table)" in snapshot(host, "prepared")


def test_v001_was_adopted_not_run(host):
    assert history(host)[0] == ("001", "V001__claims_baseline.sql", "baseline", "t")
    assert [row[2] for row in history(host)[1:]] == ["migration"] * 4
