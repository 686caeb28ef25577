"""Filters of the pg_migrate role: turn the module's result into what an operator reads."""

from __future__ import annotations

import json
import os

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
            if not pending and not plan.get("repeatables"):
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
        for item in result.get("applied", []):
            retried = " after %d attempts" % item["attempts"] if item.get("attempts", 1) > 1 else ""
            lines.append("  applied %s in %.0f ms%s" % (item["script"], item["duration_ms"], retried))
        rehearsal = result.get("rehearsal")
        if rehearsal:
            for item in rehearsal.get("rehearsed", []):
                lines.append("  rehearsed %s in %.0f ms (rolled back)" % (item["script"], item["duration_ms"]))
            for item in rehearsal.get("not_rehearsed", []):
                lines.append("  not rehearsed %s: %s" % (item["script"], item["reason"]))
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


class FilterModule:
    def filters(self):
        return {
            "pg_migrate_lint_groups": lint_groups,
            "pg_migrate_squawk_findings": squawk_findings,
            "pg_migrate_summary": summary,
        }
