# pg_migrate: a fleet wave's migrations in one task. A forked Ansible task per database was most of what a fleet
# database cost the controller (a worker process, the task's variables, its result's trip back); here every
# database of the wave that the controller reaches (the controller execution path) is migrated in this process,
# as many at once as Ansible's forks allow, each with its own variables (host_variables.py) exactly as the role's
# run task on that host would have them, and each finished as that task finishes it: its turn in the fleet
# ledger, its reports, its line of the in-progress fleet report. The databases that go through their managed
# host (pg_migrate_execution: host) are listed instead: the playbook runs the role's task on each of them.

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ansible import constants as C
from ansible import context

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import some_words
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.report import progress_line
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.rules import FAILED, attempted, run_of, state_of
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_hosts import (
    UNREADABLE,
    FleetHost,
    FleetHosts,
    failed_run,
)
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_progress import fleet_turn, timed
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.host_variables import registered_of
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.in_process import concluded_run

# The waves play's own variables (playbooks/fleet.yml): a migrate, which never fails its host (a failed database
# counts against the budget at the next wave); below the host's own values, the play's defaults.
WAVE_PLAY = {"pg_migrate_action": "migrate", "pg_migrate_fail_host": False}
WAVE_PLAY_DEFAULTS = {"pg_migrate_standby_catch_up": True}
# What a wave's result registers for every host of the wave (the fleet_halt filter and the report read it).
WAVE_RESULT = "__pg_migrate_fleet_wave"


@dataclass
class Tally:
    """The rollout's running totals on this controller, for each database's progress line."""

    wave: int
    waves: int
    total: int
    done: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, host: str, run: dict) -> str:
        """RUN (HOST's migrate) counted; its progress line."""
        with self.lock:
            self.done += 1
            self.failed += int(state_of(run, True) == FAILED)
            return progress_line(host, run, self.wave, self.waves, self.done, self.total, self.failed)


class ServerTurns:
    """Which database of the wave runs next: the first in wave order whose server has fewer than
    pg_migrate_fleet_per_server of this wave's databases running here. The limit itself is held on the server
    (a slot per run, across controllers); a run started beyond it would only wait there, holding its
    connections and one of the wave's places while another server's database could run."""

    def __init__(self, members: list[FleetHost], go_on: Callable[[], bool] = lambda: True) -> None:
        self.pending = list(members)
        self.running: Counter[str] = Counter()
        self.changed = threading.Condition()
        self.go_on = go_on

    def next(self) -> FleetHost | None:
        """The next database to run (None: none is left, or GO_ON says stop), waiting while each left has its
        server's places taken; GO_ON is asked again after each wait (it may have changed meanwhile)."""
        with self.changed:
            while self.pending and self.go_on():
                for index, member in enumerate(self.pending):
                    limit = int(member.settings.fleet_per_server or 0)
                    if not limit or self.running[server_of(member)] < limit:
                        self.running[server_of(member)] += 1
                        return self.pending.pop(index)
                self.changed.wait()
            return None

    def done(self, member: FleetHost) -> None:
        with self.changed:
            self.running[server_of(member)] -= 1
            self.changed.notify_all()


def server_of(member: FleetHost) -> str:
    """The server a database lives on: its fleet file's server, else where it is reached."""
    connection = member.connection
    where = connection.get("login_host") or connection.get("login_unix_socket")
    return str(member.settings.fleet_server or "%s:%s" % (where, connection.get("login_port")))


# How often the worker's main thread looks at signals while the wave runs. Python runs a signal's handler only in
# the main thread, when it runs Python code; a main thread blocked on the wave's futures until its end let
# Ctrl-C (or AWX's cancel) reach Ansible's handler, which ends the worker and the runs in it, only after the last
# database of the wave: the rollout went on behind the operator's back.
SIGNAL_CHECK_S = 0.2


def forks() -> int:
    """How many databases of a wave run at once: Ansible's forks (-f), as a task per database would run."""
    return max(1, int(context.CLIARGS.get("forks") or C.DEFAULT_FORKS))


def wave_members(templar, task_vars: dict, hosts: list[str]) -> tuple[list[FleetHost], list[str], dict[str, dict]]:
    """The wave's databases this process migrates, the hosts that go through their managed host, and a failed
    result for each database whose settings could not be read (counted as a failed database, as the role's task
    failing on them would be)."""
    fleet = FleetHosts(templar, task_vars, WAVE_PLAY, WAVE_PLAY_DEFAULTS)
    members: list[FleetHost] = []
    on_hosts: list[str] = []
    unreadable_ones: dict[str, dict] = {}
    for host in hosts:
        try:
            member = fleet.read(host)
        except UNREADABLE as exc:
            unreadable_ones[host] = failed_run(host, exc)
            continue
        if member.on_host:
            on_hosts.append(host)
        else:
            members.append(member)
    return members, on_hosts, unreadable_ones


