# pg_migrate: the fleet report - what happened to every database of a rollout, built from the runs' results
# (module_utils/fleet/rules.py decides the states), as fleet.json (schema_version 1, docs/fleet-report.md), a JUnit
# file (one case per database), the terminal table and the resume file; fleet/page.py renders the HTML page.

from __future__ import annotations

import datetime
import re
from xml.sax.saxutils import escape, quoteattr

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import clip, one_line
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.rules import (
    APPLIED,
    CURRENT,
    FAILED,
    NOT_ATTEMPTED,
    PENDING,
    SKIPPED,
    STATES,
    WOULD_APPLY,
    attempted,
    failure_detail,
    plan_of,
    run_of,
    state_of,
    versions_of,
)

SCHEMA_VERSION = 1
STILL_TO_DO = (FAILED, NOT_ATTEMPTED, PENDING, WOULD_APPLY)
IN_PROGRESS = "in progress"
# A line of the terminal table: database, wave, state, versions, detail.
TABLE_LINE = "  %-34s %-5s %-22s %-9s %s"
# Characters XML 1.0 cannot carry at all (a server message may hold them): replaced, so the file stays valid.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def xml_text(text: str) -> str:
    return NOT_XML.sub("\ufffd", str(text))


def database_entry(host: str, variables: dict, wave: int, preflight: dict, check: bool = False) -> dict:
    """One database's line of the report, from its host variables (the registered run, whichever path ran it)
    and the preflight (PREFLIGHT: this database's version and standby flag as the preflight read them)."""
    run = run_of(variables) or {}
    tried = attempted(run)
    state = state_of(run, tried, check)
    before, after = versions_of(run) if tried else (preflight.get("version"), preflight.get("version"))
    if state == FAILED and not before:
        before = after = preflight.get("version")
    if state == NOT_ATTEMPTED and preflight.get("skipped_standby"):
        state = SKIPPED
    plan = plan_of(run)
    if state == WOULD_APPLY:
        after = plan.to_version or after
    entry = {
        "host": host,
        "server": variables.get("pg_migrate_fleet_server") or "",
        "database": variables.get("pg_migrate_db") or "",
        "wave": wave,
        "state": state,
        "version_before": before,
        "version_after": after,
        "duration_ms": run.get("duration_ms") if tried else None,
        # When its run ran (the engine's clock; None from a run that did not record it): the page's timeline.
        "started_at": run.get("started_at") if tried else None,
        "finished_at": run.get("finished_at") if tried else None,
        "failure": failure_detail(run) if state == FAILED else None,
        "health": run.get("health") if tried else None,
        "standby_lag": run.get("standby_lag") if tried else None,
        "skip_reason": (run.get("summary") or [""])[0] if state == SKIPPED and tried else None,
    }
    if state == SKIPPED and not entry["skip_reason"]:
        entry["skip_reason"] = "a hot standby (pg_migrate_on_standby: skip)"
    if tried or state == WOULD_APPLY:
        entry["pending_versions"] = list(plan.pending_versions) if check else []
    return entry


def pending_entry(host: str, variables: dict, wave: int, preflight: dict) -> dict:
    """A database of an in-progress report: not finished (yet), at the version the preflight read."""
    # Only the names it needs: copying a host's variables would render every one of them.
    names = {name: variables.get(name) for name in ("pg_migrate_fleet_server", "pg_migrate_db")}
    entry = database_entry(host, names, wave, preflight)
    if entry["state"] == NOT_ATTEMPTED:
        # Not finished: where it stands is not known until its run says (an interrupted run may have
        # committed some of its migrations, each atomically).
        entry.update(state=PENDING, version_after=None)
    entry["pending_versions"] = list(preflight.get("pending") or [])
    return entry


def verdict_of(counts: dict, halt: str, problems: list[str], check: bool, finished: bool = True) -> str:
    """complete, halted, failed or blocked; "in progress" while the rollout runs (and after an interruption);
    in check mode "would complete", "would halt", "would fail" (or "blocked")."""
    if problems:
        return "blocked"
    if not finished:
        return IN_PROGRESS
    if halt:
        verdict = "halted"
    elif counts[FAILED]:
        verdict = "failed"
    else:
        verdict = "complete"
    return ("would " + {"halted": "halt", "failed": "fail", "complete": "complete"}[verdict]) if check else verdict


def counts_of(databases: list[dict]) -> dict:
    """How many databases are in each state."""
    return {state: sum(1 for entry in databases if entry["state"] == state) for state in STATES}


def still_to_do_of(databases: list[dict]) -> list[str]:
    """The hosts of the resume list: failed, not attempted, not finished (in rollout order)."""
    return [entry["host"] for entry in databases if entry["state"] in STILL_TO_DO]


def build_report(
    databases: list[dict],
    waves: list[list[str]],
    halt: str,
    problems: list[str],
    budget: dict,
    check: bool,
    run: dict | None = None,
    finished: bool = True,
) -> dict:
    """The fleet report. RUN: the rollout's run_id and started_at (and finished_at once it finished)."""
    counts = counts_of(databases)
    verdict = verdict_of(counts, halt, problems, check, finished)
    by_host = {entry["host"]: entry for entry in databases}
    wave_lines = []
    for number, hosts in enumerate(waves, start=1):
        states = [by_host[host]["state"] for host in hosts if host in by_host]
        done = sum(1 for state in states if state in (APPLIED, CURRENT, SKIPPED, WOULD_APPLY))
        wave_lines.append(
            {
                "wave": number,
                "canary": number == 1,
                "databases": len(hosts),
                "done": done,
                "failed": states.count(FAILED),
                "not_attempted": states.count(NOT_ATTEMPTED),
                "status": "not started"
                if states and all(state in (NOT_ATTEMPTED, PENDING) for state in states)
                else ("complete" if done == len(states) else "stopped"),
            }
        )
    run = run or {}
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "fleet",
        "generated_at": now(),
        "run_id": run.get("run_id"),
        "started_at": run.get("started_at"),
        "finished_at": now() if finished else None,
        "check_mode": check,
        "verdict": verdict,
        "halt_reason": halt or None,
        "preflight_problems": problems,
        "budget": budget,
        "counts": counts,
        "waves": wave_lines,
        "databases": databases,
        "still_to_do": still_to_do_of(databases),
    }


