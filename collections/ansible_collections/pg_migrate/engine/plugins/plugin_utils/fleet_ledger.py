# pg_migrate: the controller's side of the fleet ledger (module_utils/fleet/ledger.py) - where the ledger is,
# which rollout a controller belongs to, what its own batches are, and each database's turn in it.
#
# With pg_migrate_fleet_ledger_db set, every controller of a rollout (an AWX job slice, an ansible-playbook
# process) cuts the waves over the WHOLE fleet (pg_migrate_fleet_members, from the fleet inventory plugin), the
# first one records them, and each runs only its own databases, wave by wave: before each of its waves it waits
# until the earlier waves have finished wherever they run, and the halt, the budget and the canary are read
# from the ledger. Each database's run takes its turn there (it runs once per rollout) and writes its outcome.

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.community.postgresql.plugins.module_utils.postgres import postgres_common_argument_spec

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.durations import duration_seconds, is_duration
from ansible_collections.pg_migrate.engine.plugins.module_utils.engine import connection_settings, open_connection
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet import ledger
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.report import database_entry
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.rules import (
    FAILED,
    NOT_ATTEMPTED,
    PENDING,
    halt_reason_of_entries,
)
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.role_settings import connection_from_variables


@dataclass(frozen=True)
class LedgerAccess:
    """Where the ledger is and how to log in (the fleet's own login), the attempt, how long a wave waits."""

    connection: dict = field(repr=False)  # holds the password
    attempt: str
    wait_s: float

    @property
    def where(self) -> str:
        return "%s on %s:%s" % (
            self.connection["login_db"],
            self.connection["login_host"],
            self.connection["login_port"],
        )


def ledger_access(value: Callable[[str, Any], Any], task_vars: dict) -> tuple[LedgerAccess | None, list[str]]:
    """The ledger of this rollout from the settings (VALUE(name, default): a host's rendered variable), or None
    when pg_migrate_fleet_ledger_db is empty; with the problems of the settings, each naming its variable."""
    database = str(value("pg_migrate_fleet_ledger_db", "") or "")
    if not database:
        return None, []
    problems = []
    host = str(value("pg_migrate_fleet_ledger_host", "") or "")
    if not host:
        problems.append(
            "pg_migrate_fleet_ledger_host is empty: with pg_migrate_fleet_ledger_db (%s) it names the server every "
            "controller reaches the ledger on (a host name or a socket directory)" % database
        )
    wait = value("pg_migrate_fleet_ledger_wait", "2h")
    if not is_duration(wait):
        problems.append("pg_migrate_fleet_ledger_wait: %r is not a PostgreSQL duration (e.g. 30min, 2h)" % (wait,))
    execution = str(value("pg_migrate_execution", "auto") or "auto")
    if execution == "host":
        problems.append(
            "pg_migrate_fleet_ledger_db needs pg_migrate_execution controller (or auto on the controller): a run on "
            "the managed host outlives its controller, so the ledger could not tell a finished database from a lost one"
        )
    connection = connection_from_variables(lambda name: value(name, None))
    connection.update(login_db=database, login_host=host, login_port=int(value("pg_migrate_fleet_ledger_port", 5432)))
    connection.pop("login_unix_socket", None)
    attempt = str(value("pg_migrate_fleet_attempt", "") or task_vars.get("awx_workflow_job_id") or "")
    access = LedgerAccess(connection, attempt, duration_seconds(wait) if is_duration(wait) else 0.0)
    return (None if problems else access), problems


def open_ledger(access: LedgerAccess, who: str, create: bool = True):
    """An autocommit session of the ledger database, its tables created on first use (CREATE)."""
    params = {key: value for key, value in access.connection.items() if value not in (None, "")}
    params = dict(ArgumentSpecValidator(postgres_common_argument_spec()).validate(params).validated_parameters)
    params.update(inventory_host=who)
    settings = connection_settings(params, lambda _message: None)
    settings["application_name"] = "pg_migrate fleet ledger"
    conn = open_connection(params, settings, autocommit=True)
    if create:
        ledger.ensure_schema(conn)
    return conn


