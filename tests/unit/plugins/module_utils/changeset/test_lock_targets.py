"""Which existing tables a statement locks against the application, and how: what the run looks at in pg_locks."""

from __future__ import annotations

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.lock_targets import script_locks


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("ALTER TABLE xp_awards ADD COLUMN note text", [(1, '"xp_awards"', "AccessExclusiveLock")]),
        (
            "ALTER TABLE public.xp_awards VALIDATE CONSTRAINT c",
            [(1, '"public"."xp_awards"', "ShareUpdateExclusiveLock")],
        ),
        (
            "ALTER TABLE xp_policy_versions ADD CONSTRAINT f FOREIGN KEY (policy_id) REFERENCES xp_policies (id)",
            [(1, '"xp_policy_versions"', "ShareRowExclusiveLock"), (1, '"xp_policies"', "ShareRowExclusiveLock")],
        ),
        # A new table locks nothing existing, except what its foreign keys reference (quoted names keep their case).
        (
            'CREATE TABLE t (id int REFERENCES xp_awards (award_id), b int, FOREIGN KEY (b) REFERENCES "Other" (id))',
            [(1, '"xp_awards"', "ShareRowExclusiveLock"), (1, '"Other"', "ShareRowExclusiveLock")],
        ),
        ("CREATE TABLE t (id int)", []),
        ("CREATE INDEX i ON xp_awards (player_id)", [(1, '"xp_awards"', "ShareLock")]),
        ("CREATE INDEX CONCURRENTLY i ON xp_awards (player_id)", [(1, '"xp_awards"', "ShareUpdateExclusiveLock")]),
        ("DROP TABLE a, s.b", [(1, '"a"', "AccessExclusiveLock"), (1, '"s"."b"', "AccessExclusiveLock")]),
        ("DROP INDEX i", [(1, '"i"', "AccessExclusiveLock")]),  # the run finds the index's table
        ("DROP INDEX CONCURRENTLY i", []),
        ("LOCK TABLE t IN SHARE ROW EXCLUSIVE MODE", [(1, '"t"', "ShareRowExclusiveLock")]),
        ("TRUNCATE t", [(1, '"t"', "AccessExclusiveLock")]),
        ("ALTER TABLE t RENAME COLUMN a TO b", [(1, '"t"', "AccessExclusiveLock")]),
        (
            "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
            [(1, '"t"', "ShareRowExclusiveLock")],
        ),
        ("CREATE POLICY p ON t USING (true)", [(1, '"t"', "AccessExclusiveLock")]),
        ("INSERT INTO t VALUES (1); UPDATE t SET a = 1; SELECT 1", []),  # DML blocks none of the application's writes
        ("ALTER INDEX i RENAME TO j", []),
        ("SELECT 1;\nALTER TABLE t ENABLE ROW LEVEL SECURITY;", [(2, '"t"', "AccessExclusiveLock")]),
        ("SELEC 1", []),  # discovery reports the parse error
    ],
)
def test_each_statement_lists_the_tables_it_locks_and_the_mode(sql, expected):
    assert list(script_locks(sql)) == expected
