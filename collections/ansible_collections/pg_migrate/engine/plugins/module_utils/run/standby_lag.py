# pg_migrate: the standby gate (issue 20) - before a run changes a database, the server's streaming standbys must be
# within the replay lag the settings allow (pg_migrate_standby_max_lag, a duration; pg_migrate_standby_max_lag_bytes),
# and with pg_migrate_standby_catch_up they must have replayed everything the primary wrote before the run: a
# fleet's wave then starts only once the previous wave reached every standby.
#
# Measured on the primary, from pg_stat_replication: bytes behind = pg_current_wal_lsn() - replay_lsn, and
# replay_lag, which the primary computes from the standby's replies - it keeps growing while replay is stuck or
# paused, and is NULL once the standby caught up on an idle primary. Never pg_last_xact_replay_timestamp() on the
# standby: on an idle primary the last replayed transaction grows old while nothing is behind at all.

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.durations import duration_seconds
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed

POLL = 0.5
# The walsender of a pg_basebackup (a base backup or its WAL stream) is no standby: nothing replays there.
NOT_STANDBYS = ("backup",)
STANDBYS_SQL = (
    "SELECT application_name, client_addr::text AS client_addr, state, replay_lsn::text AS replay_lsn, "
    "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes, "
    "EXTRACT(EPOCH FROM replay_lag)::float8 AS lag_s "
    "FROM pg_stat_replication ORDER BY application_name, pid"
)
SETTINGS_HINT = (
    "pg_migrate_standby_wait, pg_migrate_standby_max_lag, pg_migrate_standby_max_lag_bytes, pg_migrate_standby_catch_up"
)


@dataclass(frozen=True)
class Limits:
    """The gate's settings: MAX_LAG_S and MAX_BYTES (0: no limit of that kind), WAIT_S, CATCH_UP."""

    max_lag_s: float
    max_bytes: int
    wait_s: float
    catch_up: bool

    @property
    def off(self) -> bool:
        """Both limits 0 turn the gate off, catch-up included (the documented way out, e.g. delayed standbys)."""
        return self.max_lag_s <= 0 and self.max_bytes <= 0


@dataclass(frozen=True)
class Standby:
    """One row of pg_stat_replication. LAG_BYTES None: its replay position is not known (yet, or not to this
    login role: STATE None then)."""

    name: str
    client: str
    state: str | None
    replay_lsn: str | None
    lag_bytes: int | None
    lag_s: float | None


def limits_of(params: dict) -> Limits:
    return Limits(
        duration_seconds(params.get("standby_max_lag") or 0),
        int(params.get("standby_max_lag_bytes") or 0),
        duration_seconds(params.get("standby_wait") or 0),
        bool(params.get("standby_catch_up")),
    )


def standby_of(row: dict) -> Standby:
    lag_bytes = row.get("lag_bytes")
    lag_s = row.get("lag_s")
    return Standby(
        name=row.get("application_name") or "",
        client=row.get("client_addr") or "local socket",
        state=row.get("state"),
        replay_lsn=row.get("replay_lsn"),
        lag_bytes=None if lag_bytes is None else max(0, int(lag_bytes)),
        lag_s=None if lag_s is None else max(0.0, float(lag_s)),
    )


def standbys_of(rows: list[dict]) -> list[Standby]:
    return [standby for standby in map(standby_of, rows) if standby.state not in NOT_STANDBYS]


def lsn_value(lsn: str) -> int:
    """The byte position of a pg_lsn's text ('16/B374D848')."""
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def unreadable_message(hidden: list[Standby]) -> str:
    names = ", ".join(label(standby) for standby in hidden)
    return (
        "the server has streaming standbys (%s) but this login role may not read their replay positions in "
        "pg_stat_replication, so pg_migrate cannot tell how far behind they are; nothing was changed. Grant the role "
        "pg_monitor (GRANT pg_monitor TO <role>; pg_read_all_stats is enough), or turn the standby gate off with "
        "pg_migrate_standby_max_lag: 0 and pg_migrate_standby_max_lag_bytes: 0." % names
    )


def seconds_behind(standby: Standby) -> float:
    """Seconds behind: NULL replay_lag means caught up on an idle primary (0 bytes behind), or no reply measured
    since the latest burst of WAL - the bytes and catch-up tests are the ones that see that, not this one."""
    return standby.lag_s or 0.0


def over_limit(standby: Standby, limits: Limits) -> bool:
    if standby.lag_bytes is None:
        return True  # position unknown: not known to be within any limit
    if limits.max_bytes > 0 and standby.lag_bytes > limits.max_bytes:
        return True
    return limits.max_lag_s > 0 and seconds_behind(standby) > limits.max_lag_s


def short_of(standby: Standby, target: int | None) -> bool:
    """Whether STANDBY has not replayed up to TARGET (catch-up; None: not asked)."""
    if target is None:
        return False
    return standby.replay_lsn is None or lsn_value(standby.replay_lsn) < target


