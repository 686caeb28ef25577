"""data_steps: migrate, seed and backfill through the playbooks; every award linked, claims intact."""

from latest_schema_tests import (  # noqa: F401  (pytest collects the imported tests)
    test_claims_granted_before_the_change_are_intact,
    test_database_is_at_the_latest_version,
)
from pgcheck import psql, reports


def test_the_seed_playbook_applied_the_seed(host):
    rows = psql(host, "SELECT script, kind, success FROM pg_migrate_history WHERE kind = 'repeatable'")
    assert rows == "R__default_policy.sql|repeatable|t"  # once: the idempotence run found nothing new


def test_the_default_policy_is_published_once(host):
    assert (
        psql(
            host,
            "SELECT p.policy_key, v.version, v.status FROM xp_policies p JOIN xp_policy_versions v USING (policy_id)",
        )
        == "default|1|published"
    )


def test_every_award_is_linked_to_the_default_version(host):
    assert psql(host, "SELECT count(*) FROM xp_awards WHERE policy_version_id IS NULL") == "0"
    assert int(psql(host, "SELECT count(*) FROM xp_awards")) >= 1000


def test_the_reports_show_the_backfill_done_and_the_second_run_idle(host):
    [backfill] = reports("backfill")  # the idempotence run's report: nothing left to link
    assert backfill["backfill"]["done"] is True and backfill["backfill"]["linked"] == 0
    assert backfill["error"] is None
    [seed] = reports("seed")
    assert seed["repeatables_applied"] == [] and seed["error"] is None
