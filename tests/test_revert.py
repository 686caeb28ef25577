"""Every migration has a revert: apply -> revert -> apply leaves the identical schema, verify scripts
pass after their migration and fail after its revert, and no revert ever destroys data."""

from __future__ import annotations

import pytest

from tests.changeset import changes
from tests.pgdb import Database, ScriptFailed


def test_full_round_trip_leaves_identical_schema(db: Database):
    empty = db.schema_dump()
    db.migrate()
    first_apply = db.schema_dump()
    db.revert_to("000")
    assert db.schema_dump() == empty
    db.migrate()
    assert db.schema_dump() == first_apply


@pytest.mark.parametrize("change", changes(), ids=lambda c: f"V{c.version}")
def test_each_step_reverts_to_the_schema_before_it(db: Database, change):
    db.migrate(up_to=f"{int(change.version) - 1:03d}")
    before = db.schema_dump()
    db.deploy(change)
    db.verify(change)
    after = db.schema_dump()
    assert after != before

    db.revert(change)
    assert db.schema_dump() == before
    with pytest.raises(ScriptFailed, match=f"V{change.version} not in effect"):
        db.verify(change)

    db.deploy(change)
    assert db.schema_dump() == after


def test_revert_to_001_and_back_with_claims_in_place(db: Database):
    db.migrate(up_to="001")
    last = db.load_claims(1000)
    claims = db.awards_digest(last)
    db.migrate()
    latest = db.schema_dump()
    db.revert_to("001")
    assert db.awards_digest(last) == claims
    db.migrate()
    assert db.schema_dump() == latest
    assert db.awards_digest(last) == claims


def _refuses(db: Database, version: str, message: str) -> None:
    schema = db.schema_dump()
    with pytest.raises(ScriptFailed) as failure:
        db.revert(changes()[int(version) - 1])
    assert message in failure.value.stderr
    assert "Nothing was changed" in failure.value.stderr or "Restore from a backup" in failure.value.stderr
    assert db.schema_dump() == schema


def test_u001_refuses_while_claims_exist(db: Database):
    db.migrate(up_to="001")
    last = db.load_claims(10)
    _refuses(db, "001", "U001 refuses to drop the claims tables: xp_awards or xp_rules still holds rows")
    assert db.awards_digest(last)[0] == 10


def test_u002_refuses_while_policies_exist(latest_db: Database):
    latest_db.seed()
    latest_db.revert_to("002")
    rows = latest_db.scalar("SELECT count(*) FROM xp_policy_versions")
    _refuses(latest_db, "002", "U002 refuses to drop the policy tables: they still hold policies")
    assert latest_db.scalar("SELECT count(*) FROM xp_policy_versions") == rows


def test_u003_refuses_while_awards_are_linked(latest_db: Database):
    latest_db.load_claims(50)
    latest_db.seed()
    latest_db.backfill_until_done(batch_size=20)
    latest_db.revert_to("003")
    _refuses(latest_db, "003", "U003 refuses to drop xp_awards.policy_version_id: awards are linked to policy versions")
    assert latest_db.scalar("SELECT count(*) FROM xp_awards WHERE policy_version_id IS NOT NULL") == 50


def test_u002_keeps_btree_gist_when_something_else_uses_it(db: Database):
    db.migrate()
    db.query(
        "CREATE TABLE other_bookings (room int, during tstzrange, EXCLUDE USING gist (room WITH =, during WITH &&))"
    )
    db.revert_to("001")
    assert db.scalar("SELECT count(*) FROM pg_extension WHERE extname = 'btree_gist'") == 1
    assert db.scalar("SELECT to_regclass('other_bookings') IS NOT NULL")
