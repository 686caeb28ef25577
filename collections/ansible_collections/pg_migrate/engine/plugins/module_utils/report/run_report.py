# pg_migrate: what the controller makes of one run's result, whichever path ran it — the run and verify
# reports (JSON, schema_version 1, and JUnit), the summary lines an operator reads, the failure message.
# Pure functions of the result: the same files and lines from the controller path and the managed-host path.

from __future__ import annotations

import time

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.lint import squawk_findings
from ansible_collections.pg_migrate.engine.plugins.module_utils.report.junit import junit_xml
from ansible_collections.pg_migrate.engine.plugins.module_utils.report.summary_lines import summary
from ansible_collections.pg_migrate.engine.plugins.module_utils.verify.catalog import (
    probe_checks,
    verification_summary,
    verify_catalog,
)

NO_EXPECTED_SCHEMA = "schema comparison skipped: pg_migrate_expected_schema is not set"
NO_PROBES = "probes skipped: pg_migrate_probes is not set"


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def run_report(kind: str, host: str, result: dict, check_mode: bool, squawk_results: list[dict]) -> dict:
    """The run report of docs/reports.md (migrate, rollback, status, seed, backfill)."""
    findings, problems = squawk_findings(squawk_results)
    report = {
        "schema_version": 1,
        "kind": kind,
        "host": host,
        "database": result.get("database"),
        "check_mode": bool(check_mode),
        "generated_at": utc_now(),
        "plan": result.get("plan") or {},
        "applied": result.get("applied") or [],
        "reverted": result.get("reverted") or [],
        "repeatables_applied": result.get("repeatables_applied") or [],
        "rehearsal": result.get("rehearsal"),
        "squawk": {"findings": findings, "problems": problems},
        "error": result.get("msg"),
        "failure": result.get("failure"),
    }
    if kind in ("seed", "backfill"):
        report["backfill"] = result.get("backfill")
    adopted_from = (result.get("plan") or {}).get("adopted_from")
    if adopted_from is not None:  # pg_migrate_adopt: the tool whose history the baseline came from
        report["adopted_from"] = adopted_from
    if result.get("standby_lag") is not None:
        report["standby_lag"] = result["standby_lag"]
    return report


def verification_checks(found: dict, compare_catalog: bool, history_table: str) -> list[dict]:
    """The checks of a verification's findings (engine.verification): catalog comparison, then probes."""
    checks = []
    if compare_catalog:
        checks = verify_catalog(found["expected_active"], found["catalog"], [history_table])
    return checks + probe_checks(found["probe_results"])


def skipped_parts(expected_schema: bool, probes: bool) -> list[str]:
    """What a verification leaves out because the project does not give it."""
    return ([] if expected_schema else [NO_EXPECTED_SCHEMA]) + ([] if probes else [NO_PROBES])


def verify_report(host: str, database: str, version: str, checks: list[dict], skipped: list[str]) -> dict:
    """The verification report of docs/reports.md."""
    return {
        "schema_version": 1,
        "kind": "verify",
        "host": host,
        "database": database,
        "version": version,
        "generated_at": utc_now(),
        "summary": {
            "passed": sum(1 for c in checks if c["status"] == "pass"),
            "failed": sum(1 for c in checks if c["status"] == "fail"),
            "warnings": sum(1 for c in checks if c["status"] == "warn"),
        },
        "checks": checks,
        "skipped": skipped,
    }


def verify_junit(report: dict) -> str:
    return junit_xml(report["checks"], report["host"], report["database"], report["version"])


def verify_lines(report: dict, files: list[str]) -> list[str]:
    """The verification summary, with what was skipped under its first line."""
    lines = verification_summary(report["checks"], report["host"], report["database"], report["version"], files)
    return lines[:1] + ["  " + part for part in report["skipped"]] + lines[1:]


def verify_failure(report: dict) -> str | None:
    failed = [c["message"] for c in report["checks"] if c["status"] == "fail"]
    if not failed:
        return None
    return "%s: verification of %s at version %s failed: %s" % (
        report["host"],
        report["database"],
        report["version"],
        "; ".join(failed),
    )


def run_lines(result: dict, host: str, check_mode: bool, squawk_results: list[dict] | None) -> list[str]:
    """The run's summary (a status is always a read)."""
    return summary(result, host, check_mode or result.get("action") == "plan", squawk_results)
