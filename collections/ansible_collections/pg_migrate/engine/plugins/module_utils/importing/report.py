# pg_migrate: what an import says - the lines an operator reads and the same as data (the action's result).

from __future__ import annotations

import os

from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.plan import ImportPlan


def _section(title: str, lines: list[str]) -> list[str]:
    return ["%s:" % title] + ["  %s" % line for line in lines] if lines else []


def summary_lines(plan: ImportPlan, source: str, dest: str, check: bool, same: list[str]) -> list[str]:
    """The import as an operator reads it: each file written (or that would be), the reverts, the markers added,
    what changed on the way and what was not carried."""
    verb = "would write" if check else "wrote"
    new = [name for name in plan.files if name not in same]
    lines = [
        "import from %s: %s -> %s: %s %d file(s) (%d already there, unchanged)"
        % (plan.tool, source, dest, verb, len(new), len(same))
    ]
    lines.extend("  %s %s (from %s)" % (verb, name, plan.sources[name]) for name in new)
    lines += _section("reverts", plan.reverts)
    lines += _section("no-transaction markers added", plan.markers)
    lines += _section("changed on the way", plan.notes)
    lines += _section("not carried (carry these by hand)", plan.not_carried)
    return lines


def failure_message(plan: ImportPlan, source: str, dest: str) -> str:
    lines = ["import from %s: %d problem(s); nothing was written to %s:" % (plan.tool, len(plan.problems), dest)]
    lines.extend("  - %s" % problem for problem in plan.problems)
    lines += _section("not carried either", plan.not_carried)
    return "\n".join(lines)


def import_result(
    plan: ImportPlan, source: str, dest: str, check: bool, same: list[str] = (), warnings: list[str] = ()
) -> dict:
    """The action's result: the files (written or that would be), reverts, markers, notes, not carried, the
    summary, and a diff per new file; failed with one message listing every problem."""
    new = [name for name in plan.files if name not in same]
    result = {
        "changed": bool(new) and not plan.problems,
        "tool": plan.tool,
        "source": source,
        "dest": dest,
        "files": [os.path.join(dest, name) for name in new],
        "unchanged": [os.path.join(dest, name) for name in same],
        "sources": {name: plan.sources[name] for name in plan.files},
        "reverts": plan.reverts,
        "no_transaction": plan.markers,
        "notes": plan.notes,
        "not_carried": plan.not_carried,
        "warnings": ["not carried: %s" % line for line in plan.not_carried] + list(warnings),
    }
    if plan.problems:
        result.update(failed=True, changed=False, problems=plan.problems, msg=failure_message(plan, source, dest))
        return result
    result["summary"] = summary_lines(plan, source, dest, check, list(same))
    result["diff"] = [
        {"before": "", "after": plan.files[name], "before_header": os.path.join(dest, name), "after_header": name}
        for name in new
    ]
    return result
