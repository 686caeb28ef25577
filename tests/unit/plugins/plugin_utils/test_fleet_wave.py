"""plugin_utils/fleet_wave.py: which of a wave's databases runs next in the controller's one task."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_hosts import FleetHost
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_wave import ServerTurns, server_of, wave_warnings


def database(host: str, server: str, per_server: int = 0) -> FleetHost:
    settings = SimpleNamespace(fleet_per_server=per_server, fleet_server=server)
    return FleetHost(host, settings, {"login_host": "db", "login_port": 5432}, {}, False)  # type: ignore[arg-type]


def test_the_next_database_is_the_first_in_wave_order_whose_server_has_a_place_left():
    a1, a2, b1, a3 = (database(h, h[0], per_server=2) for h in ("a1", "a2", "b1", "a3"))
    turns = ServerTurns([a1, a2, a3, b1])
    assert [turns.next().host for _ in range(3)] == ["a1", "a2", "b1"]  # a3 waits: a has 2 running
    turns.done(a1)
    assert turns.next().host == "a3"
    assert turns.next() is None


def test_without_a_limit_the_wave_runs_in_its_order():
    members = [database("a%d" % n, "a") for n in range(4)]
    turns = ServerTurns(members)
    assert [turns.next().host for _ in members] == ["a0", "a1", "a2", "a3"] and turns.next() is None


def test_a_turn_waits_for_a_place_and_no_server_ever_has_more_than_its_limit_running():
    members = [database("%s%d" % (server, n), server, per_server=2) for n in range(6) for server in "ab"]
    turns, lock = ServerTurns(members), threading.Lock()
    running: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}

    def worker() -> None:
        while (member := turns.next()) is not None:
            with lock:
                running[server_of(member)] += 1
                peak[server_of(member)] = max(peak[server_of(member)], running[server_of(member)])
            time.sleep(0.01)
            with lock:
                running[server_of(member)] -= 1
            turns.done(member)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    assert peak == {"a": 2, "b": 2} and not turns.pending


def test_a_turn_that_waited_for_a_place_starts_nothing_once_told_to_stop():
    a1, a2 = (database(h, "a", per_server=1) for h in ("a1", "a2"))
    stopped = threading.Event()
    turns = ServerTurns([a1, a2], go_on=lambda: not stopped.is_set())
    assert turns.next() is a1
    got: list = []
    waiting = threading.Thread(target=lambda: got.append(turns.next()))
    waiting.start()
    time.sleep(0.05)  # it waits for a1's place
    stopped.set()  # e.g. the controller was killed while a1 ran
    turns.done(a1)
    waiting.join(10)
    assert got == [None] and turns.pending == [a2]


def test_the_server_is_the_fleet_files_else_where_the_database_is_reached():
    assert server_of(database("x", "eu")) == "eu"
    assert server_of(database("x", "")) == "db:5432"


def test_a_warning_of_many_databases_comes_once_after_the_first_few_of_them():
    hosts = ["db%02d" % n for n in range(1, 11)]
    runs = {host: {"warnings": ["migrations/notes.txt: ignored (not a .sql file)"]} for host in hosts}
    runs["db02"]["warnings"].append("pg_migrate_adopt=flyway does nothing on db02")
    runs["db03"] = {"failed": True}  # a run without warnings
    assert wave_warnings(runs, hosts) == [
        "db01 db02 db04 ... (5 more) db10: migrations/notes.txt: ignored (not a .sql file)",
        "db02: pg_migrate_adopt=flyway does nothing on db02",
    ]
    assert wave_warnings({}, hosts) == []
