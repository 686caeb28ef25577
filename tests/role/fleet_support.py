"""Fleets for the fleet tests beyond tests/role/test_fleet.py: several fleets per test, each in a
directory of its own, servers with vars of their own, databases at different versions, the host execution path,
and runs started in the background (to be killed).

Builds on test_fleet.py's Fleet (play, query, version, report) and its fleet-wide connection vars."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import yaml

from tests.ansible_run import ROOT, PlaybookRun, command, playbook_env
from tests.pgdb import Database
from tests.role.conftest import RoleTemplates
from tests.role.test_fleet import FLEET_VARS, TINY_CHANGESET_VARS, Fleet, states

__all__ = [
    "BROKEN_FOR_V002",
    "FLEET_VARS",
    "ActivitySampler",
    "Fleet",
    "FleetMaker",
    "Started",
    "assert_report_matches_the_databases",
    "history_of",
    "play_within",
    "rollout_order",
    "start",
    "states",
    "tiny_changeset",
    "versions",
    "wait_for",
]

# Makes V002__policy_as_data.sql fail on a database at V001 (see test_fleet.py).
BROKEN_FOR_V002 = "INSERT INTO xp_rules (rule_key, xp_amount) VALUES ('legacy', 10)"


def tiny_changeset(directory: Path, scripts: dict[str, str]) -> tuple[str, ...]:
    """Write SCRIPTS (file name -> SQL) into DIRECTORY; the extra vars of a fleet run that uses them."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in scripts.items():
        (directory / name).write_text(text)
    return ("-e", f"pg_migrate_migrations_dir={directory}", *TINY_CHANGESET_VARS)