def summary_lines(report: dict, files: list[str], resume: str | None = None) -> list[str]:
    """The terminal table: verdict, budget, waves, a line per database, the files (FILES; RESUME: the resume
    list, None in check mode)."""
    lines = head_lines(report)
    lines += [wave_line(wave, len(report["waves"])) for wave in report["waves"]]
    lines.append(TABLE_LINE % ("database", "wave", "state", "versions", "detail"))
    lines += [database_line(entry) for entry in report["databases"]]
    if report["still_to_do"] and resume:
        lines.append("  resume with: --limit @%s" % resume)
    lines += ["  report: %s" % path for path in files]
    return lines


def head_lines(report: dict) -> list[str]:
    """The table's head: the verdict with the counts, the failure budget, why it halted, the preflight's problems."""
    counts = report["counts"]
    lines = [
        "fleet%s: %s - %d databases: %s"
        % (
            " (check mode: nothing was changed)" if report["check_mode"] else "",
            report["verdict"],
            len(report["databases"]),
            ", ".join("%d %s" % (counts[state], state) for state in STATES if counts[state]),
        ),
        "  failure budget: %(failed)d failed of %(allowed)d allowed (pg_migrate_fleet_max_failures=%(setting)s)"
        % report["budget"],
    ]
    if report["halt_reason"]:
        unstarted = [wave for wave in report["waves"] if wave["status"] == "not started"]
        lines.append(
            "  halted: %s; %s"
            % (
                report["halt_reason"],
                "%d later wave(s) were not started" % len(unstarted) if unstarted else "it was the last wave",
            )
        )
    return lines + ["  preflight: %s" % problem for problem in report["preflight_problems"]]


def wave_line(wave: dict, waves: int) -> str:
    """A wave's line of the table (WAVES: how many waves the rollout has)."""
    return "  wave %d/%d%s: %d/%d done, %d failed, %s" % (
        wave["wave"],
        waves,
        " (canary)" if wave["canary"] else "",
        wave["done"],
        wave["databases"],
        wave["failed"],
        wave["status"],
    )


def database_line(entry: dict) -> str:
    """A database's line of the table: its wave, state, versions and what failed or would apply."""
    detail = ""
    if entry["failure"]:
        failure = entry["failure"]
        detail = "%s SQLSTATE %s" % (failure["script"] or "", failure["sqlstate"] or "-")
        if not failure["script"]:
            detail = clip(failure["message"], 100)
    elif entry.get("pending_versions") and entry["state"] == WOULD_APPLY:
        detail = "pending %s" % " ".join(entry["pending_versions"])
    versions = "%s->%s" % (entry["version_before"] or "?", entry["version_after"] or "?")
    return TABLE_LINE % (entry["host"], entry["wave"], entry["state"], versions, detail)


def progress_line(host: str, run: dict, wave: int, waves: int, done: int, total: int, failed: int) -> str:
    """A database's line on the terminal as its migrate finishes in wave WAVE of WAVES, with the running totals
    (DONE of TOTAL databases, FAILED of them) that include it."""
    applied = [item.get("version") for item in run.get("applied") or [] if isinstance(item, dict)]
    from_version = plan_of(run).from_version
    if run.get("msg"):
        what = "FAILED: %s" % one_line(run["msg"], 200)
    elif applied:
        what = "applied %s -> %s" % (from_version, applied[-1])
    else:
        what = "already current at %s" % from_version
    return "wave %d/%d - %s %s in %.0f ms (%d/%d done, %d failed)" % (
        wave,
        waves or wave,
        host,
        what,
        run.get("duration_ms") or 0,
        done,
        total or done,
        failed,
    )


def junit(report: dict) -> str:
    cases = []
    for entry in report["databases"]:
        name = quoteattr(xml_text(entry["host"]))
        seconds = (entry["duration_ms"] or 0) / 1000.0
        head = '  <testcase classname="pg_migrate.fleet.wave%s" name=%s time="%.3f">' % (entry["wave"], name, seconds)
        if entry["state"] == FAILED:
            failure = entry["failure"]
            body = "\n    <failure message=%s type=%s>%s</failure>\n  " % (
                quoteattr(xml_text(clip(failure["message"], 500))),
                quoteattr(xml_text(failure["sqlstate"] or "failed")),
                escape(xml_text(failure["message"])),
            )
        elif entry["state"] in (NOT_ATTEMPTED, SKIPPED, PENDING):
            body = "\n    <skipped message=%s/>\n  " % quoteattr(entry["state"])
        else:
            body = ""
        cases.append("%s%s</testcase>" % (head, body))
    counts = report["counts"]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<testsuite name="pg_migrate fleet" tests="%d" failures="%d" skipped="%d" timestamp="%s">\n%s\n</testsuite>\n'
        % (
            len(report["databases"]),
            counts[FAILED],
            counts[NOT_ATTEMPTED] + counts[SKIPPED] + counts[PENDING],
            report["generated_at"],
            "\n".join(cases),
        )
    )
