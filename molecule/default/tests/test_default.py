"""default: a fresh database at V001 with claims, migrated to the latest version."""

from latest_schema_tests import (  # noqa: F401  (pytest collects the imported tests)
    test_claims_granted_before_the_change_are_intact,
    test_database_is_at_the_latest_version,
    test_overlapping_boosts_are_rejected_by_the_database,
    test_policy_constraints_exist_and_are_valid,
    test_the_claim_path_still_works_with_its_idempotency_key,
    test_the_role_verified_the_schema_after_migrating,
)
