"""Every constraint rejects the rows it exists for, with the right SQLSTATE and its own name,
and accepts valid rows. Each rejected statement runs in a transaction that is rolled back."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest

from tests.pgdb import Database

CHECK, UNIQUE, FOREIGN_KEY, EXCLUSION, FROZEN = "23514", "23505", "23503", "23P01", "23000"


@dataclass(frozen=True)
class Case:
    constraint: str
    sqlstate: str
    sql: str

    def __str__(self) -> str:
        return self.constraint


AWARDS = "xp_awards (player_id, amount, reason, idempotency_key)"
VERSION_COLUMNS = "policy_id, version, status, base_xp, effective_from"
BOOST_COLUMNS = "policy_version_id, label, multiplier, starts_at, ends_at"

# {p1} is a policy whose version 1 ({draft}) is a draft; {p2} has a published version 1 ({published}).
CASES = [
    # xp_awards (V001, plus the link of V003)
    Case("xp_awards_amount_positive", CHECK, f"INSERT INTO {AWARDS} VALUES (gen_random_uuid(), 0, 'q', 'k-0')"),
    Case("xp_awards_amount_max", CHECK, f"INSERT INTO {AWARDS} VALUES (gen_random_uuid(), 1000001, 'q', 'k-1')"),
    Case("xp_awards_reason_not_blank", CHECK, f"INSERT INTO {AWARDS} VALUES (gen_random_uuid(), 5, '  ', 'k-2')"),
    Case("xp_awards_idempotency_key_length", CHECK, f"INSERT INTO {AWARDS} VALUES (gen_random_uuid(), 5, 'q', '')"),
    Case(
        "xp_awards_idempotency_key_key",
        UNIQUE,
        f"INSERT INTO {AWARDS} VALUES (gen_random_uuid(), 5, 'q', 'claim-existing')",
    ),
    Case(
        "xp_awards_pkey",
        UNIQUE,
        "INSERT INTO xp_awards (award_id, player_id, amount, reason, idempotency_key) OVERRIDING SYSTEM VALUE "
        "VALUES ({award}, gen_random_uuid(), 5, 'q', 'k-3')",
    ),
    Case(
        "xp_awards_policy_version_fk",
        FOREIGN_KEY,
        "UPDATE xp_awards SET policy_version_id = 999999 WHERE award_id = {award}",
    ),
    # xp_policies
    Case(
        "xp_policies_policy_key_format",
        CHECK,
        "INSERT INTO xp_policies (policy_key, display_name) VALUES ('Bad Key', 'x')",
    ),
    Case(
        "xp_policies_display_name_not_blank",
        CHECK,
        "INSERT INTO xp_policies (policy_key, display_name) VALUES ('p3', ' ')",
    ),
    Case(
        "xp_policies_policy_key_key",
        UNIQUE,
        "INSERT INTO xp_policies (policy_key, display_name) VALUES ('p1', 'again')",
    ),
    Case(
        "xp_policies_pkey",
        UNIQUE,
        "INSERT INTO xp_policies (policy_id, policy_key, display_name) OVERRIDING SYSTEM VALUE "
        "VALUES ({p1}, 'p9', 'x')",
    ),
    # xp_policy_versions
    Case(
        "xp_policy_versions_version_positive",
        CHECK,
        f"INSERT INTO xp_policy_versions ({VERSION_COLUMNS}) VALUES ({{p1}}, 0, 'draft', 10, now())",
    ),
    Case(
        "xp_policy_versions_status_valid",
        CHECK,
        f"INSERT INTO xp_policy_versions ({VERSION_COLUMNS}, published_at) "
        "VALUES ({p1}, 2, 'live', 10, now(), now())",
    ),
    Case(
        "xp_policy_versions_base_xp_nonnegative",
        CHECK,
        f"INSERT INTO xp_policy_versions ({VERSION_COLUMNS}) VALUES ({{p1}}, 2, 'draft', -1, now())",
    ),
    Case(
        "xp_policy_versions_max_xp_per_claim_nonnegative",
        CHECK,
        "UPDATE xp_policy_versions SET max_xp_per_claim = -1 WHERE policy_version_id = {draft}",
    ),
    Case(
        "xp_policy_versions_max_xp_per_day_nonnegative",
        CHECK,
        "UPDATE xp_policy_versions SET max_xp_per_day = -1 WHERE policy_version_id = {draft}",
    ),
    Case(
        "xp_policy_versions_window_valid",
        CHECK,
        "UPDATE xp_policy_versions SET effective_to = effective_from WHERE policy_version_id = {draft}",
    ),
    Case(
        "xp_policy_versions_published_at_required",
        CHECK,
        "UPDATE xp_policy_versions SET status = 'published' WHERE policy_version_id = {draft}",
    ),
    Case(
        "xp_policy_versions_policy_version_key",
        UNIQUE,
        f"INSERT INTO xp_policy_versions ({VERSION_COLUMNS}) VALUES ({{p1}}, 1, 'draft', 10, now())",
    ),
    Case(
        "xp_policy_versions_one_published_idx",
        UNIQUE,
        "INSERT INTO xp_policy_versions (policy_id, version, status, base_xp, effective_from, published_at) "
        "VALUES ({p2}, 2, 'published', 10, now(), now())",
    ),
    Case(
        "xp_policy_versions_pkey",
        UNIQUE,
        "INSERT INTO xp_policy_versions (policy_version_id, policy_id, version, base_xp, effective_from) "
        "OVERRIDING SYSTEM VALUE VALUES ({draft}, {p1}, 7, 10, now())",
    ),
    Case(
        "xp_policy_versions_policy_fk",
        FOREIGN_KEY,
        f"INSERT INTO xp_policy_versions ({VERSION_COLUMNS}) VALUES (999999, 1, 'draft', 10, now())",
    ),
    # xp_policy_streak_curve
    Case(
        "xp_policy_streak_curve_streak_day_positive",
        CHECK,
        "INSERT INTO xp_policy_streak_curve VALUES ({draft}, 0, 1.5)",
    ),
    Case(
        "xp_policy_streak_curve_multiplier_positive", CHECK, "INSERT INTO xp_policy_streak_curve VALUES ({draft}, 2, 0)"
    ),
    Case("xp_policy_streak_curve_pkey", UNIQUE, "INSERT INTO xp_policy_streak_curve VALUES ({draft}, 1, 2.0)"),
    Case(
        "xp_policy_streak_curve_policy_version_fk",
        FOREIGN_KEY,
        "INSERT INTO xp_policy_streak_curve VALUES (999999, 1, 1.0)",
    ),
    # xp_policy_seasonal_boosts
    Case(
        "xp_policy_seasonal_boosts_multiplier_positive",
        CHECK,
        f"INSERT INTO xp_policy_seasonal_boosts ({BOOST_COLUMNS}) "
        "VALUES ({draft}, 'x', -2, '2027-01-01', '2027-02-01')",
    ),
    Case(
        "xp_policy_seasonal_boosts_window_valid",
        CHECK,
        f"INSERT INTO xp_policy_seasonal_boosts ({BOOST_COLUMNS}) "
        "VALUES ({draft}, 'x', 2, '2027-02-01', '2027-01-01')",
    ),
    Case(
        "xp_policy_seasonal_boosts_label_not_blank",
        CHECK,
        f"INSERT INTO xp_policy_seasonal_boosts ({BOOST_COLUMNS}) "
        "VALUES ({draft}, '', 2, '2027-01-01', '2027-02-01')",
    ),
    Case(
        "xp_policy_seasonal_boosts_no_overlap",
        EXCLUSION,
        f"INSERT INTO xp_policy_seasonal_boosts ({BOOST_COLUMNS}) "
        "VALUES ({draft}, 'overlap', 2, '2026-01-31', '2026-03-01')",
    ),
    Case(
        "xp_policy_seasonal_boosts_pkey",
        UNIQUE,
        "INSERT INTO xp_policy_seasonal_boosts (seasonal_boost_id, policy_version_id, label, multiplier, starts_at, "
        "ends_at) OVERRIDING SYSTEM VALUE VALUES ({boost}, {draft}, 'x', 2, '2030-01-01', '2030-02-01')",
    ),
    Case(
        "xp_policy_seasonal_boosts_policy_version_fk",
        FOREIGN_KEY,
        f"INSERT INTO xp_policy_seasonal_boosts ({BOOST_COLUMNS}) VALUES (999999, 'x', 2, '2027-01-01', '2027-02-01')",
    ),
    # xp_policy_segment_overrides
    Case(
        "xp_policy_segment_overrides_segment_key_format",
        CHECK,
        "INSERT INTO xp_policy_segment_overrides (policy_version_id, segment_key) VALUES ({draft}, 'VIP!')",
    ),
    Case(
        "xp_policy_segment_overrides_base_xp_nonnegative",
        CHECK,
        "INSERT INTO xp_policy_segment_overrides (policy_version_id, segment_key, base_xp) VALUES ({draft}, 'a', -5)",
    ),
    Case(
        "xp_policy_segment_overrides_multiplier_positive",
        CHECK,
        "INSERT INTO xp_policy_segment_overrides (policy_version_id, segment_key, multiplier) VALUES ({draft}, 'a', 0)",
    ),
    Case(
        "xp_policy_segment_overrides_max_xp_per_day_nonnegative",
        CHECK,
        "INSERT INTO xp_policy_segment_overrides (policy_version_id, segment_key, max_xp_per_day) "
        "VALUES ({draft}, 'a', -1)",
    ),
    Case(
        "xp_policy_segment_overrides_pkey",
        UNIQUE,
        "INSERT INTO xp_policy_segment_overrides (policy_version_id, segment_key) VALUES ({draft}, 'vip')",
    ),
    Case(
        "xp_policy_segment_overrides_policy_version_fk",
        FOREIGN_KEY,
        "INSERT INTO xp_policy_segment_overrides (policy_version_id, segment_key) VALUES (999999, 'a')",
    ),
]

# Constraints of the legacy table, which only exists between V001 and V002.
LEGACY_CASES = [
    Case("xp_rules_xp_amount_positive", CHECK, "INSERT INTO xp_rules (rule_key, xp_amount) VALUES ('r2', 0)"),
    Case("xp_rules_rule_key_key", UNIQUE, "INSERT INTO xp_rules (rule_key, xp_amount) VALUES ('r1', 5)"),
    Case(
        "xp_rules_pkey",
        UNIQUE,
        "INSERT INTO xp_rules (rule_id, rule_key, xp_amount) OVERRIDING SYSTEM VALUE VALUES ({rule}, 'r3', 5)",
    ),
]


def violation(db: Database, sql: str) -> tuple[str | None, str | None]:
    """(SQLSTATE, constraint name) of the error SQL raised, in a transaction that is rolled back."""
    with db.connect() as conn:
        try:
            conn.execute(sql)
            return None, None
        except psycopg.Error as exc:
            return exc.sqlstate, exc.diag.constraint_name
        finally:
            conn.rollback()


@pytest.fixture
def latest(latest_db: Database) -> tuple[Database, dict[str, int]]:
    """The database at the latest version, holding one row of every kind the cases collide with."""
    db = latest_db
    ids: dict[str, int] = {}
    ids["p1"] = db.scalar("INSERT INTO xp_policies (policy_key, display_name) VALUES ('p1', 'P1') RETURNING policy_id")
    ids["p2"] = db.scalar("INSERT INTO xp_policies (policy_key, display_name) VALUES ('p2', 'P2') RETURNING policy_id")
    ids["draft"] = db.scalar(
        f"INSERT INTO xp_policy_versions ({VERSION_COLUMNS}) VALUES (%s, 1, 'draft', 10, '2026-01-01') "
        "RETURNING policy_version_id",
        (ids["p1"],),
    )
    ids["published"] = db.scalar(
        f"INSERT INTO xp_policy_versions ({VERSION_COLUMNS}, published_at) "
        "VALUES (%s, 1, 'published', 10, '2026-01-01', now()) RETURNING policy_version_id",
        (ids["p2"],),
    )
    db.query("INSERT INTO xp_policy_streak_curve VALUES (%s, 1, 1.0)", (ids["draft"],))
    ids["boost"] = db.scalar(
        f"INSERT INTO xp_policy_seasonal_boosts ({BOOST_COLUMNS}) "
        "VALUES (%s, 'launch', 2, '2026-01-01', '2026-02-01') RETURNING seasonal_boost_id",
        (ids["draft"],),
    )
    db.query(
        "INSERT INTO xp_policy_segment_overrides (policy_version_id, segment_key) VALUES (%s, 'vip')", (ids["draft"],)
    )
    ids["award"] = db.claim("00000000-0000-0000-0000-000000000001", 10, "claim-existing")
    return db, ids


@pytest.mark.parametrize("case", CASES, ids=str)
def test_constraint_rejects_with_its_sqlstate_and_name(latest, case: Case):
    db, ids = latest
    assert violation(db, case.sql.format(**ids)) == (case.sqlstate, case.constraint)


@pytest.mark.parametrize("case", LEGACY_CASES, ids=str)
def test_legacy_rules_constraints_at_v001(db, case: Case):
    db.migrate(up_to="001")
    rule = db.scalar("INSERT INTO xp_rules (rule_key, xp_amount) VALUES ('r1', 5) RETURNING rule_id")
    assert violation(db, case.sql.format(rule=rule)) == (case.sqlstate, case.constraint)


CONSTRAINTS_IN_CATALOG = """
SELECT conname FROM pg_constraint
 WHERE connamespace = 'public'::regnamespace AND contype IN ('c', 'f', 'u', 'p', 'x')
