"""Claims are sacred: rows granted before the change survive it byte for byte, and the claim path
(including its idempotency key) works after every step of the change set."""

from __future__ import annotations

import uuid

import pytest

from tests.changeset import changes
from tests.pgdb import Database, ScriptFailed

HISTORY = 3000


def assert_claim_path_works(db: Database, step: str) -> None:
    player = str(uuid.uuid4())
    key = f"claim-after-{step}-{uuid.uuid4().hex[:8]}"
    first = db.claim(player, 25, key)
    assert first is not None, f"after {step}: a fresh idempotency key must be granted"
    assert db.claim(player, 25, key) is None, f"after {step}: a retried claim must be ignored"
    assert db.scalar("SELECT count(*) FROM xp_awards WHERE idempotency_key = %s", (key,)) == 1
    # The hot read path still answers from its index.
    plan = "\n".join(
        r[0]
        for r in db.query(
            "EXPLAIN (COSTS OFF) SELECT * FROM xp_awards WHERE player_id = %s ORDER BY awarded_at DESC LIMIT 20",
            (player,),
        )
    )
    assert "xp_awards_player_awarded_at_idx" in plan, f"after {step}:\n{plan}"


def test_history_is_intact_and_claims_work_after_every_step(db: Database):
    db.migrate(up_to="001")
    last_historical = db.load_claims(HISTORY)
    db.query("ANALYZE xp_awards")
    before = db.awards_digest(last_historical)
    assert before[0] == HISTORY
    assert_claim_path_works(db, "V001")
    for change in changes()[1:]:
        db.deploy(change)
        assert db.awards_digest(last_historical) == before, f"claims changed by {change.deploy.name}"
        assert_claim_path_works(db, f"V{change.version}")


def test_claims_survive_seed_and_backfill_too(db: Database):
    db.migrate(up_to="001")
    last_historical = db.load_claims(HISTORY)
    before = db.awards_digest(last_historical)
    db.migrate()
    db.seed()
    db.backfill_until_done(batch_size=700)
    assert db.awards_digest(last_historical) == before
    assert db.scalar("SELECT count(*) FROM xp_awards WHERE policy_version_id IS NULL") == 0
    assert_claim_path_works(db, "seed+backfill")


def test_a_claim_can_carry_its_policy_version_after_the_change(latest_db: Database):
    latest_db.seed()
    version_id = latest_db.scalar("SELECT policy_version_id FROM xp_policy_versions WHERE status = 'published'")
    award = latest_db.scalar(
        "INSERT INTO xp_awards (player_id, amount, reason, idempotency_key, policy_version_id) "
        "VALUES (gen_random_uuid(), 120, 'quest', 'with-policy', %s) RETURNING award_id",
        (version_id,),
    )
    assert latest_db.scalar("SELECT policy_version_id FROM xp_awards WHERE award_id = %s", (award,)) == version_id


def test_v002_refuses_and_changes_nothing_when_xp_rules_holds_rows(db: Database):
    db.migrate(up_to="001")
    last = db.load_claims(500)
    db.query("INSERT INTO xp_rules (rule_key, xp_amount) VALUES ('daily_login', 50), ('quest', 100)")
    schema_before = db.schema_dump()
    claims_before = db.awards_digest(last)
    rules_before = db.query("SELECT * FROM xp_rules ORDER BY rule_id")

    with pytest.raises(ScriptFailed) as failure:
        db.deploy(changes()[1])

    message = failure.value.stderr
    assert "V002 refuses to drop xp_rules: it still holds 2 row(s)" in message
    assert "HINT" in message and "DELETE FROM xp_rules" in message
    assert db.schema_dump() == schema_before
    assert db.awards_digest(last) == claims_before
    assert db.query("SELECT * FROM xp_rules ORDER BY rule_id") == rules_before
    assert db.scalar("SELECT count(*) FROM pg_extension WHERE extname = 'btree_gist'") == 0
    # Once the legacy rules are moved out, the same file applies.
    db.query("DELETE FROM xp_rules")
    db.deploy(changes()[1])
    db.verify(changes()[1])
