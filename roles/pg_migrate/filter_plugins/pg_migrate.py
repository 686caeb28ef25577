"""Filters of the pg_migrate role: turn the module's result into what an operator reads."""

from __future__ import annotations

import json
import os
import re
from xml.etree import ElementTree as ET

MAX_FINDINGS_SHOWN = 20


def lint_groups(plan: dict, migrations_dir: str, seeds_dir: str = "") -> list[dict]:
    """The pending scripts as squawk must see them: transactional ones and the rest, controller paths."""
    pending = list(plan.get("pending", []))
    in_tx = [os.path.join(migrations_dir, m["script"]) for m in pending if m.get("transactional", True)]
    no_tx = [os.path.join(migrations_dir, m["script"]) for m in pending if not m.get("transactional", True)]
    for repeatable in plan.get("repeatables", []):
        target = in_tx if repeatable.get("transactional", True) else no_tx
        target.append(os.path.join(seeds_dir, repeatable["script"]))
    groups = []
    if in_tx:
        groups.append({"in_transaction": True, "files": in_tx})
    if no_tx:
        groups.append({"in_transaction": False, "files": no_tx})
    return groups


def squawk_findings(results: list[dict]) -> tuple[list[dict], list[str]]:
    """(findings, problems running squawk) from the registered loop results of the lint task."""
    findings: list[dict] = []
    problems: list[str] = []
    for result in results:
        if result.get("skipped"):
            continue
        rc = result.get("rc")
        if rc not in (0, 1):
            detail = (result.get("stderr") or result.get("msg") or "").strip().splitlines()
            problems.append(
                "squawk could not run (%s); install it on the controller (pip install squawk-cli) "
                "or set pg_migrate_lint=false" % (detail[0] if detail else "rc %s" % rc)
            )
            continue
        try:
            parsed = json.loads(result.get("stdout") or "[]")
        except ValueError:
            problems.append("squawk printed no JSON: %s" % (result.get("stdout") or "")[:200])
            continue
        for item in parsed:
            findings.append(
                {
                    "file": os.path.basename(item.get("file", "")),
                    "line": int(item.get("line", 0)) + 1,  # squawk counts lines from 0
                    "rule": item.get("rule_name", ""),
                    "message": item.get("message", ""),
                }
            )
    return findings, problems


def _versions(items: list[dict]) -> str:
    return " ".join(item["version"] for item in items) or "none"