UNION ALL
SELECT indexrelid::regclass::text FROM pg_index i
  JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace = 'public'::regnamespace AND i.indisunique
   AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = i.indexrelid)
"""


def test_every_constraint_in_the_schema_has_a_rejection_case(db):
    """A constraint added to the change set without a test here makes this fail."""
    db.migrate(up_to="001")
    legacy = {row[0] for row in db.query(CONSTRAINTS_IN_CATALOG)}
    db.migrate()
    latest = {row[0] for row in db.query(CONSTRAINTS_IN_CATALOG)}
    tested = {case.constraint for case in CASES + LEGACY_CASES}
    assert legacy - {"xp_rules_pkey"} <= latest | tested
    assert (legacy | latest) - tested == set()


def test_valid_rows_are_accepted(latest):
    db, ids = latest
    draft = ids["draft"]
    # Back-to-back boosts are fine: windows are half-open '[)'.
    db.query(
        f"INSERT INTO xp_policy_seasonal_boosts ({BOOST_COLUMNS}) VALUES (%s, 'next', 1.5, '2026-02-01', '2026-03-01')",
        (draft,),
    )
    # The same window on another version is fine: boosts only exclude each other within a version.
    other = db.scalar(
        f"INSERT INTO xp_policy_versions ({VERSION_COLUMNS}) VALUES (%s, 2, 'draft', 0, '-infinity') "
        "RETURNING policy_version_id",
        (ids["p1"],),
    )
    db.query(
        f"INSERT INTO xp_policy_seasonal_boosts ({BOOST_COLUMNS}) VALUES (%s, 'launch', 2, '2026-01-01', '2026-02-01')",
        (other,),
    )
    db.query("INSERT INTO xp_policy_streak_curve VALUES (%s, 2, 1.25), (%s, 30, 3)", (draft, draft))
    db.query("INSERT INTO xp_policy_segment_overrides VALUES (%s, 'new_player', 0, 1.5, 0)", (draft,))
    db.query(
        "UPDATE xp_policy_versions SET max_xp_per_claim = 0, max_xp_per_day = 0, effective_to = '2027-01-01' "
        "WHERE policy_version_id = %s",
        (draft,),
    )
    # Publishing: one published version per policy; another policy may have its own.
    db.query(
        "UPDATE xp_policy_versions SET status = 'published', published_at = now() WHERE policy_version_id = %s",
        (draft,),
    )
    db.query("UPDATE xp_policy_versions SET status = 'archived' WHERE policy_version_id = %s", (draft,))
    db.query(
        "UPDATE xp_policy_versions SET status = 'published', published_at = now() WHERE policy_version_id = %s",
        (other,),
    )
    db.query("UPDATE xp_awards SET policy_version_id = %s WHERE award_id = %s", (other, ids["award"]))
    assert db.scalar("SELECT count(*) FROM xp_policy_versions WHERE status = 'published'") == 2
    assert db.scalar("SELECT count(*) FROM xp_policy_seasonal_boosts") == 3


def test_children_cascade_from_a_deleted_draft_version(latest):
    db, ids = latest
    db.query("DELETE FROM xp_policy_versions WHERE policy_version_id = %s", (ids["draft"],))
    for table in ("xp_policy_streak_curve", "xp_policy_seasonal_boosts", "xp_policy_segment_overrides"):
        assert db.scalar(f"SELECT count(*) FROM {table}") == 0, table


def test_a_policy_with_versions_cannot_be_deleted(latest):
    db, ids = latest
    assert violation(db, f"DELETE FROM xp_policies WHERE policy_id = {ids['p1']}") == (
        FOREIGN_KEY,
        "xp_policy_versions_policy_fk",
    )


def test_a_version_awards_point_at_cannot_be_deleted(latest):
    db, ids = latest
    db.query("UPDATE xp_awards SET policy_version_id = %s WHERE award_id = %s", (ids["draft"], ids["award"]))
    assert violation(db, f"DELETE FROM xp_policy_versions WHERE policy_version_id = {ids['draft']}") == (
        FOREIGN_KEY,
        "xp_awards_policy_version_fk",
    )


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE xp_policy_versions SET base_xp = 11 WHERE policy_version_id = {published}",
        "UPDATE xp_policy_versions SET effective_to = '2030-01-01' WHERE policy_version_id = {published}",
        "UPDATE xp_policy_versions SET status = 'draft' WHERE policy_version_id = {published}",
        "DELETE FROM xp_policy_versions WHERE policy_version_id = {published}",
        "INSERT INTO xp_policy_streak_curve VALUES ({published}, 1, 1.0)",
        f"INSERT INTO xp_policy_seasonal_boosts ({BOOST_COLUMNS}) VALUES ({{published}}, 'x', 2, '2027-01-01', "
        "'2027-02-01')",
        "INSERT INTO xp_policy_segment_overrides (policy_version_id, segment_key) VALUES ({published}, 'a')",
        "UPDATE xp_policy_streak_curve SET policy_version_id = {published}",
        "UPDATE xp_policy_versions SET published_at = now() - interval '1 day' WHERE policy_version_id = {published}",
        "UPDATE xp_policy_versions SET policy_version_id = DEFAULT WHERE policy_version_id = {published}",
    ],
    ids=[
        "base_xp",
        "window",
        "back-to-draft",
        "delete",
        "curve",
        "boost",
        "override",
        "move-rule-into",
        "published_at",
        "new-id",
    ],
)
def test_published_versions_and_their_rules_are_frozen(latest, sql: str):
    db, ids = latest
    assert violation(db, sql.format(**ids))[0] == FROZEN


def test_archiving_a_published_version_is_allowed_and_final(latest):
    db, ids = latest
    db.query("UPDATE xp_policy_versions SET status = 'archived' WHERE policy_version_id = %s", (ids["published"],))
    assert (
        violation(
            db, f"UPDATE xp_policy_versions SET status = 'published' WHERE policy_version_id = {ids['published']}"
        )[0]
        == FROZEN
    )


def test_publishing_waits_for_a_concurrent_rule_edit_of_the_draft(latest):
    """A rule written into a draft and a publish of that draft cannot interleave: the publish waits."""
    db, ids = latest
    with db.connect() as editor:
        editor.execute("INSERT INTO xp_policy_streak_curve VALUES (%s, 9, 1.9)", (ids["draft"],))
        # The editor has not committed; a publish must wait for it (here: give up after 300 ms).
        publish = (
            "UPDATE xp_policy_versions SET status = 'published', published_at = now() "
            f"WHERE policy_version_id = {ids['draft']}"
        )
        assert db.sqlstate(publish, setup="SET lock_timeout = '300ms'") == "55P03"
        editor.commit()
    db.query(
        "UPDATE xp_policy_versions SET status = 'published', published_at = now() WHERE policy_version_id = %s",
        (ids["draft"],),
    )
    assert violation(db, f"INSERT INTO xp_policy_streak_curve VALUES ({ids['draft']}, 10, 2)")[0] == FROZEN
