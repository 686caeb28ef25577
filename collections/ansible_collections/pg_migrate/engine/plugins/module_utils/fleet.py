# pg_migrate: the rules of a fleet rollout, as pure functions: the order of the databases (canaries first, each
# server's databases spread over the waves), the waves as Ansible's `serial` cuts them, the failure budget,
# each database's state from its run, and the verdict. The fleet action plugin, the fleet filter and the
# inventory plugin call these; tests/unit/test_fleet.py tests them.

from __future__ import annotations

import re

# A database's state in the fleet report.
APPLIED = "applied"
CURRENT = "already current"
FAILED = "failed"
SKIPPED = "skipped"
NOT_ATTEMPTED = "halted-not-attempted"
NOT_IN_RUN = "not in this run"
STATES = (APPLIED, CURRENT, FAILED, SKIPPED, NOT_ATTEMPTED, NOT_IN_RUN)


def spread(servers: dict[str, list[str]], canaries: list[str]) -> list[str]:
    """The hosts in rollout order: the canaries first, then one database of each server in turn, so that a
    server's databases are spread over the waves instead of filling one. SERVERS maps a server to its hosts,
    each list in the fleet file's order."""
    order = [host for host in canaries]
    queues = [[host for host in hosts if host not in canaries] for hosts in servers.values()]
    while any(queues):
        for queue in queues:
            if queue:
                order.append(queue.pop(0))
    return order


def _count(value, total: int) -> int:
    """A wave size or budget: an integer, or "N%" of TOTAL (as Ansible's serial: at least 1 for a wave)."""
    text = str(value).strip()
    if text.endswith("%"):
        return int(float(text[:-1]) / 100.0 * total)
    return int(text)


def parse_count(value, name: str) -> None:
    """Refuse a wave size or budget that is neither a non-negative integer nor a percentage, naming NAME."""
    text = str(value).strip()
    if not re.fullmatch(r"\d+(\.\d+)?%|\d+", text):
        raise ValueError('%s: %r is neither a count nor a percentage (e.g. 3 or "10%%")' % (name, value))


def waves(hosts: list[str], sizes: list) -> list[list[str]]:
    """HOSTS cut into waves as Ansible's serial does it: each size a count or a percentage of all hosts (at
    least 1), the last size repeated until every host has a wave."""
    if not sizes:
        return [list(hosts)] if hosts else []
    total, cut, position, index = len(hosts), [], 0, 0
    while position < len(hosts):
        size = max(1, _count(sizes[min(index, len(sizes) - 1)], total))
        cut.append(hosts[position : position + size])
        position += size
        index += 1
    return cut


def budget(value, fleet_size: int) -> int:
    """How many failed databases the rollout tolerates: a count, or a percentage of the fleet (rounded down)."""
    parse_count(value, "pg_migrate_fleet_max_failures")
    return _count(value, fleet_size)


def state_of(run: dict | None, attempted: bool) -> str:
    """A database's state from its registered pg_migrate_run result (None: no migrate ran for it)."""
    if not attempted or not run:
        return NOT_ATTEMPTED
    if run.get("skipped_standby"):
        return SKIPPED
    if run.get("msg"):
        return FAILED
    return APPLIED if run.get("applied") else CURRENT


def halt_reason(results: dict[str, dict], max_failures: int, canaries: list[str], canary_stops: bool) -> str:
    """Why no further wave may start ('' when the rollout goes on). RESULTS holds the migrate runs so far."""
    failed = sorted(host for host, run in results.items() if state_of(run, True) == FAILED)
    gates = sorted(host for host, run in results.items() if (run or {}).get("health_failed"))
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
        "message": run.get("msg", ""),
    }


def preflight_problems(statuses: dict[str, dict | None], on_standby: str) -> list[str]:
    """Every reason the fleet may not start, one line per database: no status (unreachable, refused), a hot
    standby (unless skipped by setting), drift, and a database whose pending migrations are not the tail of the
    fleet's longest pending list (the same change must apply everywhere; an already current database is fine)."""
    problems, pending = [], {}
    for host, status in sorted(statuses.items()):
        if not status:
            problems.append("%s: no status (the read-only check did not run)" % host)
        elif status.get("skipped_standby"):
            if on_standby != "skip":
                problems.append("%s: a hot standby: run against the primary" % host)
        elif status.get("msg"):
            problems.append("%s: %s" % (host, " ".join(str(status["msg"]).split())))
        elif (status.get("plan") or {}).get("drift"):
            drift = [
                item.get("script", str(item)) if isinstance(item, dict) else str(item)
                for item in status["plan"]["drift"]
            ]
            problems.append(
                "%s: drift in %s: run status.yml on it, then repair or restore the files" % (host, ", ".join(drift))
            )
        else:
            pending[host] = list((status.get("plan") or {}).get("pending_versions") or [])
    longest = max(pending.values(), key=len, default=[])
    for host, versions in sorted(pending.items()):
        if versions and versions != longest[len(longest) - len(versions) :]:
            problems.append(
                "%s: pending %s, not the fleet's change (%s): bring it to the fleet's version first"
                % (host, ", ".join(versions), ", ".join(longest))
            )
    return problems


def versions_of(run: dict | None) -> tuple[str | None, str | None]:
    """(version before, version after) of a run's plan."""
    plan = (run or {}).get("plan") or {}
    before = plan.get("from_version")
    applied = [item.get("version") for item in (run or {}).get("applied") or [] if isinstance(item, dict)]
    return before, (applied[-1] if applied else before)


def halt_reason_of(preflight: dict, variables_of: dict) -> str:
    """Why no further wave may start, from the preflight's verdict and each database's host variables
    (VARIABLES_OF: host -> its variables; only migrate runs count)."""
    if not preflight:
        return ""
    if preflight.get("problems"):
        return "the fleet preflight found %d problem(s)" % len(preflight["problems"])
    runs = {}
    for host, variables in variables_of.items():
        run = variables.get("__pg_migrate_run") if "__pg_migrate_run" in variables else None
        if run and run.get("action") == "migrate":
            runs[host] = run
    return halt_reason(
        runs,
        int(preflight.get("allowed", 0)),
        list(preflight.get("canaries") or []),
        bool(preflight.get("canary_stops", True)),
    )