def summary(result: dict, host: str, check_mode: bool = False, squawk_results: list | None = None) -> list[str]:
    """A few lines per host: versions, what ran or would run, drift, problems, lint findings."""
    plan = result.get("plan") or {}
    action = result.get("action", "migrate")
    database = result.get("database", "?")
    lines = []
    if action == "rollback":
        head = "%s %s: rollback %s -> %s" % (host, database, plan.get("from_version", "?"), plan.get("to_version", "?"))
        if check_mode:
            head += " (check mode: would revert %s)" % (" ".join(plan.get("revert_versions", [])) or "nothing")
        lines.append(head)
        for item in result.get("reverted", []):
            lines.append("  reverted %s in %.0f ms" % (item["script"], item["duration_ms"]))
    else:
        pending = plan.get("pending", [])
        head = "%s %s: %s -> %s" % (host, database, plan.get("from_version", "?"), plan.get("to_version", "?"))
        if action == "plan":
            head += " (status: %d pending)" % len(pending)
        elif check_mode:
            head += " (check mode: would apply %d)" % len(pending)
        lines.append(head)
        if plan and (check_mode or action == "plan"):
            lines.append("  applied: %s" % (" ".join(plan.get("applied", [])) or "none"))
            lines.append("  pending: %s" % _versions(pending))
        elif plan:
            done = {item["version"] for item in result.get("applied", [])}
            left = [item for item in pending if item["version"] not in done]
            if action == "seed" and not plan.get("repeatables") and not result.get("msg"):
                lines.append(
                    "  seed: nothing new (unchanged since it was applied; -e pg_migrate_seed_force=true re-applies it)"
                )
            elif not pending and not plan.get("repeatables"):
                lines.append("  nothing pending: already at %s" % plan.get("from_version", "?"))
            if left:
                lines.append("  not applied: %s" % _versions(left))
        if plan.get("baseline"):
            lines.append(
                "  baseline: %s %s" % ("would adopt" if check_mode else "adopted", _versions(plan["baseline"]))
            )
        for item in plan.get("drift", []):
            lines.append(
                "  drift: %s (applied sha256 %s, file %s)%s"
                % (
                    item["script"],
                    item["recorded_checksum"][:12],
                    item["file_checksum"][:12],
                    " - repaired" if result.get("repaired") else "",
                )
            )
        for item in plan.get("missing", []):
            lines.append("  missing: %s (%s)" % (item["version"], item["script"]))
        for item in plan.get("repeatables", []):
            lines.append("  repeatable %s: %s" % (item["reason"], item["script"]))
        for script in plan.get("repeatables_deferred", []):
            lines.append("  deferred %s: it runs once the database is at the change set's latest version" % script)
        for item in result.get("applied", []):
            retried = " after %d attempts" % item["attempts"] if item.get("attempts", 1) > 1 else ""
            lines.append("  applied %s in %.0f ms%s" % (item["script"], item["duration_ms"], retried))
        for item in result.get("repeatables_applied", []):
            verb = "seeded" if action == "seed" else "applied"
            lines.append("  %s %s in %.0f ms" % (verb, item["script"], item["duration_ms"]))
    # A rollback rehearses its reverts before the first real one; a migrate only with pg_migrate_rehearse.
    rehearsal = result.get("rehearsal")
    if rehearsal:
        for item in rehearsal.get("rehearsed", []):
            lines.append("  rehearsed %s in %.0f ms (rolled back)" % (item["script"], item["duration_ms"]))
        for item in rehearsal.get("not_rehearsed", []):
            lines.append("  not rehearsed %s: %s" % (item["script"], item["reason"]))
    if result.get("lock_waited_s"):
        lines.append("  waited %.0f s for the lock of another pg_migrate run" % result["lock_waited_s"])
    for item in plan.get("failed_attempts", []):
        lines.append(
            "  failed attempt: %s (%s, at %s by %s): a script outside a transaction stopped part-way; fix the cause "
            "and run again" % (item["version"], item["script"], item.get("at"), item.get("by"))
        )
    for index in plan.get("invalid_indexes", []):
        lines.append(
            "  INVALID index: %s (an interrupted CREATE INDEX CONCURRENTLY; DROP INDEX CONCURRENTLY it, or re-run a "
            "script that drops it first)" % index
        )
    for problem in plan.get("problems", []):
        lines.append("  problem: %s" % problem)
    if squawk_results is not None and check_mode:
        findings, problems = squawk_findings(squawk_results)
        ran = [r for r in squawk_results if not r.get("skipped")]
        if ran or problems:
            lines.append("  squawk: %d finding(s)" % len(findings))
        for finding in findings[:MAX_FINDINGS_SHOWN]:
            lines.append("    %s:%d %s: %s" % (finding["file"], finding["line"], finding["rule"], finding["message"]))
        if len(findings) > MAX_FINDINGS_SHOWN:
            lines.append("    ... and %d more" % (len(findings) - MAX_FINDINGS_SHOWN))
        for problem in problems:
            lines.append("  squawk: %s" % problem)
    if result.get("msg"):
        lines.append("  FAILED (details below)")
    return lines


def lost_job_state(status: dict, action: str = "migrate") -> str:
    """What a job that died left behind, from a status read taken after it (the registered plan result)."""
    if status.get("skipped"):
        return ""
    if status.get("msg") or not status.get("plan"):
        return "Where the database stands could not be read (%s): run playbooks/status.yml once the server answers." % (
            status.get("msg") or "no answer"
        )
    plan = status["plan"]
    text = "The database is now at version %s" % plan.get("from_version", "?")
    if plan.get("pending_versions"):
        text += ", with %s pending" % " ".join(plan["pending_versions"])
    text += (
        ". Each %s is one transaction with its history row: the one that was interrupted was rolled back when its "
        "session ended (a session of a host that went down can linger until the server notices; until then it "
        "holds the lock)." % ("revert" if action == "rollback" else "migration")
    )
    for item in plan.get("failed_attempts", []):
        text += " A failed attempt of %s is recorded: a script outside a transaction stopped part-way." % item["script"]
    for index in plan.get("invalid_indexes", []):
        text += " The INVALID index %s was left behind: DROP INDEX CONCURRENTLY %s;" % (index, index)
    return text + " Run playbooks/status.yml to check, then run the playbook again."


