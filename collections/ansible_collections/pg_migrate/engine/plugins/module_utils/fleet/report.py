# pg_migrate: the fleet report - what happened to every database of a rollout, built from the runs' results
# (module_utils/fleet/rules.py decides the states), as fleet.json (schema_version 1, docs/fleet-report.md), a JUnit
# file (one case per database), a self-contained HTML page, the terminal table and the resume file.

from __future__ import annotations

import datetime
import html
import re
from xml.sax.saxutils import escape, quoteattr

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import clip
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


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em} table{border-collapse:collapse;margin:1em 0} td,th{border:1px solid #ccc;padding:.3em .6em}
th{background:#f3f3f3;text-align:left} .applied{background:#e6f4ea} .already-current{background:#eef3fb}
.failed{background:#fce8e6} .skipped{background:#fef7e0} .halted-not-attempted{background:#eee;color:#666}
.would-apply{background:#eef3fb} .pending{background:#eee}
.verdict{font-weight:bold}
"""


def html_detail(entry: dict) -> str:
    """The detail cell of a database: what failed, its health gate's message, why it was skipped."""
    failure = entry["failure"] or {}
    parts = (
        failure.get("script") or "",
        "SQLSTATE %s" % failure["sqlstate"] if failure.get("sqlstate") else "",
        failure.get("message", "") if not failure.get("script") else "",
        (entry["health"] or {}).get("message", ""),
        entry["skip_reason"] or "",
    )
    return " ".join(part for part in parts if part)


def html_row(entry: dict) -> str:
    """A database's row of the page's table."""
    return (
        '<tr class="%s" data-host="%s" data-state="%s"><td>%s</td><td>%s</td><td>%s</td><td>%s</td>'
        "<td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>"
        % (
            entry["state"].replace(" ", "-"),
            html.escape(entry["host"]),
            html.escape(entry["state"]),
            html.escape(entry["host"]),
            html.escape(entry["server"]),
            entry["wave"],
            html.escape(entry["state"]),
            html.escape(str(entry["version_before"] or "")),
            html.escape(str(entry["version_after"] or "")),
            "" if entry["duration_ms"] is None else "%.0f ms" % entry["duration_ms"],
            html.escape(html_detail(entry)),
        )
    )


def html_wave_row(wave: dict) -> str:
    return (
        "<tr><td>%(wave)d%(canary)s</td><td>%(databases)d</td><td>%(done)d</td><td>%(failed)d</td>"
        "<td>%(status)s</td></tr>" % dict(wave, canary=" (canary)" if wave["canary"] else "")
    )


def html_verdict(report: dict) -> str:
    """The verdict as the page says it: in check mode, or of a rollout that has not finished."""
    return (
        html.escape(report["verdict"])
        + (" (check mode: nothing was changed)" if report["check_mode"] else "")
        + (" - the rollout has not finished (or was interrupted)" if report["verdict"] == IN_PROGRESS else "")
    )


PAGE = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>pg_migrate fleet: %s</title>'
    "<style>%s</style></head><body>\n<h1>pg_migrate fleet rollout</h1>\n"
    '<p class="verdict" id="verdict">Verdict: %s</p>\n%s'
    "<p>Failure budget: %d failed of %d allowed. Generated %s.</p>\n<ul>%s</ul>\n%s"
    "<h2>Waves</h2><table><tr><th>wave</th><th>databases</th><th>done</th><th>failed</th><th>status</th></tr>"
    "%s</table>\n<h2>Databases</h2><table><tr><th>database</th><th>server</th><th>wave</th><th>state</th>"
    "<th>before</th><th>after</th><th>duration</th><th>detail</th></tr>\n%s\n</table></body></html>\n"
)


def html_page(report: dict) -> str:
    """A page with no network resources: inline style, no scripts."""
    counts = "".join(
        "<li>%s: %d</li>" % (html.escape(state), count) for state, count in report["counts"].items() if count
    )
    problems = "".join("<li>%s</li>" % html.escape(problem) for problem in report["preflight_problems"])
    return PAGE % (
        html.escape(report["verdict"]),
        STYLE,
        html_verdict(report),
        "<p>Halted: %s</p>\n" % html.escape(report["halt_reason"]) if report["halt_reason"] else "",
        report["budget"]["failed"],
        report["budget"]["allowed"],
        html.escape(report["generated_at"]),
        counts,
        "<h2>Preflight problems</h2><ul>%s</ul>" % problems if problems else "",
        "".join(html_wave_row(wave) for wave in report["waves"]),
        "\n".join(html_row(entry) for entry in report["databases"]),
    )
