# pg_migrate: a fleet's per-server limit (pg_migrate_fleet_per_server) held on the database server itself. A
# slot is a session-level advisory lock (SLOT_NAMESPACE, slot number) taken on a second connection to the
# server's slot database: advisory locks belong to one database, so every run of a server takes its slot in
# the same one (default postgres). It holds across forks, ansible-playbook processes, controllers and both
# execution paths, and a run that dies (kill -9, a lost controller) frees its slot with its session.

from __future__ import annotations

import time
import zlib
from collections.abc import Callable

# pg_advisory_lock(int4, int4) keys: this namespace, then slot_key(server, number) - the server's name in the
# fleet (pg_migrate_fleet_server) and the slot number, so two fleets that name a server the same share its
# slots, and two fleet servers on one PostgreSQL keep a limit each. Distinct from the run's own migration lock
# (one bigint key, hashtextextended of the history table's name), which lives in the migrated database itself.
SLOT_NAMESPACE = 1885826413
FIRST_POLL = 0.05
MAX_POLL = 1.0


def slot_key(server: str, number: int) -> int:
    """The second key of SERVER's slot NUMBER: a signed 32-bit value (pg_advisory_lock(int4, int4))."""
    key = zlib.crc32(("%s/%d" % (server, number)).encode("utf-8"))
    return key - (1 << 32) if key >= (1 << 31) else key


def try_slots(cursor, limit: int, server: str = "") -> int | None:
    """The first free slot of LIMIT, now taken by this session, or None when all are taken."""
    for number in range(limit):
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", (SLOT_NAMESPACE, slot_key(server, number)))
        row = cursor.fetchone()
        got = next(iter(row.values())) if isinstance(row, dict) else row[0]
        if got:
            return number
    return None


def holders(cursor, limit: int, server: str = "") -> list[int]:
    """The backends holding one of SERVER's slots now (for the waiting note)."""
    keys = ["%d" % (slot_key(server, number) & 0xFFFFFFFF) for number in range(limit)]
    cursor.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = %s::oid "
        "AND objsubid = 2 AND objid = ANY(%s::oid[]) "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY pid",
        (str(SLOT_NAMESPACE), keys),
    )
    return [next(iter(row.values())) if isinstance(row, dict) else row[0] for row in cursor.fetchall()]


def take_slot(
    conn,
    limit: int,
    on_wait: Callable[[list[int]], None],
    stop: Callable[[], None] = lambda: None,
    sleep: Callable[[float], None] = time.sleep,
    server: str = "",
) -> int:
    """Wait until one of SERVER's LIMIT slots is free on CONN (an autocommit session of the slot database) and take it:
    its number. ON_WAIT(holders) is called once, when the wait starts (the run's progress note: its watcher
    counts the wait from there); STOP() raises to give up (the run's own timeout)."""
    told, delay = False, FIRST_POLL
    with conn.cursor() as cursor:
        while True:
            number = try_slots(cursor, limit, server)
            if number is not None:
                return number
            if not told:
                told = True
                on_wait(holders(cursor, limit, server))
            stop()
            sleep(delay)
            delay = min(delay * 1.5, MAX_POLL)