CONSTRAINT_KINDS = {
    "p": "primary key",
    "f": "foreign key",
    "u": "unique constraint",
    "c": "check constraint",
    "x": "exclusion constraint",
}
COLUMN_PROPERTIES = ("type", "nullable", "default", "identity")


def _label(kind: str, item: dict) -> str:
    if kind == "constraints":
        return CONSTRAINT_KINDS.get(item.get("kind"), "constraint")
    return {
        "extensions": "extension",
        "tables": "table",
        "columns": "column",
        "indexes": "index",
        "triggers": "trigger",
    }[kind]


def _where(kind: str, item: dict) -> str:
    """How a message names the object: 'exclusion constraint x on t', 'extension btree_gist'."""
    text = "%s %s" % (_label(kind, item), item["name"])
    return text + (" on %s" % item["table"] if item.get("table") else "")


# A check's "kind" in the verification report (docs/schemas/verify-report.schema.json lists them):
# singular nouns, spelled out because "indexes" does not lose its plural by dropping an "s".
CHECK_KINDS = {
    "extensions": "extension",
    "tables": "table",
    "columns": "column",
    "constraints": "constraint",
    "indexes": "index",
    "triggers": "trigger",
    "comment": "comment",
}


def _check(check_id: str, kind: str, item: dict, status: str, message: str, expected=None, found=None) -> dict:
    return {
        "id": check_id,
        "kind": CHECK_KINDS[kind],
        "object": item["name"],
        "table": item.get("table"),
        "status": status,
        "message": message,
        "expected": expected,
        "found": found,
    }


def _describe(kind: str, item: dict) -> str:
    if kind == "columns":
        return ", ".join("%s=%s" % (name, item.get(name)) for name in COLUMN_PROPERTIES)
    if kind in ("constraints", "indexes", "triggers"):
        text = item.get("definition", "")
        if kind == "constraints" and not item.get("validated", True):
            text += " (not validated)"
        if kind == "indexes" and not item.get("valid", True):
            text += " (INVALID)"
        return text
    return item["name"]


def verify_catalog(expected: dict, catalog: dict, ignore_tables: list | None = None) -> list[dict]:
    """Compare the expectations in force with the live catalog: one check per expected object (and
    per expected comment), failing with a message that names the object; extras are warnings."""
    ignore = set(ignore_tables or [])
    checks: list[dict] = []
    for kind in ("extensions", "tables", "columns", "constraints", "indexes", "triggers"):
        actual = {
            (item.get("table", ""), item["name"]): item
            for item in catalog.get(kind, [])
            if item.get("table") not in ignore and item.get("name") not in ignore
        }
        wanted = {(item.get("table", ""), item["name"]): item for item in expected.get(kind, [])}
        for key, item in wanted.items():
            check_id = "%s %s" % (_label(kind, item), ".".join(part for part in key if part))
            found = actual.get(key)
            if found is None:
                checks.append(
                    _check(
                        check_id, kind, item, "fail", "missing: %s" % _where(kind, item), _describe(kind, item), None
                    )
                )
                continue
            if kind in ("columns", "constraints", "indexes", "triggers"):
                want, have = _describe(kind, item), _describe(kind, found)
                if want != have:
                    checks.append(
                        _check(
                            check_id,
                            kind,
                            item,
                            "fail",
                            "changed: %s: expected %s, found %s" % (_where(kind, item), want, have),
                            want,
                            have,
                        )
                    )
                    continue
            checks.append(
                _check(
                    check_id,
                    kind,
                    item,
                    "pass",
                    "ok: %s" % _where(kind, item),
                    _describe(kind, item),
                    _describe(kind, found),
                )
            )
        for key, item in wanted.items():
            if kind in ("tables", "columns") and item.get("comment") is not None:
                subject = (
                    ("table %s" % item["name"])
                    if kind == "tables"
                    else ("column %s.%s" % (item["table"], item["name"]))
                )
                check_id = "comment on %s" % subject
                have = (actual.get(key) or {}).get("comment")
                status, message = "pass", "ok: comment on %s" % subject
                if have is None:
                    status, message = "fail", "missing: comment on %s" % subject
                elif have != item["comment"]:
                    status, message = (
                        "fail",
                        "changed: comment on %s: expected %r, found %r" % (subject, item["comment"], have),
                    )
                checks.append(
                    dict(_check(check_id, "comment", item, status, message, item["comment"], have), kind="comment")
                )
        for key, item in actual.items():
            if key not in wanted:
                checks.append(
                    _check(
                        "%s %s" % (_label(kind, item), ".".join(part for part in key if part)),
                        kind,
                        item,
                        "warn",
                        "extra: %s (not in the change set at this version)" % _where(kind, item),
                        None,
                        _describe(kind, item),
                    )
                )
    return checks


