"""module_utils/run/server_slot.py against the real server: a fleet's per-server slots are advisory locks in one
database of the server, so they hold across sessions (processes, controllers) and a dead session frees its slot."""

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.run.server_slot import (
    SLOT_NAMESPACE,
    slot_key,
    take_slot,
)
from tests.engine.conftest import connect
from tests.pgdb import Database


class Stop(Exception):
    pass


def test_each_session_takes_a_free_slot_and_a_session_that_ends_frees_it(db: Database):
    first, second, third = connect(db, True), connect(db, True), connect(db, True)
    try:
        assert take_slot(first, 2, lambda holders: None) == 0
        assert take_slot(second, 2, lambda holders: None) == 1
        told: list[list[int]] = []
        polls = {"count": 0}

        def give_up() -> None:
            polls["count"] += 1
            if polls["count"] > 3:
                raise Stop

        with pytest.raises(Stop):  # both taken: the third waits (and says who holds them) until told to stop
            take_slot(third, 2, told.append, give_up, sleep=lambda _seconds: None)
        pids = sorted(conn.info.backend_pid for conn in (first, second))
        assert told == [pids]
        first.close()  # a session that ends (a killed run) frees its slot (once its backend has exited)
        deadline = time.monotonic() + 10

        def within_ten_seconds() -> None:
            if time.monotonic() > deadline:
                raise Stop

        assert take_slot(third, 2, lambda holders: None, within_ten_seconds) == 0
        held = third.execute(
            "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s::oid AND objsubid = 2 "
            "AND pid = pg_backend_pid()",
            (str(SLOT_NAMESPACE),),
        ).fetchall()
        found = [next(iter(row.values())) if isinstance(row, dict) else row[0] for row in held]
        assert found == [slot_key("", 0) & 0xFFFFFFFF]

    finally:
        for conn in (first, second, third):
            conn.close()


def test_a_waiting_session_gets_the_slot_as_soon_as_it_is_freed(db: Database):
    holder, waiter = connect(db, True), connect(db, True)
    try:
        take_slot(holder, 1, lambda holders: None)
        got: dict[str, float] = {}

        def wait() -> None:
            started = time.monotonic()
            got["slot"] = take_slot(waiter, 1, lambda holders: None)
            got["waited"] = time.monotonic() - started

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(0.5)
        assert "slot" not in got  # still waiting: the only slot is held
        holder.close()
        thread.join(10)
        assert got["slot"] == 0 and got["waited"] >= 0.4
    finally:
        holder.close()
        waiter.close()


def test_servers_of_one_fleet_keep_their_own_slots_and_fleets_share_a_server_by_its_name(db: Database):
    """Two fleet servers on one PostgreSQL keep a limit each; a second fleet that names the server the same
    shares its slots."""
    a1, b1, a2 = connect(db, True), connect(db, True), connect(db, True)
    try:
        assert take_slot(a1, 1, lambda holders: None, server="a") == 0
        assert take_slot(b1, 1, lambda holders: None, server="b") == 0  # b's slot: free although a's is taken
        told: list[list[int]] = []

        def give_up() -> None:
            raise Stop

        with pytest.raises(Stop):  # the same name: a's only slot is taken
            take_slot(a2, 1, told.append, give_up, server="a")
        assert told == [[a1.info.backend_pid]]
    finally:
        for conn in (a1, b1, a2):
            conn.close()
