# pg_migrate: the lock ladder - the lock_timeout of each attempt of a unit, the sleep after a lost one, and the
# most the unit may wait for its locks in all. Pure: the run (connection.Session) climbs it.
#
# Why a ladder: while a lock request of the migration waits in the queue, every claim that touches the table
# queues behind it. A short first rung bounds that (50 ms by default); a lost rung gives up its place, sleeps,
# looks again (run/table_locks.py) and tries a longer one. After the rungs come the attempts the older
# settings describe, unchanged: pg_migrate_lock_timeout, retried pg_migrate_lock_retries times with the
# doubling delay, so an operator's tuned values mean what they meant.

from __future__ import annotations

import random
from dataclasses import dataclass

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.durations import duration_seconds

MIN_SLEEP_S = 0.02


@dataclass(frozen=True)
class LockLadder:
    """RUNGS: the lock_timeouts (texts) shorter than TOP, tried first; then TOP, 1 + RETRIES times, with
    RETRY_DELAY_S doubling between them; WAIT_LIMIT_S bounds the unit's waiting, never below what those
    attempts themselves take; BLOCKER_AGE_S: the look's threshold (run/table_locks.py)."""

    rungs: tuple[str, ...]
    top: str
    retries: int
    retry_delay_s: float
    wait_limit_s: float
    blocker_age_s: float

    @classmethod
    def of(
        cls,
        lock_timeout: str,
        ladder: tuple[str, ...],
        retries: int,
        retry_delay: float,
        wait_limit: str,
        blocker_age: str,
    ) -> LockLadder:
        top_s = duration_seconds(lock_timeout)
        rungs = tuple(rung for rung in ladder if duration_seconds(rung) < top_s)
        return cls(
            rungs, lock_timeout, retries, retry_delay, duration_seconds(wait_limit), duration_seconds(blocker_age)
        )

    @property
    def attempts(self) -> int:
        """How many attempts the ladder allows: its rungs, then the top with its retries."""
        return len(self.rungs) + 1 + self.retries

    def timeout_of(self, attempt: int) -> str:
        """The lock_timeout of ATTEMPT (from 1)."""
        return self.rungs[attempt - 1] if attempt <= len(self.rungs) else self.top

    def nominal_sleep_after(self, attempt: int) -> float:
        """The sleep after ATTEMPT lost its lock, before jitter: as long as its rung; at the top, the retry
        delay, doubled for each further retry (as before the ladder)."""
        if attempt <= len(self.rungs):
            return max(duration_seconds(self.rungs[attempt - 1]), MIN_SLEEP_S)
        return self.retry_delay_s * (2 ** (attempt - len(self.rungs) - 1))

    def sleep_after(self, attempt: int, rand: random.Random | None = None) -> float:
        """The sleep after ATTEMPT: on a rung, with jitter (0.5 to 1.5 times), so that runs against many
        databases of one server do not knock in step; at the top, exactly the documented delay."""
        nominal = self.nominal_sleep_after(attempt)
        if attempt > len(self.rungs):
            return nominal
        return nominal * (rand or random).uniform(0.5, 1.5)

    def planned_s(self) -> float:
        """What the attempts themselves may take: every lock_timeout run out, every nominal sleep slept (the
        last attempt has none)."""
        timeouts = sum(duration_seconds(self.timeout_of(attempt)) for attempt in range(1, self.attempts + 1))
        sleeps = sum(
            self.nominal_sleep_after(attempt) * (1.5 if attempt <= len(self.rungs) else 1.0)
            for attempt in range(1, self.attempts)
        )
        return timeouts + sleeps

    def budget_s(self) -> float:
        """The most a unit waits for its locks: pg_migrate_lock_wait_limit, but never less than its attempts."""
        return max(self.wait_limit_s, self.planned_s())