def probe_checks(results: list[dict]) -> list[dict]:
    """The pg_migrate module's probe and verify-script results as checks."""
    checks = []
    for result in results:
        checks.append(
            {
                "id": result["id"],
                "kind": result["kind"],
                "object": result.get("object"),
                "table": result.get("table"),
                "status": "pass" if result["passed"] else "fail",
                "message": result["message"],
                "expected": result.get("expected"),
                "found": result.get("found"),
            }
        )
    return checks


def verification_summary(
    checks: list[dict], host: str, database: str, version: str, reports: list[str] | None = None
) -> list[str]:
    """Counts, then every failure and warning on its own line."""
    failed = [c for c in checks if c["status"] == "fail"]
    warned = [c for c in checks if c["status"] == "warn"]
    lines = [
        "%s %s: verification at version %s: %d passed, %d failed, %d warning(s)"
        % (host, database, version, len(checks) - len(failed) - len(warned), len(failed), len(warned))
    ]
    lines.extend("  FAIL %s" % c["message"] for c in failed)
    lines.extend("  warn %s" % c["message"] for c in warned)
    for path in reports or []:
        lines.append("  report: %s" % path)
    return lines


# XML 1.0 cannot carry most control characters, and a server message may quote one from user data
# (a DETAIL with a key value): replaced, so the JUnit file always parses.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(value: object) -> str:
    return _XML_INVALID.sub("\ufffd", str(value))


def junit_xml(checks: list[dict], host: str, database: str, version: str) -> str:
    """One test case per check, so CI lists every one; failures carry the message."""
    failed = sum(1 for c in checks if c["status"] == "fail")
    suite = ET.Element(
        "testsuite",
        name="pg_migrate verify %s %s" % (host, database),
        tests=str(len(checks)),
        failures=str(failed),
        errors="0",
        skipped="0",
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="version", value=str(version))
    for check in checks:
        case = ET.SubElement(suite, "testcase", classname="%s.%s" % (host, check["kind"]), name=check["id"])
        if check["status"] == "fail":
            failure = ET.SubElement(case, "failure", message=_xml_text(check["message"]), type=check["kind"])
            failure.text = _xml_text("expected: %s\nfound: %s" % (check.get("expected"), check.get("found")))
        elif check["status"] == "warn":
            ET.SubElement(case, "system-out").text = _xml_text("warning: " + check["message"])
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


# What a run does, unit by unit, as JUnit sees it: (plan list, list of what was done, case label).
RUN_UNITS = {
    "migrate": (("pending", "applied", "migration"), ("repeatables", "repeatables_applied", "repeatable")),
    "status": (("pending", "applied", "migration"), ("repeatables", "repeatables_applied", "repeatable")),
    "seed": (("repeatables", "repeatables_applied", "repeatable"),),
    "rollback": (("revert", "reverted", "revert"),),
    "backfill": (),
}


def _case(label: str, name: str, outcome: str = "pass", text: str | None = None, seconds: float = 0.0) -> dict:
    """One JUnit test case: outcome pass (text goes to system-out), fail or skip (text is the message)."""
    return {"label": label, "name": name, "outcome": outcome, "text": text, "seconds": seconds}


