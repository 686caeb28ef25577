# pg_migrate: what an operator reads after a run, and what CI reads: the summary lines, the account of
# a job that died, and the JUnit XML of a run report and of a verification (docs/reports.md).

from __future__ import annotations

import os
import re
from xml.etree import ElementTree as ET

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.lint import findings_lines
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.files import write_atomically


def _versions(items: list[dict]) -> str:
    return " ".join(item["version"] for item in items) or "none"


def _rollback_lines(result: dict, plan: dict, head: str, check_mode: bool) -> list[str]:
    if check_mode:
        head += " (check mode: would revert %s)" % (" ".join(plan.get("revert_versions", [])) or "nothing")
    lines = [head]
    for item in result.get("reverted", []):
        lines.append("  reverted %s in %.0f ms" % (item["script"], item["duration_ms"]))
    return lines


def _forward_lines(result: dict, plan: dict, head: str, action: str, check_mode: bool) -> list[str]:
    """What a migrate, seed or status did or would do."""
    pending = plan.get("pending", [])
    if action == "plan":
        head += " (status: %d pending)" % len(pending)
    elif check_mode:
        head += " (check mode: would apply %d)" % len(pending)
    lines = [head]
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
        lines.append("  baseline: %s %s" % ("would adopt" if check_mode else "adopted", _versions(plan["baseline"])))
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
    return lines


def _attention_lines(result: dict, plan: dict) -> list[str]:
    """Rehearsals, lock waits and what the database holds that needs an operator."""
    lines = []
    # A rollback rehearses its reverts before the first real one; a migrate only with pg_migrate_rehearse.
    rehearsal = result.get("rehearsal") or {}
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
    lines.extend("  problem: %s" % problem for problem in plan.get("problems", []))
    return lines


def summary(result: dict, host: str, check_mode: bool = False, squawk_results: list | None = None) -> list[str]:
    """A few lines per host: versions, what ran or would run, drift, problems, lint findings."""
    plan = result.get("plan") or {}
    action = result.get("action", "migrate")
    head = "%s %s: %s%s -> %s" % (
        host,
        result.get("database", "?"),
        "rollback " if action == "rollback" else "",
        plan.get("from_version", "?"),
        plan.get("to_version", "?"),
    )
    if action == "rollback":
        lines = _rollback_lines(result, plan, head, check_mode)
    else:
        lines = _forward_lines(result, plan, head, action, check_mode)
    lines += _attention_lines(result, plan)
    if squawk_results is not None and check_mode:
        lines += findings_lines(squawk_results)
    if result.get("msg"):
        lines.append("  FAILED (details below)")
    return lines


def lost_job_state(status: dict, action: str = "migrate") -> str:
    """What a job that died left behind, from a status read taken after it (the registered plan result)."""
    if status.get("skipped"):
        return ""
    if status.get("msg") or not status.get("plan"):
        return (
            "Where the database stands could not be read (%s): run a status (pg_migrate_action=status) once the "
            "server answers." % (status.get("msg") or "no answer")
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
    return text + " Run a status (pg_migrate_action=status) to check, then run the playbook again."


# XML 1.0 cannot carry most control characters, and a server message may quote one from user data
# (a DETAIL with a key value): replaced, so the JUnit file always parses.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(value: object) -> str:
    return _XML_INVALID.sub("\ufffd", str(value))


def _xml_document(suite: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def junit_xml(checks: list[dict], host: str, database: str, version: str) -> str:
    """One test case per verification check, so CI lists every one; failures carry the message."""
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
    return _xml_document(suite)


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


def _backfill_case(backfill: dict, error: str | None) -> dict:
    """The one case of a backfill run: failed with the error, skipped in check mode, else what it linked."""
    seconds = float(backfill.get("duration_s") or 0)
    if error:
        return _case("backfill", "backfill", "fail", error, seconds)
    if backfill.get("dry_run"):  # like every unit in check mode: it would run
        text = "check mode: would link %s of %s unlinked row(s), %s batch(es) of %s" % (
            backfill.get("linkable", backfill.get("remaining")),
            backfill.get("remaining"),
            backfill.get("batches"),
            backfill.get("batch_size"),
        )
        return _case("backfill", "backfill", "skip", text)
    if backfill.get("done"):
        ending = ("done, %s row(s) still unlinked" % backfill["remaining"]) if backfill.get("remaining") else "done"
    else:
        ending = "stopped before the end"
    text = "linked %s row(s) in %s batch(es) of %s; %s" % (
        backfill.get("linked"),
        backfill.get("batches"),
        backfill.get("batch_size"),
        ending,
    )
    return _case("backfill", "backfill", "pass", text, seconds)


def _run_suite(report: dict, plan: dict, cases: list[dict], check_mode: bool) -> ET.Element:
    host = report["host"]
    suite = ET.Element(
        "testsuite",
        name="pg_migrate %s %s %s" % (report["kind"], host, report.get("database", "")),
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
    return suite


def run_junit(report: dict) -> str:
    """The JUnit XML of a run report (migrate, rollback, status, seed, backfill; see docs/reports.md).

    One test case per unit of the plan (migration, repeatable, revert): passed with its duration when
    the run did it; failed when the run's error names its script; skipped otherwise (check mode, a
    status, or not reached after a failure). Each problem of the version check is a failed case. A
    case "run" carries an error no other case carries, or says that there was nothing to do. Built
    from the report alone, so the JSON and the JUnit file cannot disagree.
    """
    kind = report["kind"]
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

    if kind == "backfill" and report.get("backfill"):
        cases.append(_backfill_case(report["backfill"], unclaimed))
        unclaimed = None

    cases.extend(_case("version check", "problem %d" % n, "fail", problem) for n, problem in enumerate(problems, 1))
    if unclaimed:
        cases.append(_case("run", "run", "fail", unclaimed))
    elif not cases:
        cases.append(_case("run", "run", "pass", "nothing to do: at version %s" % plan.get("to_version", "?")))
    return _xml_document(_run_suite(report, plan, cases, check_mode))


def write_report_files(directory: str, name: str, json_text: str, junit_text: str) -> list[str]:
    """Write NAME.json and NAME.junit.xml into DIRECTORY (created 0755 when missing); their paths.

    Each file is written to a temporary name beside it and renamed, so a reader (a CI job collecting the
    JUnit file, an operator's script) never sees half a report."""
    os.makedirs(directory, mode=0o755, exist_ok=True)
    if os.stat(directory).st_mode & 0o777 != 0o755:  # whatever the umask: others read the reports (CI jobs)
        os.chmod(directory, 0o755)
    paths = []
    for suffix, text in ((".json", json_text), (".junit.xml", junit_text)):
        path = os.path.join(directory, name + suffix)
        write_atomically(path, text)
        paths.append(path)
    return paths
