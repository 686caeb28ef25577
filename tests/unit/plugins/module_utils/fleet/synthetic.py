"""A synthetic fleet report (fleet.json's content) of any size: servers, every state, a few failures, two
controllers, runs with start and end times packed as a controller with 20 forks runs them. For the page's
tests; no PostgreSQL."""

from __future__ import annotations

import datetime

from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet import rules as fleet
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.report import build_report

# A database name and a message as an attacker (or an unlucky DBA) might write them.
HOSTILE_NAME = "o'brien\"<script>alert(1)</script>"
HOSTILE_MESSAGE = 'ERROR: relation "x" <script>alert("m")</script> & friends\nDETAIL: a second line'
FORKS = 20
START = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)
# The states of the databases whose wave ran, by position: most applied, the odd one otherwise.
ODD_STATES = {7: fleet.CURRENT, 11: fleet.SKIPPED, 13: fleet.PENDING, 17: fleet.WOULD_APPLY, 19: fleet.NOT_IN_RUN}


def instant(seconds: float) -> str:
    moment = START + datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)


def state_at(position: int, wave: int, halted_wave: int, failures: set[int]) -> str:
    if wave >= halted_wave:
        return fleet.NOT_ATTEMPTED
    if position in failures:
        return fleet.FAILED
    return ODD_STATES.get(position % 23, fleet.APPLIED)


def entry_of(position: int, server: str, wave: int, state: str, controllers: list[str]) -> dict:
    """A database's entry; its run (when it ran) in the fork slot its position gives it."""
    database = HOSTILE_NAME if position == 3 else "db_%04d" % position
    ran = state in (fleet.APPLIED, fleet.CURRENT, fleet.FAILED, fleet.WOULD_APPLY)
    entry = {
        "host": "%s-%s" % (server, database),
        "server": server,
        "database": database,
        "wave": wave,
        "state": state,
        "version_before": "001",
        "version_after": "005" if state == fleet.APPLIED else "001",
        "duration_ms": 400.0 + (position % 7) * 90 if ran else None,
        "failure": {"script": "V002__policy.sql", "sqlstate": "23505", "message": HOSTILE_MESSAGE}
        if state == fleet.FAILED
        else None,
        "health": None,
        "standby_lag": None,
        "skip_reason": "a hot standby (pg_migrate_on_standby: skip)" if state == fleet.SKIPPED else None,
        "started_at": None,
        "finished_at": None,
    }
    if controllers:
        entry["controller"] = controllers[position % len(controllers)]
    return entry


def with_times(entries: list[dict], waves: list[list[str]]) -> None:
    """Start and end times: each wave after the last, FORKS runs at a time within it."""
    by_host = {entry["host"]: entry for entry in entries}
    clock = 0.0
    for wave in waves:
        slots = [clock] * FORKS
        for number, host in enumerate(wave):
            entry = by_host[host]
            if entry["duration_ms"] is None:
                continue
            slot = number % FORKS
            entry["started_at"] = instant(slots[slot])
            slots[slot] += entry["duration_ms"] / 1000
            entry["finished_at"] = instant(slots[slot])
        clock = max(slots) + 1.0


def synthetic_report(
    count: int = 1000,
    servers: tuple[str, ...] = ("eu-1", "eu-2", "us-1", "ap-1"),
    controllers: tuple[str, ...] = ("ctl-a", "ctl-b"),
    failures: tuple[int, ...] = (3, 42, 120, 250),
    sizes: tuple = (1, "5%", "25%", "100%"),
    halted_wave: int = 4,
) -> dict:
    """The report of a rollout over COUNT databases spread over SERVERS, halted before wave HALTED_WAVE."""
    hosts, entries = [], []
    placed = fleet.waves(list(range(count)), list(sizes))
    wave_of = {position: number for number, wave in enumerate(placed, start=1) for position in wave}
    for position in range(count):
        server = servers[position % len(servers)]
        state = state_at(position, wave_of[position], halted_wave, set(failures))
        entry = entry_of(position, server, wave_of[position], state, list(controllers))
        entries.append(entry)
        hosts.append(entry["host"])
    waves = [[hosts[position] for position in wave] for wave in placed]
    with_times(entries, waves)
    failed = sum(1 for entry in entries if entry["state"] == fleet.FAILED)
    halt = "the failure budget is exhausted: %d failed, 2 allowed" % failed if halted_wave <= len(waves) else ""
    return build_report(
        entries, waves, halt, [], {"allowed": 2, "failed": failed, "setting": "2"}, False, {"run_id": "r1"}
    )