def run_junit(report: dict) -> str:
    """The JUnit XML of a run report (migrate, rollback, status, seed, backfill; see docs/reports.md).

    One test case per unit of the plan (migration, repeatable, revert): passed with its duration when
    the run did it; failed when the run's error names its script; skipped otherwise (check mode, a
    status, or not reached after a failure). Each problem of the version check is a failed case. A
    case "run" carries an error no other case carries, or says that there was nothing to do. Built
    from the report alone, so the JSON and the JUnit file cannot disagree.
    """
    kind = report["kind"]
    host = report["host"]
    plan = report.get("plan") or {}
    error = report.get("error")
    problems = plan.get("problems") or []
    check_mode = bool(report.get("check_mode"))
    # When the guard found problems, they are the error (the run refused): a case each, not one more.
    unclaimed = error if error and not problems else None
    # The failure's own fields when the report has them; the script named in the error text otherwise
    # (a failed verify script names its migration there, and reports of older versions lack the field).
    failed_script = (report.get("failure") or {}).get("script")
    stopped_at = None
    cases: list[dict] = []

    for plan_key, done_key, label in RUN_UNITS.get(kind, ()):
        done = {item["script"]: item for item in report.get(done_key) or []}
        for unit in plan.get(plan_key) or []:
            script = unit["script"]
            if script in done:
                cases.append(_case(label, script, seconds=float(done[script]["duration_ms"]) / 1000))
            elif unclaimed and (script == failed_script or script in unclaimed):
                cases.append(_case(label, script, "fail", unclaimed))
                stopped_at, unclaimed = script, None
            elif kind == "status":
                cases.append(_case(label, script, "skip", "pending: the next migrate applies it"))
            elif check_mode:
                cases.append(_case(label, script, "skip", "check mode: would run"))
            else:
                reason = "not run: the run stopped " + ("at %s" % stopped_at if stopped_at else "before it")
                cases.append(_case(label, script, "skip", reason))

    backfill = report.get("backfill")
    if kind == "backfill" and backfill:
        seconds = float(backfill.get("duration_s") or 0)
        if unclaimed:
            cases.append(_case("backfill", "backfill", "fail", unclaimed, seconds))
        elif backfill.get("dry_run"):  # like every unit in check mode: it would run
            text = "check mode: would link %s of %s unlinked row(s), %s batch(es) of %s" % (
                backfill.get("linkable", backfill.get("remaining")),
                backfill.get("remaining"),
                backfill.get("batches"),
                backfill.get("batch_size"),
            )
            cases.append(_case("backfill", "backfill", "skip", text))
        else:
            text = "linked %s row(s) in %s batch(es) of %s; %s" % (
                backfill.get("linked"),
                backfill.get("batches"),
                backfill.get("batch_size"),
                ("done, %s row(s) still unlinked" % backfill.get("remaining"))
                if backfill.get("done") and backfill.get("remaining")
                else "done"
                if backfill.get("done")
                else "stopped before the end",
            )
            cases.append(_case("backfill", "backfill", "pass", text, seconds))
        unclaimed = None

    cases.extend(_case("version check", "problem %d" % n, "fail", problem) for n, problem in enumerate(problems, 1))
    if unclaimed:
        cases.append(_case("run", "run", "fail", unclaimed))
    elif not cases:
        cases.append(_case("run", "run", "pass", "nothing to do: at version %s" % plan.get("to_version", "?")))

    suite = ET.Element(
        "testsuite",
        name="pg_migrate %s %s %s" % (kind, host, report.get("database", "")),
        tests=str(len(cases)),
        failures=str(sum(1 for c in cases if c["outcome"] == "fail")),
        errors="0",
        skipped=str(sum(1 for c in cases if c["outcome"] == "skip")),
        time="%.3f" % sum(c["seconds"] for c in cases),
        hostname=host,
    )
    if report.get("generated_at"):
        suite.set("timestamp", str(report["generated_at"])[:19])  # JUnit's timestamp has no zone; it is UTC
    properties = ET.SubElement(suite, "properties")
    for name in ("from_version", "to_version"):
        ET.SubElement(properties, "property", name=name, value=str(plan.get(name)))
    ET.SubElement(properties, "property", name="check_mode", value=str(check_mode).lower())
    for case in cases:
        element = ET.SubElement(
            suite,
            "testcase",
            classname="%s.%s" % (host, case["label"]),
            name=case["name"],
            time="%.3f" % case["seconds"],
        )
        text = _xml_text(case["text"]) if case["text"] else None
        if case["outcome"] == "fail":
            ET.SubElement(element, "failure", message=text, type=case["label"]).text = text
        elif case["outcome"] == "skip":
            ET.SubElement(element, "skipped", message=text)
        elif text:
            ET.SubElement(element, "system-out").text = text
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


class FilterModule:
    def filters(self):
        return {
            "pg_migrate_lint_groups": lint_groups,
            "pg_migrate_squawk_findings": squawk_findings,
            "pg_migrate_summary": summary,
            "pg_migrate_lost_job_state": lost_job_state,
            "pg_migrate_verify_catalog": verify_catalog,
            "pg_migrate_probe_checks": probe_checks,
            "pg_migrate_verification_summary": verification_summary,
            "pg_migrate_junit": junit_xml,
            "pg_migrate_run_junit": run_junit,
        }
