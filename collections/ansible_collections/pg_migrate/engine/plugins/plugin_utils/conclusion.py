# pg_migrate: the controller's end of a run, whichever path ran it — reports written, summary lines, the
# verdict. Used by the pg_migrate_run action plugin (both phases); the rules are in module_utils/report/run_report.py.

from __future__ import annotations

import json

from ansible_collections.pg_migrate.engine.plugins.module_utils.report.junit import run_junit
from ansible_collections.pg_migrate.engine.plugins.module_utils.report.report_files import write_report_files
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
from ansible_collections.pg_migrate.engine.plugins.module_utils.settings.declared import RunSettings

# The role's action, as reports and messages name it, for the module's action.
KIND = {"plan": "status"}


class ReportNotWritten(Exception):
    """The reports directory refused a file (checked before the run; this is a disk that filled up since)."""


def write(directory: str, name: str, report: dict, junit: str) -> list[str]:
    try:
        return write_report_files(directory, name, report_text(report), junit)
    except OSError as exc:
        raise ReportNotWritten(
            "cannot write the %s reports to %s: %s (pg_migrate_reports_dir names where they go)"
            % (name, directory, exc.strerror or exc)
        ) from None


# Python's JSON encoder is its fast C one only without indentation: a report laid out to the last level went the
# slow way (a verification's catalog checks made that the largest part of what a fleet database cost here).
ENCODE = json.JSONEncoder(sort_keys=True, separators=(", ", ": "), default=str).encode


def report_text(report: dict) -> str:
    """REPORT as JSON, keys sorted: a line per field, and per field of a field that is an object; deeper values
    on their field's line."""

    def field(key: str, value, indent: str) -> str:
        if indent == "    " and isinstance(value, dict) and value:
            inner = ",\n".join(field(k, v, indent * 2) for k, v in sorted(value.items()))
            return "%s%s: {\n%s\n%s}" % (indent, ENCODE(str(key)), inner, indent)
        return "%s%s: %s" % (indent, ENCODE(str(key)), ENCODE(value))

    if not report:
        return "{}\n"
    return "{\n%s\n}\n" % ",\n".join(field(key, value, "    ") for key, value in sorted(report.items()))


def with_unwritten(concluded: dict, unwritten: list[str], host: str) -> dict:
    """CONCLUDED failed with the reason when a report could not be written (its own failure comes first)."""
    if unwritten:
        concluded["report_error"] = unwritten[0]
        reason = "%s: the run finished but %s" % (host, unwritten[0])
        concluded["msg"] = "%s; %s" % (concluded["msg"], reason) if concluded.get("msg") else reason
    return concluded


class ReportWriter:
    """Writes a run's reports into DIRECTORY. The run has happened (a migrate may have committed): a report that
    cannot be written fails the run with the reason (in UNWRITTEN), but the result still says what the run did (a
    fleet counts it, with its versions)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.unwritten: list[str] = []

    def write(self, name: str, report: dict, junit: str) -> list[str]:
        """The files written for REPORT (none when the directory refused them)."""
        try:
            return write(self.directory, name, report, junit)
        except ReportNotWritten as exc:
            self.unwritten.append(str(exc))
            return []


# The engine's result keys that the action returns as they are.
PASSED_ON = ("plan", "applied", "reverted", "repeatables_applied", "rehearsal", "failure", "server", "diff", "backfill")
PASSED_ON += ("standby_lag",)  # what the standby gate saw: the fleet report records it per database
PASSED_ON += ("started_at", "finished_at")  # when the run ran: the fleet page's timeline


def conclude(result: dict, settings: RunSettings, host: str, check: bool, squawk_results: list[dict] | None) -> dict:
    """What the action returns for RESULT (the engine's): summary lines, report files, changed, and msg when
    the run or its verification failed."""
    if result.get("skipped"):
        return {"changed": False, "summary": [result["skip_reason"]], "skipped_standby": True}
    action = result.get("action", "migrate")
    kind = KIND.get(action, action)
    concluded = {"changed": bool(result.get("changed")), "summary": [], "files": [], "action": kind}
    concluded.update((key, result[key]) for key in PASSED_ON if key in result)
    reports = ReportWriter("%s/%s" % (settings.reports_dir, host))
    if kind != "verify":
        add_run_report(concluded, reports, result, host, check, squawk_results or [])
    if result.get("msg"):
        concluded["msg"] = "%s: %s" % (host, result["msg"])
    else:
        add_health(concluded, result.get("health"), host)
        add_verification(concluded, reports, result, settings, host)
    return with_unwritten(concluded, reports.unwritten, host)


def add_run_report(
    concluded: dict, reports: ReportWriter, result: dict, host: str, check: bool, squawk_results: list[dict]
) -> None:
    """The run's report files and summary lines (a status leaves squawk's findings out of its lines)."""
    kind = concluded["action"]
    report = run_report(kind, host, result, check, squawk_results)
    concluded["files"] += reports.write(kind, report, run_junit(report))
    # The backfill action says itself what its batches did.
    concluded["summary"] += result.get("summary") or run_lines(
        result, host, check, None if kind == "status" else squawk_results
    )
    concluded["summary"] += ["  report: %s" % path for path in concluded["files"]]


def add_health(concluded: dict, health: dict | None, host: str) -> None:
    """The health gate's line; msg when it failed."""
    if not health:
        return
    concluded["health"] = health
    concluded["summary"].append("  %s" % health["message"])
    if not health["passed"]:
        concluded["health_failed"] = True
        concluded["msg"] = "%s: %s (pg_migrate_fleet_health_query)" % (host, health["message"])


def add_verification(concluded: dict, reports: ReportWriter, result: dict, settings: RunSettings, host: str) -> None:
    """The verification's report files, summary and, when it failed or could not run, msg."""
    found = result.get("verification")
    if found is None:
        return
    if found.get("error"):
        concluded["msg"] = "%s: verification could not run: %s" % (host, found["error"])
        return
    compare = bool(settings.expected_schema)
    checks = verification_checks(found, compare, settings.history_table)
    parts_skipped = skipped_parts(compare, bool(settings.probes))
    report = verify_report(host, result.get("database"), found["version"], checks, parts_skipped)
    files = reports.write("verify", report, verify_junit(report))
    concluded["files"] += files
    concluded["verification"] = report["summary"]
    concluded["summary"] += verify_lines(report, files)
    failure = verify_failure(report)
    if failure:
        concluded["msg"] = failure
