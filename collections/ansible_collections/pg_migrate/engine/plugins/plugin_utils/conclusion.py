# pg_migrate: the controller's end of a run, whichever path ran it — reports written, summary lines, the
# verdict. Used by the pg_migrate_run action plugin (both phases); the rules are in module_utils/report/run_report.py.

from __future__ import annotations

import json

from ansible_collections.pg_migrate.engine.plugins.module_utils.report.formats import run_junit, write_report_files
from ansible_collections.pg_migrate.engine.plugins.module_utils.report.run_report import (
    run_lines,
    run_report,
    skipped_parts,
    verification_checks,
    verify_failure,
    verify_junit,
    verify_lines,
    verify_report,
)

# The role's action, as reports and messages name it, for the module's action.
KIND = {"plan": "status"}


class ReportNotWritten(Exception):
    """The reports directory refused a file (checked before the run; this is a disk that filled up since)."""


def write(directory: str, name: str, report: dict, junit: str) -> list[str]:
    try:
        # As to_nice_json lays it out, without Ansible's encoder hooks (~2x the CPU for the same bytes).
        text = json.dumps(report, indent=4, sort_keys=True, separators=(",", ": "), default=str)
        return write_report_files(directory, name, text + "\n", junit)
    except OSError as exc:
        raise ReportNotWritten(
            "cannot write the %s reports to %s: %s (pg_migrate_reports_dir names where they go)"
            % (name, directory, exc.strerror or exc)
        ) from None


def with_unwritten(concluded: dict, unwritten: list[str], host: str) -> dict:
    """CONCLUDED failed with the reason when a report could not be written (its own failure comes first)."""
    if unwritten:
        concluded["report_error"] = unwritten[0]
        reason = "%s: the run finished but %s" % (host, unwritten[0])
        concluded["msg"] = "%s; %s" % (concluded["msg"], reason) if concluded.get("msg") else reason
    return concluded


def conclude(result: dict, settings: dict, host: str, check: bool, squawk_results: list[dict] | None) -> dict:
    """What the action returns for RESULT (the engine's): summary lines, report files, changed, and msg when
    the run or its verification failed."""
    if result.get("skipped"):
        return {"changed": False, "summary": [result["skip_reason"]], "skipped_standby": True}
    action = result.get("action", "migrate")
    kind = KIND.get(action, action)
    directory = "%s/%s" % (settings["reports_dir"], host)
    concluded = {"changed": bool(result.get("changed")), "summary": [], "files": [], "action": kind}
    for key in (
        "plan",
        "applied",
        "reverted",
        "repeatables_applied",
        "rehearsal",
        "failure",
        "server",
        "diff",
        "backfill",
    ):
        if key in result:
            concluded[key] = result[key]

    unwritten: list[str] = []

    def write_or_note(name: str, report: dict, junit: str) -> list[str]:
        # The run has happened (a migrate may have committed): a report that cannot be written fails the run
        # with the reason, but the result still says what the run did (a fleet counts it, with its versions).
        try:
            return write(directory, name, report, junit)
        except ReportNotWritten as exc:
            unwritten.append(str(exc))
            return []

    if kind != "verify":
        report = run_report(kind, host, result, check, squawk_results or [])
        concluded["files"] += write_or_note(kind, report, run_junit(report))
        # The backfill action says itself what its batches did.
        concluded["summary"] += result.get("summary") or run_lines(
            result, host, check, None if kind == "status" else squawk_results or []
        )
        concluded["summary"] += ["  report: %s" % path for path in concluded["files"]]
    if result.get("msg"):
        concluded["msg"] = "%s: %s" % (host, result["msg"])
        return with_unwritten(concluded, unwritten, host)
    health = result.get("health")
    if health:
        concluded["health"] = health
        concluded["summary"].append("  %s" % health["message"])
        if not health["passed"]:
            concluded["health_failed"] = True
            concluded["msg"] = "%s: %s (pg_migrate_fleet_health_query)" % (host, health["message"])

    found = result.get("verification")
    if found is None:
        return with_unwritten(concluded, unwritten, host)
    if found.get("error"):
        concluded["msg"] = "%s: verification could not run: %s" % (host, found["error"])
        return with_unwritten(concluded, unwritten, host)
    compare = bool(settings.get("expected_schema"))
    checks = verification_checks(found, compare, settings["history_table"])
    report = verify_report(
        host,
        result.get("database"),
        found["version"],
        checks,
        skipped_parts(compare, bool(settings.get("probes"))),
    )
    files = write_or_note("verify", report, verify_junit(report))
    concluded["files"] += files
    concluded["verification"] = report["summary"]
    concluded["summary"] += verify_lines(report, files)
    failure = verify_failure(report)
    if failure:
        concluded["msg"] = failure
    return with_unwritten(concluded, unwritten, host)
