# pg_migrate: the rules of a fleet rollout, as pure functions: the order of the databases (canaries first, each
# server's databases spread over the waves), the waves as Ansible's `serial` cuts them, the failure budget,
# each database's state from its run, and the verdict. The fleet action plugin, the fleet filter and the
# inventory plugin call these; tests/unit/plugins/module_utils/fleet/ tests them.

from __future__ import annotations

import re
from fractions import Fraction

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import joined, one_line
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.model import MigratePlan, plan_from_dict

# A database's state in the fleet report.
APPLIED = "applied"
CURRENT = "already current"
FAILED = "failed"
SKIPPED = "skipped"
NOT_ATTEMPTED = "halted-not-attempted"
NOT_IN_RUN = "not in this run"
WOULD_APPLY = "would apply"  # check mode: pending migrations that a real run would apply
PENDING = "pending"  # an in-progress report: not finished yet (or never, if the run was interrupted)
STATES = (APPLIED, CURRENT, FAILED, SKIPPED, NOT_ATTEMPTED, NOT_IN_RUN, WOULD_APPLY, PENDING)
DEFAULT_WAVES = (1, "5%", "25%", "100%")
# Settings that describe the rollout as a whole: one value for every database of the fleet.
FLEET_WIDE = (
    "pg_migrate_fleet_waves",
    "pg_migrate_fleet_max_failures",
    "pg_migrate_fleet_canary_stops",
    "pg_migrate_fleet_pause",
    "pg_migrate_fleet_ledger_db",
    "pg_migrate_fleet_ledger_host",
    "pg_migrate_fleet_ledger_port",
    "pg_migrate_fleet_attempt",
    "pg_migrate_fleet_ledger_wait",
)
WAVE_FORMS = (
    'a list of wave sizes, each a count (3) or a percentage of the fleet ("10%", "12.5%"), e.g. [1, "5%", '
    '"25%", "100%"]; or one size (2, "25%"); or sizes separated by commas ("1,25%,100%")'
)


def spread(servers: dict[str, list[str]], canaries: list[str]) -> list[str]:
    """The hosts in rollout order: the canaries first, then one database of each server in turn, so that a
    server's databases are spread over the waves instead of filling one. SERVERS maps a server to its hosts,
    each list in the fleet file's order."""
    order = list(canaries)
    queues = [[host for host in hosts if host not in canaries] for hosts in servers.values()]
    while any(queues):
        for queue in queues:
            if queue:
                order.append(queue.pop(0))
    return order


SIZE = re.compile(r"(?:\d+(?:\.\d+)?%|\d+)")


def _count(value, total: int) -> int:
    """A wave size or budget: an integer, or "N%" of TOTAL rounded down (exactly: 29% of 100 is 29)."""
    text = str(value).strip()
    if text.endswith("%"):
        return int(Fraction(text[:-1]) * total / 100)
    return int(text)


def parse_count(value, name: str) -> None:
    """Refuse a wave size or budget that is neither a non-negative integer nor a percentage, naming NAME."""
    if isinstance(value, bool) or not SIZE.fullmatch(str(value).strip()):
        raise ValueError('%s: %r is neither a count nor a percentage (e.g. 3 or "10%%")' % (name, value))


def wave_sizes(value) -> list:
    """pg_migrate_fleet_waves in every form it may be given - a list, one size, or sizes separated by commas
    (as `-e pg_migrate_fleet_waves=1,25%` gives them) - as a list of sizes; ValueError naming the setting and
    the accepted forms for anything else (a wave of 0, a share above 100%, an empty list)."""
    if isinstance(value, str):
        text = value.strip().strip("[]")
        items = [item.strip().strip("'\"") for item in text.split(",")] if text else []
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    if not items:
        raise ValueError("pg_migrate_fleet_waves: %r is empty: give %s" % (value, WAVE_FORMS))
    sizes = []
    for item in items:
        text = str(item).strip()
        if isinstance(item, (bool, float)) or not SIZE.fullmatch(text):
            raise ValueError("pg_migrate_fleet_waves: %r is not a wave size: give %s" % (item, WAVE_FORMS))
        if text.endswith("%"):
            share = Fraction(text[:-1])
            if share <= 0 or share > 100:
                raise ValueError(
                    "pg_migrate_fleet_waves: %r: a share of the fleet is above 0%% and at most 100%%" % (item,)
                )
            sizes.append(text)
        else:
            if int(text) < 1:
                raise ValueError("pg_migrate_fleet_waves: %r: a wave has at least 1 database" % (item,))
            sizes.append(int(text))
    return sizes


def waves(hosts: list[str], sizes: list) -> list[list[str]]:
    """HOSTS cut into waves as Ansible's serial does it: each size a count or a percentage of all hosts (at
    least 1), the last size repeated until every host has a wave."""
    sizes = wave_sizes(sizes) if sizes else []
    if not sizes:
        return [list(hosts)] if hosts else []
    total, cut, position, index = len(hosts), [], 0, 0
    while position < len(hosts):
        size = max(1, _count(sizes[min(index, len(sizes) - 1)], total))
        cut.append(hosts[position : position + size])
        position += size
        index += 1
    return cut