def controller_label(task_vars: dict) -> str:
    """Which controller this is, for the ledger's rows: AWX's job (a slice), else this machine and the
    ansible-playbook process (a worker's parent)."""
    job = task_vars.get("awx_job_id") or task_vars.get("tower_job_id")
    if job:
        return "awx job %s" % job
    return "%s pid %d" % (socket.gethostname(), os.getppid())


def members_of(first_host_vars: dict, hosts: list[str], variables_of: dict) -> list[dict]:
    """The whole fleet in rollout order: the inventory plugin's pg_migrate_fleet_members, else this play's hosts
    (a controller that runs the whole fleet)."""
    listed = first_host_vars.get("pg_migrate_fleet_members") if "pg_migrate_fleet_members" in first_host_vars else None
    if listed:
        return [{"host": str(m["host"]), "server": str(m["server"]), "database": str(m["database"])} for m in listed]
    return [
        {
            "host": host,
            "server": str(variables_of[host].get("pg_migrate_fleet_server") or ""),
            "database": str(variables_of[host].get("pg_migrate_db") or ""),
        }
        for host in hosts
    ]


def changeset_digest(changeset: dict) -> str:
    """What identifies the change set in a rollout's id: every script's name and checksum."""
    names = [
        "%s:%s" % (entry.get("script"), entry.get("checksum"))
        for kind in ("migrations", "repeatables")
        for entry in changeset.get(kind) or []
    ]
    return hashlib.sha256("\n".join(sorted(names)).encode("utf-8")).hexdigest()


def own_batches(waves: list[list[str]], hosts: list[str]) -> tuple[list[str], list[int]]:
    """This controller's hosts in wave order, and the play's serial that runs them a wave at a time (a wave
    without one of its hosts is no batch of it)."""
    mine = set(hosts)
    parts = [[host for host in wave if host in mine] for wave in waves]
    parts = [part for part in parts if part]
    return [host for part in parts for host in part], [len(part) for part in parts] or [1]


def wave_of(plan: dict, host: str) -> int:
    for number, hosts in enumerate(plan.get("waves") or [], start=1):
        if host in hosts:
            return number
    return 0


def fleet_entries(plan: dict, known: dict[str, dict], halted: str) -> list[dict]:
    """Every database's line of the fleet report from the ledger: its outcome when it finished; pending while
    it runs or when its run was lost (the resume list takes it); not attempted when the rollout halted first."""
    entries = []
    for member in plan.get("members") or []:
        row = known.get(member["host"]) or {}
        if row.get("entry") and row.get("state") not in (ledger.RUNNING, ledger.LOST, ledger.READY):
            entry = dict(row["entry"], controller=row.get("controller"))
        elif row.get("state") == ledger.READY:
            entry = dict(row["entry"])
            if entry["state"] == PENDING and halted:  # never started: where its preflight read it
                entry.update(state=NOT_ATTEMPTED, version_after=entry.get("version_before"))
        else:
            entry = {
                "host": member["host"],
                "server": member["server"],
                "database": member["database"],
                "wave": wave_of(plan, member["host"]),
                "state": NOT_ATTEMPTED if halted and not row else PENDING,
                "version_before": None,
                "version_after": None,
                "duration_ms": None,
                "failure": None,
                "health": None,
                "standby_lag": None,
                "skip_reason": None,
            }
            if row.get("state") == ledger.LOST:
                entry["failure"] = {
                    "script": None,
                    "sqlstate": None,
                    "message": "its controller (%s) was lost "
                    "while it ran: its outcome is unknown; the resume list takes it" % row["controller"],
                }
        entries.append(entry)
    return entries


def halt_of(plan: dict, known: dict[str, dict]) -> str:
    """Why no further wave may start, from the outcomes the ledger holds (any controller's)."""
    entries = [row["entry"] for row in known.values() if row.get("entry")]
    return halt_reason_of_entries(
        entries, int(plan.get("allowed", 0)), list(plan.get("canaries") or []), bool(plan.get("canary_stops", True))
    )