def blocking(standbys: list[Standby], limits: Limits, target: int | None) -> list[Standby]:
    """The standbys the run has to wait for."""
    return [standby for standby in standbys if over_limit(standby, limits) or short_of(standby, target)]


def size_text(count: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if count >= size:
            return "%.1f %s" % (count / size, unit)
    return "%d bytes" % count


def label(standby: Standby) -> str:
    return "'%s' (%s)" % (standby.name, standby.client)


def behind_text(standby: Standby) -> str:
    """'12.3 MB / 41 s behind'."""
    if standby.lag_bytes is None:
        return "replay position not reported yet"
    return "%s / %.0f s behind" % (size_text(standby.lag_bytes), seconds_behind(standby))


def limit_text(limits: Limits) -> str:
    parts = []
    if limits.max_bytes > 0:
        parts.append(size_text(limits.max_bytes))
    if limits.max_lag_s > 0:
        parts.append("%g s" % limits.max_lag_s)
    text = " / ".join(parts)
    return text + (", and catch-up to the WAL written before this run" if limits.catch_up else "")


def waiting_note(late: list[Standby], limits: Limits, since: float) -> dict:
    """The progress note while the run waits (job_progress.waiting_line words it): the first standby it waits for."""
    first = late[0]
    return {
        "state": "waiting",
        "lock": "standby",
        "standby": first.name,
        "client": first.client,
        "behind": behind_text(first),
        "lag_bytes": first.lag_bytes,
        "lag_s": first.lag_s,
        "limit": limit_text(limits),
        "others": len(late) - 1,
        "waiting_since": since,
    }


def timed_out_message(late: list[Standby], limits: Limits, waited: float, target: int | None) -> str:
    behind = "; ".join(
        "%s is %s%s"
        % (label(standby), behind_text(standby), ", short of the catch-up point" if short_of(standby, target) else "")
        for standby in late
    )
    return (
        "the server's standbys did not come within the replay lag allowed (%s) in %.0f s (pg_migrate_standby_wait): "
        "%s. Nothing was changed. Wait for the standby to catch up and run again; check it (replay paused - "
        "SELECT pg_is_wal_replay_paused() on it -, a long query holding replay back, its disk or network), or raise "
        "%s (0 for both limits turns the gate off)." % (limit_text(limits), waited, behind, SETTINGS_HINT)
    )


def seen_record(standbys: list[Standby], waited: float) -> dict:
    """What the run saw (the result's standby_lag): each standby's lag when the gate ended, and the wait."""
    keys = ("name", "client", "lag_bytes", "lag_s")
    return {
        "standbys": [{key: getattr(standby, key) for key in keys} for standby in standbys],
        "waited_s": round(waited, 1),
    }


class StandbysBehind(RunFailed):
    """The gate's wait ran out; SEEN: its record (seen_record) at that moment."""

    def __init__(self, message: str, seen: dict) -> None:
        super().__init__(message)
        self.seen = seen


def read_standbys(session) -> list[Standby]:
    """pg_stat_replication now (in autocommit: a snapshot of activity would last a transaction)."""
    return standbys_of(session.rows(STANDBYS_SQL))


def standby_gate(
    runner,
    changes: Callable[[], bool] = lambda: True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
):
    """Wait until the server's standbys are within the limits of runner.params: what it saw (seen_record); None when
    the gate is off, the server is itself a standby or has none, or CHANGES() says the run has nothing to change
    (asked only then: it reads the history). StandbysBehind when the wait runs out; RunFailed when their positions
    cannot be read; the run's stop request (check_stop) ends the wait too."""
    limits = limits_of(runner.params)
    if limits.off:
        return None
    session = runner.session
    # In autocommit, as the preflight: a statement-pooling PgBouncer refuses transactions, and the pooling check
    # that comes with the lock must get to say so.
    session.set_autocommit(True)
    try:
        # On a standby, pg_stat_replication lists cascaded standbys; the preflight judges a run on a standby.
        if session.value("SELECT pg_is_in_recovery() OR NOT EXISTS (SELECT FROM pg_stat_replication)"):
            return None
        return wait_for_standbys(runner, limits, clock, sleep) if changes() else None
    finally:
        if not session.session_lost():
            session.set_autocommit(False)


def wait_for_standbys(runner, limits: Limits, clock: Callable[[], float], sleep: Callable[[float], None]):
    """standby_gate's wait, on a primary with standbys, its session in autocommit."""
    session = runner.session
    target = lsn_value(session.value("SELECT pg_current_wal_lsn()::text")) if limits.catch_up else None
    started, since = clock(), time.time()
    while True:
        standbys = read_standbys(session)
        hidden = [standby for standby in standbys if standby.state is None]
        if hidden:
            raise RunFailed(unreadable_message(hidden))
        if not standbys:
            return None
        late = blocking(standbys, limits, target)
        waited = clock() - started
        if not late:
            return seen_record(standbys, waited)
        if waited >= limits.wait_s:
            raise StandbysBehind(timed_out_message(late, limits, waited, target), seen_record(standbys, waited))
        runner.notes.write_note(waiting_note(late, limits, since))
        session.check_stop()
        sleep(POLL)