def serial_of(cut: list[list[str]]) -> list[int]:
    """The play's `serial` that makes Ansible's batches exactly CUT (computed here, so every accepted form of
    the setting runs as asked and the report's waves are the batches that ran)."""
    return [len(wave) for wave in cut] or [1]


def budget(value, fleet_size: int) -> int:
    """How many failed databases the rollout tolerates: a count, or a percentage of the fleet (rounded down)."""
    parse_count(value, "pg_migrate_fleet_max_failures")
    return _count(value, fleet_size)


def run_of(variables) -> dict | None:
    """A database's pg_migrate_run result from its host variables, whichever path ran it (on the controller path
    in its wave's one task, whose result every host of the wave registers): on the host path the
    first task only hands over to a background job (deferred) and the job's result is the finish task's
    (__pg_migrate_finish). A job whose result never came back is a failure, not a success."""
    run = variables.get("__pg_migrate_run") if "__pg_migrate_run" in variables else None
    if run is None and "__pg_migrate_fleet_wave" in variables:
        # Migrated in its wave's one task on the controller (pg_migrate_fleet phase=wave): its run is there.
        wave = variables.get("__pg_migrate_fleet_wave") or {}
        run = (wave.get("runs") or {}).get(variables.get("inventory_hostname"))
    if not run or not run.get("deferred"):
        return run
    finish = variables.get("__pg_migrate_finish") if "__pg_migrate_finish" in variables else None
    if finish and finish.get("action"):
        return finish
    return {
        "action": "migrate",
        "plan": run.get("plan") or {},
        "msg": (finish or {}).get("msg")
        or "the background job's result was never read (the run was interrupted): see its database's status",
    }


def attempted(run: dict | None, action: str = "migrate") -> bool:
    """Whether RUN is a run of ACTION (a migrate in the waves), or an Ansible-level failure of the task that
    would have been one (no action in the result: the run may have committed before it failed)."""
    if not run:
        return False
    return run.get("action") == action or (bool(run.get("failed")) and not run.get("action"))


def state_of(run: dict | None, attempted: bool, check: bool = False) -> str:
    """A database's state from its registered pg_migrate_run result (None: no migrate ran for it)."""
    if not attempted or not run:
        return NOT_ATTEMPTED
    if run.get("skipped_standby"):
        return SKIPPED
    if run.get("msg") or run.get("failed"):
        return FAILED
    if check and plan_of(run).pending_versions:
        return WOULD_APPLY
    return APPLIED if run.get("applied") else CURRENT


def halt_reason(results: dict[str, dict], max_failures: int, canaries: list[str], canary_stops: bool) -> str:
    """Why no further wave may start ('' when the rollout goes on). RESULTS holds the migrate runs so far."""
    failed = sorted(host for host, run in results.items() if state_of(run, True) == FAILED)
    # A gate that failed counts as a failed database too (its run has the gate's msg): named first.
    gates = sorted(host for host, run in results.items() if (run or {}).get("health_failed"))
    return _halt(failed, gates, max_failures, canaries, canary_stops)


def halt_reason_of_entries(entries: list[dict], max_failures: int, canaries: list[str], canary_stops: bool) -> str:
    """halt_reason from the fleet report's entries of the databases that finished (a fleet ledger's, written by
    any controller) instead of this controller's runs."""
    failed = sorted(entry["host"] for entry in entries if entry.get("state") == FAILED)
    gates = sorted(entry["host"] for entry in entries if (entry.get("health") or {}).get("passed") is False)
    return _halt(failed, gates, max_failures, canaries, canary_stops)


def _halt(failed: list[str], gates: list[str], max_failures: int, canaries: list[str], canary_stops: bool) -> str:
    if gates:
        return "the health gate failed on %s" % ", ".join(gates)
    if canary_stops and any(host in canaries for host in failed):
        return "the canary failed (%s)" % ", ".join(host for host in failed if host in canaries)
    if len(failed) > max_failures:
        return "the failure budget is exhausted: %d failed, %d allowed (%s)" % (
            len(failed),
            max_failures,
            ", ".join(failed),
        )
    return ""


def failure_detail(run: dict) -> dict:
    """What failed: the script and SQLSTATE when a migration failed, else the message."""
    failure = run.get("failure") or {}
    return {
        "script": failure.get("script"),
        "sqlstate": failure.get("sqlstate"),
        "message": str(run.get("msg") or "the run failed"),
    }


def plan_of(run: dict | None) -> MigratePlan:
    """The migrate plan of a run's or a status's result; an empty one (no versions) when it has none."""
    return plan_from_dict((run or {}).get("plan"), rollback=False) or MigratePlan(None, None)