class FleetMaker:
    """fleet_maker(servers, at="001", settings=None, execution=None, canary=None) -> Fleet.

    SERVERS: server name -> a count of new databases, or a mapping with `count` or `databases` (names; a name
    already made in this test is not made again: two servers may list one database), `at` (the version of
    this server's databases; default AT), `vars` (the server's vars in the fleet file). AT: copies of what
    migrate.yml leaves at that version (only on the session's server); None: empty databases. EXECUTION:
    pg_migrate_execution for every database ("host": the role's scripts go to the fleet's own directory).
    SERVER, ANCHOR: another PostgreSQL server, and a database of it whose connection the runs get. Every
    fleet has a directory of its own (its fleet file and reports); every database made is dropped after the
    test."""

    def __init__(self, pg_server, role_templates: RoleTemplates, anchor: Database, base: Path) -> None:
        self.pg_server = pg_server
        self.role_templates = role_templates
        self.anchor = anchor
        self.base = base
        self.created: list[tuple[object, str]] = []

    def __call__(
        self,
        servers: dict[str, int | dict],
        at: str | None = "001",
        settings: dict | None = None,
        execution: str | None = None,
        canary: list[str] | None = None,
        server=None,
        anchor: Database | None = None,
    ) -> Fleet:
        server = server or self.pg_server
        prefix = f"f{uuid.uuid4().hex[:6]}"
        directory = self.base / prefix
        directory.mkdir(parents=True)
        shared = FLEET_VARS | (settings or {})
        if execution:
            shared["pg_migrate_execution"] = execution
        if execution == "host":
            shared |= {
                "pg_migrate_remote_dir": str(directory / "remote" / "{{ inventory_hostname }}"),
                "pg_migrate_remote_owner": "",
                "pg_migrate_remote_group": "",
            }
        spec: dict = {"plugin": "pg_migrate.engine.fleet", "vars": shared, "servers": {}}
        if canary:
            spec["canary"] = canary
        hosts: dict[str, str] = {}
        made = {name for owner, name in self.created if owner is server}
        with psycopg.connect(server.conninfo(), autocommit=True) as admin:
            for name, entry in servers.items():
                entry = {"count": entry} if isinstance(entry, int) else dict(entry)
                version = entry.get("at", at)
                names = list(entry.get("databases") or [])
                names += [f"{prefix}_{name}_{number:02d}" for number in range(1, entry.get("count", 0) + 1)]
                for database in names:
                    if database not in made:
                        template = self.role_templates.get(version, False).database.name if version else "template1"
                        admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
                        self.created.append((server, database))
                        made.add(database)
                    hosts[f"{name}-{database}"] = database
                spec["servers"][name] = {"databases": names, **({"vars": entry["vars"]} if entry.get("vars") else {})}
        file = directory / "fleet.yml"
        file.write_text(yaml.safe_dump(spec, sort_keys=False))  # servers in the order given
        return Fleet(server, hosts, file, directory / "reports", anchor or self.anchor)

    def drop_all(self) -> None:
        for server, name in reversed(self.created):
            try:
                with psycopg.connect(server.conninfo(), autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except psycopg.OperationalError:
                pass  # its server is gone already (a fixture's own server, removed with its databases)


# --- reading a fleet -----------------------------------------------------------------------------------------
def rollout_order(fleet: Fleet, canaries: tuple[str, ...] = ()) -> list[str]:
    """The documented rollout order: the canaries, then one database of each server in turn (file order)."""
    queues: dict[str, list[str]] = {}
    for host in fleet.hosts:
        if host not in canaries:
            queues.setdefault(host.split("-", 1)[0], []).append(host)
    order = list(canaries)
    while any(queues.values()):
        for queue in queues.values():
            if queue:
                order.append(queue.pop(0))
    return order


def versions(fleet: Fleet) -> dict[str, str | None]:
    return {host: fleet.version(host) for host in fleet.hosts}


def history_of(fleet: Fleet, host: str) -> list[tuple]:
    return fleet.query(
        host, "SELECT installed_rank, version, script, kind, success FROM pg_migrate_history ORDER BY installed_rank"
    )


def assert_report_matches_the_databases(fleet: Fleet, report: dict, before: dict[str, str | None]) -> None:
    """Every database the run touched or read says in fleet.json what its own history says; one that was not
    attempted is where it was."""
    assert {entry["host"] for entry in report["databases"]} == set(fleet.hosts)
    for entry in report["databases"]:
        host, actual = entry["host"], fleet.version(entry["host"])
        if entry["state"] in ("applied", "already current", "failed"):
            assert entry["version_after"] == actual, (entry, actual)
        elif entry["state"] == "halted-not-attempted":
            assert actual == before[host] == entry["version_before"] == entry["version_after"], (entry, actual)
    json.dumps(report)  # plain JSON all through


# --- runs in the background ----------------------------------------------------------------------------------
class Started:
    """A fleet run in the background, in its own process group; its output goes to a file (a pipe nobody reads
    while it runs could fill up and stall it)."""

    def __init__(self, fleet: Fleet, playbook: str, *args: str) -> None:
        self.log = fleet.reports.parent / f"{playbook}.{uuid.uuid4().hex[:6]}.log"
        cmd = command(playbook, "-e", f"pg_migrate_reports_dir={fleet.reports}", *args, inventory=str(fleet.file))
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=playbook_env(fleet.anchor),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> str:
        """SIGKILL the run's whole process group (the controller and its workers); its output."""
        if self.running():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(60)
        return self.output

    def interrupt(self, signum: int = signal.SIGINT) -> str:
        """Ctrl-C at the terminal (SIGINT), or a stop asked by a job runner (SIGTERM), to the run's process group
        (Ansible's workers are in sessions of their own, as from a terminal); its output once it ended."""
        if self.running():
            os.killpg(self.process.pid, signum)
        self.process.wait(60)
        return self.output

    def finish(self, seconds: float) -> PlaybookRun:
        """The run, once it ended; killed (and the test failed) when it runs longer than SECONDS."""
        try:
            self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the run still ran after {seconds} s:\n{self.kill()[-4000:]}") from None
        return PlaybookRun(self.process.returncode, self.output)


def start(fleet: Fleet, playbook: str, *args: str) -> Started:
    """Fleet.play's run, started in the background."""
    return Started(fleet, playbook, *args)


def wait_for(condition: Callable[[], bool], timeout: float, what: str, run: Started | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if run is not None and not run.running():
            raise AssertionError(f"the run ended before {what}:\n{run.output[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def play_within(fleet: Fleet, seconds: float, playbook: str, *args: str) -> tuple[PlaybookRun, float]:
    """Fleet.play that must end within SECONDS (else its whole process group is killed and the test fails);
    the run and how long it took."""
    began = time.monotonic()
    run = start(fleet, playbook, *args).finish(seconds)
    return run, time.monotonic() - began


class ActivitySampler:
    """In the background, how many databases of each group run a statement that starts with STATEMENT at the
    same moment (pg_stat_activity of SERVER); GROUP_OF: database -> group. `peak` once stopped."""

    def __init__(self, server, group_of: dict[str, str], statement: str) -> None:
        self.server = server
        self.group_of = group_of
        self.statement = statement
        self.seen: list[dict[str, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        with psycopg.connect(self.server.conninfo(), autocommit=True) as conn:
            while not self.stop.is_set():
                running = conn.execute(
                    "SELECT datname FROM pg_stat_activity WHERE state = 'active' AND starts_with(query, %s)",
                    (self.statement,),
                ).fetchall()
                counts: dict[str, int] = {}
                for (database,) in running:
                    if database in self.group_of:
                        counts[self.group_of[database]] = counts.get(self.group_of[database], 0) + 1
                self.seen.append(counts)
                time.sleep(0.03)

    def __enter__(self) -> ActivitySampler:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        self.thread.join(10)

    @property
    def peak(self) -> dict[str, int]:
        groups = sorted(set(self.group_of.values()))
        return {group: max((counts.get(group, 0) for counts in self.seen), default=0) for group in groups}
