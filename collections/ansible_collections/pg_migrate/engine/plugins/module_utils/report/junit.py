# pg_migrate: what CI reads: the JUnit XML of a run report and of a verification (docs/reports.md), one
# test case per unit of the plan or per check. Built from the report alone, so the JSON and the JUnit file
# cannot disagree.

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.model import (
    MigratePlan,
    RollbackPlan,
    plan_from_dict,
)

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


# What a run does, unit by unit, as JUnit sees it: (the plan's units, the report's list of what was done, case
# label).
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


def _run_suite(
    report: dict, plan: MigratePlan | RollbackPlan | None, cases: list[dict], check_mode: bool
) -> ET.Element:
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
        ET.SubElement(properties, "property", name=name, value=str(getattr(plan, name) if plan else None))
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
    plan = plan_from_dict(report.get("plan"), rollback=kind == "rollback")
    error = report.get("error")
    problems = plan.problems if plan else ()
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
        for unit in getattr(plan, plan_key, None) or ():
            script = unit.script
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
        cases.append(_case("run", "run", "pass", "nothing to do: at version %s" % (plan.to_version if plan else "?")))
    return _xml_document(_run_suite(report, plan, cases, check_mode))