def failed_count(entries: list[dict]) -> int:
    return sum(1 for entry in entries if entry["state"] == FAILED)


def lost_halt(entries: list[dict]) -> str:
    """The halt a rollout ends with when runs were lost with their controller: it did not complete."""
    lost = [entry["host"] for entry in entries if entry["state"] == PENDING and entry.get("failure")]
    if not lost:
        return ""
    return "%d database(s) were lost with their controller mid-run (%s): resume the rollout" % (
        len(lost),
        ", ".join(lost[:5]) + (" ..." if len(lost) > 5 else ""),
    )


def settled(plan: dict, known: dict[str, dict], halted: str) -> bool:
    """Whether every database of the rollout has its last word in the ledger: none running, and every one
    finished (or lost) unless the rollout halted (then the ones never started stay so)."""
    if any(row["state"] == ledger.RUNNING for row in known.values()):
        return False
    return bool(halted) or all(
        (known.get(member["host"]) or {}).get("state") not in ledger.NOT_STARTED for member in plan.get("members") or []
    )


class LedgerTurn:
    """A database's turn in a ledger rollout: its row says running and its session holds the lock from before
    the run until its outcome is written (finish), or until this controller dies (then it reads as lost)."""

    def __init__(self, conn, rollout: str, host: str, refusal: dict | None = None) -> None:
        self.conn = conn
        self.rollout = rollout
        self.host = host
        self.refusal = refusal  # the task's result when the database must not run now

    @classmethod
    def take(cls, task_vars: dict, host: str, value: Callable[[str, Any], Any]) -> LedgerTurn | None:
        """HOST's turn, or None outside a ledger rollout (no ledger, check mode, migrate.yml)."""
        preflight = task_vars.get("__pg_migrate_fleet_preflight") or {}
        info = preflight.get("ledger")
        if not info or host not in (preflight.get("hosts") or []):
            return None
        access, problems = ledger_access(value, task_vars)
        if access is None:
            return cls(None, info["rollout_id"], host, _refusal(host, "; ".join(problems), failed=True))
        conn = open_ledger(access, host, create=False)  # the preflight created the tables
        rollout, plan = info["rollout_id"], info["plan"]
        reason = ledger.halted(conn, rollout)
        if reason:
            conn.close()
            return cls(None, rollout, host, _refusal(host, "not started: the rollout halted (%s)" % reason))
        if not ledger.start_database(conn, rollout, host, wave_of(plan, host), info["controller"]):
            conn.close()
            return cls(
                None,
                rollout,
                host,
                _refusal(
                    host,
                    "not started: it already ran in this rollout, or runs "
                    "under another controller (fleet ledger %s)" % rollout,
                ),
            )
        return cls(conn, rollout, host)

    def entry_of(self, task_vars: dict, run: dict) -> dict:
        """This database's line of the fleet report from its run RUN, as every controller's report shows it."""
        preflight = task_vars.get("__pg_migrate_fleet_preflight") or {}
        plan = preflight["ledger"]["plan"]
        member = next(m for m in plan["members"] if m["host"] == self.host)
        variables = {
            "__pg_migrate_run": run,
            "pg_migrate_fleet_server": member["server"],
            "pg_migrate_db": member["database"],
        }
        read = (preflight.get("versions") or {}).get(self.host) or {}
        return database_entry(self.host, variables, wave_of(plan, self.host), {"version": read.get("version")})

    def finish(self, entry: dict) -> None:
        if self.conn is not None:
            try:
                ledger.finish_database(self.conn, self.rollout, self.host, entry)
            finally:
                self.close()

    def close(self) -> None:
        """Let the database go without an outcome (the run raised): its row reads as lost."""
        if self.conn is not None:
            conn, self.conn = self.conn, None
            conn.close()


def _refusal(host: str, why: str, failed: bool = False) -> dict:
    refusal = {"changed": False, "summary": ["%s: %s" % (host, why)], "ledger_skipped": why}
    if failed:
        refusal["msg"] = "%s: %s" % (host, why)
    return refusal
