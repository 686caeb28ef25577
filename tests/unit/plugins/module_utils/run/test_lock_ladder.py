"""The lock ladder: the rungs first, then the attempts pg_migrate_lock_timeout and _lock_retries describe."""

from __future__ import annotations

import random

from ansible_collections.pg_migrate.engine.plugins.module_utils.run.lock_ladder import LockLadder


def ladder(lock_timeout="2s", rungs=("50ms", "100ms", "200ms", "500ms", "1s"), retries=3, delay=2.0, limit="2min"):
    return LockLadder.of(lock_timeout, rungs, retries, delay, limit, "50ms")


def test_the_rungs_come_first_then_the_old_attempts_unchanged():
    found = ladder()
    assert [found.timeout_of(attempt) for attempt in range(1, found.attempts + 1)] == [
        "50ms",
        "100ms",
        "200ms",
        "500ms",
        "1s",
        "2s",
        "2s",
        "2s",
        "2s",
    ]
    # at the top: the documented delay, doubled for each further retry, without jitter
    assert [found.sleep_after(attempt) for attempt in (6, 7, 8)] == [2.0, 4.0, 8.0]


def test_rungs_not_shorter_than_the_lock_timeout_are_left_out_and_an_empty_ladder_is_the_old_behaviour():
    assert ladder(lock_timeout="200ms").rungs == ("50ms", "100ms")
    old = ladder(rungs=())
    assert old.attempts == 4 and old.timeout_of(1) == "2s" and old.sleep_after(1) == 2.0


def test_a_rung_sleeps_about_as_long_as_it_waited_with_jitter():
    found = ladder()
    sleeps = [found.sleep_after(2, random.Random(seed)) for seed in range(50)]
    assert all(0.05 <= sleep <= 0.15 for sleep in sleeps) and len(set(sleeps)) > 1


def test_the_wait_limit_never_cuts_the_attempts_the_old_settings_describe():
    assert ladder().budget_s() == 120.0
    patient = ladder(lock_timeout="30s", retries=10, limit="1min", rungs=())
    assert patient.budget_s() >= 11 * 30 + sum(2.0 * 2**k for k in range(10))