def _drift_names(plan: MigratePlan) -> list[str]:
    return [item.script for item in plan.drift]


def is_standby(status: dict | None) -> bool:
    status = status or {}
    return bool(status.get("skipped_standby") or (status.get("server") or {}).get("in_recovery"))


def preflight_problems(statuses: dict[str, dict | None], on_standby) -> list[str]:
    """Every reason the fleet may not start, one line per database: no status (unreachable, refused), a hot
    standby (unless skipped by setting), anything the version check of a migrate would refuse (drift, a
    version the change set does not know, out of order, a target below the database), two hosts that reach
    one database, and a database whose pending migrations are not the tail of the fleet's longest pending list
    (the same change must apply everywhere; an already current database is fine). ON_STANDBY: the setting, or
    a function host -> that host's setting."""
    setting = on_standby if callable(on_standby) else (lambda _host: on_standby)
    problems, pending, reached = [], {}, {}
    for host, status in sorted(statuses.items()):
        server = (status or {}).get("server") or {}
        # A streaming standby shares its primary's system identifier: it is its own case (below), not a copy.
        if status and server.get("system_identifier") and server.get("database") and not is_standby(status):
            reached.setdefault((server["system_identifier"], server["database"]), []).append(host)
        plan = plan_of(status)
        if not status:
            problems.append("%s: no status (the read-only check did not run)" % host)
        elif is_standby(status):
            if setting(host) != "skip":
                problems.append(
                    "%s: a hot standby (pg_migrate_on_standby: %s): run against the primary, or set "
                    "pg_migrate_on_standby: skip to leave it out" % (host, setting(host))
                )
        elif status.get("msg") or status.get("failed"):
            problems.append("%s: %s" % (host, one_line(status.get("msg") or "the status run failed")))
        elif plan.drift:
            problems.append(
                "%s: drift in %s: run a status on it (pg_migrate_action=status), then repair or restore the files"
                % (host, ", ".join(_drift_names(plan)))
            )
        elif plan.problems:
            problems.append("%s: the version check would refuse a migrate: %s" % (host, joined(plan.problems)))
        else:
            pending[host] = list(plan.pending_versions)
    for (system, database), hosts in sorted(reached.items()):
        if len(hosts) > 1:
            problems.append(
                "%s reach the same database %s (server system identifier %s): each database must be one host - "
                "give each server its own pg_migrate_login_host/pg_migrate_login_port (a server without them "
                "uses the fleet-wide ones), or list the database once" % (" and ".join(hosts), database, system)
            )
    longest = max(pending.values(), key=len, default=[])
    for host, versions in sorted(pending.items()):
        if versions and versions != longest[len(longest) - len(versions) :]:
            problems.append(
                "%s: pending %s, not the fleet's change (%s): bring it to the fleet's version first"
                % (host, ", ".join(versions), ", ".join(longest))
            )
    return problems


def differing_settings(values_of: dict[str, dict]) -> list[str]:
    """A problem per fleet-wide setting whose value differs between databases (VALUES_OF: host -> {setting:
    value}): the waves, budget and pause describe the rollout as a whole, and Ansible cuts the waves once."""
    problems = []
    for name in FLEET_WIDE:
        seen: dict[str, list[str]] = {}
        for host, values in values_of.items():
            if name in values:
                seen.setdefault(repr(values[name]), []).append(host)
        if len(seen) > 1:
            shown = "; ".join(
                "%s on %s" % (value, ", ".join(hosts[:3]) + (" ..." if len(hosts) > 3 else ""))
                for value, hosts in seen.items()
            )
            problems.append(
                "%s differs between databases (%s): it describes the whole rollout - set it once, in extra vars, "
                "group_vars/all or the fleet file's top-level vars, not in a server's vars" % (name, shown)
            )
    return problems


def versions_of(run: dict | None) -> tuple[str | None, str | None]:
    """(version before, version after) of a run's plan."""
    before = plan_of(run).from_version
    applied = [item.get("version") for item in (run or {}).get("applied") or [] if isinstance(item, dict)]
    return before, (applied[-1] if applied else before)


def halt_reason_of(preflight: dict, variables_of: dict) -> str:
    """Why no further wave may start, from the preflight's verdict and each database's host variables
    (VARIABLES_OF: host -> its variables; only migrate runs count). Without a preflight result nothing may
    start (fail closed)."""
    if not preflight or "problems" not in preflight:
        return "the fleet preflight has no result (it did not run, or failed): nothing may be changed"
    if preflight.get("problems"):
        return "the fleet preflight found %d problem(s)" % len(preflight["problems"])
    runs = {}
    for host, variables in variables_of.items():
        run = run_of(variables)
        if attempted(run):
            runs[host] = run
    return halt_reason(
        runs,
        int(preflight.get("allowed", 0)),
        list(preflight.get("canaries") or []),
        bool(preflight.get("canary_stops", True)),
    )
