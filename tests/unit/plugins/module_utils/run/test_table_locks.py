"""The look before queueing, below the database: lock conflicts, who counts as a blocker, how one is named."""

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.lock_targets import MODES
from ansible_collections.pg_migrate.engine.plugins.module_utils.run import job_progress
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.table_locks import (
    CONFLICTS,
    Holder,
    LockWaits,
    first_line,
    holds_up_the_application,
)


def test_the_conflict_table_is_postgresqls_symmetric_matrix():
    for mode in MODES:
        for other in MODES:
            assert (other in CONFLICTS[mode]) == (mode in CONFLICTS[other]), (mode, other)
    assert CONFLICTS["AccessShareLock"] == ("AccessExclusiveLock",)
    assert (
        "RowExclusiveLock" in CONFLICTS["ShareLock"] and "RowExclusiveLock" not in CONFLICTS["ShareUpdateExclusiveLock"]
    )


def holder(**given) -> Holder:
    fields = dict(
        pid=4242,
        relation='"xp_awards"',
        mode="RowExclusiveLock",
        granted=True,
        application="claims",
        user="app",
        state="idle in transaction",
        xact_s=12.34,
        query="UPDATE xp_awards SET amount = 1",
    )
    return Holder(**{**fields, **given})


def test_a_blocker_is_an_old_transaction_or_a_prepared_one_never_a_young_claim():
    assert holder().blocks(0.05)
    assert not holder(xact_s=0.002).blocks(0.05)
    assert not holder(xact_s=None).blocks(0.05)  # no transaction: it holds no table lock for long
    assert holder(pid=None, gid="tx1", xact_s=None).blocks(0.05)


def test_a_blocker_is_named_with_what_an_operator_needs_to_find_it():
    assert holder().describe() == (
        "pid 4242 (application 'claims', user 'app', idle in transaction, transaction open 12.3 s) holds "
        'RowExclusiveLock on "xp_awards": UPDATE xp_awards SET amount = 1'
    )
    assert holder(granted=False, application="", query="").describe().startswith("pid 4242 (user 'app',")
    assert "prepared transaction 'tx1' holds" in holder(pid=None, gid="tx1").describe()


def test_only_the_first_line_of_a_blockers_query_is_kept():
    assert first_line("-- by the claims worker\n  UPDATE xp_awards\n SET amount = 1") == "UPDATE xp_awards"
    assert len(first_line("SELECT " + "x, " * 200)) <= 120


def test_the_waits_keep_the_latest_look_at_each_blocker():
    waits = LockWaits()
    waits.saw([holder(xact_s=1.0)])
    waits.saw([holder(xact_s=2.0), holder(pid=7)])
    assert [entry["xact_s"] for entry in waits.blocked_by()] == [2.0, 12.34]


def test_the_progress_line_of_a_wait_names_the_blockers_or_the_lost_rung():
    blocked = {
        "state": "waiting",
        "lock": "table locks",
        "script": "V003__x.sql",
        "since": 100.0,
        "waiting_since": 90.0,
        "blockers": [holder().describe()],
    }
    line = job_progress.note_line("db1", "xp", blocked, 112.0)
    assert line.startswith("db1 xp: V003__x.sql waits without queueing for its table locks, 22 s so far: pid 4242")
    lost = {
        "state": "waiting",
        "lock": "table locks",
        "script": "V003__x.sql",
        "attempt": 2,
        "lock_timeout": "100ms",
        "next_in_s": 0.123,
    }
    assert job_progress.note_line("db1", "xp", lost, 112.0) == (
        "db1 xp: V003__x.sql lost its lock request at lock_timeout 100ms (attempt 2); next attempt in 0.12 s"
    )
    assert job_progress.where_it_was(blocked) == "while V003__x.sql waited for its table locks"


def test_in_a_transaction_one_look_covers_the_rest_of_the_script_outside_one_each_statement_looks():
    from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Script
    from ansible_collections.pg_migrate.engine.plugins.module_utils.run.scripts import ahead

    entry = Script(
        "V003__x.sql", locks=((1, '"a"', "AccessExclusiveLock"), (2, '"b"', "ShareLock"), (3, '"a"', "ShareLock"))
    )
    assert ahead(entry, 2, whole_rest=False) == [('"b"', "ShareLock")]
    assert ahead(entry, 1, whole_rest=True) == [
        ('"a"', "AccessExclusiveLock"),
        ('"b"', "ShareLock"),
        ('"a"', "ShareLock"),
    ]


def test_only_a_request_that_conflicts_with_reads_or_writes_holds_up_the_application():
    held_up = [mode for mode in MODES if holds_up_the_application(mode)]
    assert held_up == ["ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]