def migrate_member(
    member: FleetHost, task_vars: dict, check: bool, diff: bool, show: Callable[[str], None]
) -> dict[str, Any]:
    """One database's migrate in its fleet turn, as the role's run task returns it; an error that is not the
    run's own (it raised) is this database's failure, never the wave's."""

    def run() -> dict:
        return concluded_run(member.settings, member.connection, member.host, check, diff, show)

    try:
        if check:  # a check-mode migrate takes no turn and finishes nothing: it changed nothing
            return timed(run)
        return fleet_turn(task_vars, member.host, member.variables.get, run)
    except Exception as exc:  # this database's failure: the wave goes on
        return failed_run(member.host, exc)


def run_wave(templar, task_vars: dict, check: bool, diff: bool, show: Callable[[str], None]) -> dict:
    """Every database of this wave (ansible_play_batch) the controller reaches, migrated in this process:
    {"runs": {host: its run's result}, "on_hosts": [hosts the role's task migrates], "tally": running totals}."""
    hosts = list(task_vars.get("ansible_play_batch") or [])
    tally = tally_before(task_vars, hosts)
    members, on_hosts, runs = wave_members(templar, task_vars, hosts)
    for host, run in runs.items():
        show(tally.count(host, run))
    parent = os.getppid()

    # A controller killed meanwhile (kill -9 of ansible-playbook leaves its workers running): start nothing more,
    # as a forked task per database would not have been started.
    turns = ServerTurns(members, go_on=lambda: os.getppid() == parent)

    def migrate_in_turn() -> None:
        while (member := turns.next()) is not None:
            try:
                run = migrate_member(member, task_vars, check, diff, show)
            finally:
                turns.done(member)
            runs[member.host] = run
            show(tally.count(member.host, run))

    workers = min(forks(), max(1, len(members)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pg_migrate") as pool:
        futures = [pool.submit(migrate_in_turn) for _worker in range(workers)]
        while wait(futures, timeout=SIGNAL_CHECK_S).not_done:
            pass
        for future in futures:
            future.result()
    result = {
        "runs": runs,
        "on_hosts": on_hosts,
        "tally": {"done": tally.done, "failed": tally.failed},
        "changed": any(run.get("changed") for run in runs.values()),
    }
    if diff:  # --diff: each database's scripts, as its own run task shows them, in wave order
        result["diff"] = [runs[host]["diff"] for host in hosts if (runs.get(host) or {}).get("diff")]
    warnings = wave_warnings(runs, hosts)
    if warnings:
        result["warnings"] = warnings
    return result


def wave_warnings(runs: dict[str, dict], hosts: list[str]) -> list[str]:
    """Each distinct warning of the wave's runs once, after the databases that gave it (the first few and a
    count): Ansible shows a task's warnings, and the role's task per database showed each database's; a change
    set's warning (a file it ignores) would otherwise come once per database of the wave."""
    given: dict[str, list[str]] = {}
    for host in hosts:
        for warning in (runs.get(host) or {}).get("warnings") or ():
            given.setdefault(str(warning), []).append(host)
    return ["%s: %s" % (some_words(where, 3, 1), warning) for warning, where in given.items()]


def tally_before(task_vars: dict, batch: list[str]) -> Tally:
    """The running totals before this wave: the previous wave's (its result is registered on each of its hosts,
    the last of them just before this batch among the play's hosts), with its databases that the role's task
    migrated through their managed hosts counted from their own results."""
    preflight = task_vars.get("__pg_migrate_fleet_preflight") or {}
    cut = list(preflight.get("waves") or [])
    wave = next((number for number, hosts in enumerate(cut, start=1) if batch and batch[0] in hosts), 0)
    tally = Tally(wave, len(cut), len(preflight.get("hosts") or []))
    hosts_all = list(task_vars.get("ansible_play_hosts_all") or [])
    if not batch or batch[0] not in hosts_all or hosts_all.index(batch[0]) == 0:
        return tally
    hostvars = task_vars["hostvars"]
    previous = registered_of(hostvars, hosts_all[hosts_all.index(batch[0]) - 1])
    earlier = (previous.get(WAVE_RESULT) if WAVE_RESULT in previous else None) or {}
    tally.done = int((earlier.get("tally") or {}).get("done", 0))
    tally.failed = int((earlier.get("tally") or {}).get("failed", 0))
    for host in earlier.get("on_hosts") or []:
        run = run_of(registered_of(hostvars, host))
        if attempted(run):
            tally.done += 1
            tally.failed += int(state_of(run, True) == FAILED)
    return tally
