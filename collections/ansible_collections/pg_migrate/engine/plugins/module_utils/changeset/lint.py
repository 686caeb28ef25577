# pg_migrate: squawk, the migration linter, as the role's check mode and tools/squawk_changeset.py run it.
#
# A script is linted as it will run: a transactional one with --assume-in-transaction (the runner wraps
# it in one), a marked no-transaction one without. Both callers group the scripts here, build squawk's
# command line here, and the role reads squawk's JSON findings here.

from __future__ import annotations

import json
import os
import subprocess

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import clip, line_of

MAX_FINDINGS_SHOWN = 20
# The rules the engine satisfies itself: it sets lock_timeout and statement_timeout around every script, so
# they would fire on nearly every file (the default of pg_migrate_squawk_exclude; tools/ lints with it too).
ENGINE_SATISFIED_RULES = ("require-lock-timeout", "require-statement-timeout")


def transaction_groups(scripts: list[tuple[str, bool]]) -> list[dict]:
    """(path, transactional) pairs as squawk must see them: the transactional ones, then the rest.

    Each group is {"in_transaction": bool, "files": [path, ...]}; an empty group is left out."""
    groups = []
    for in_transaction in (True, False):
        files = [path for path, transactional in scripts if transactional == in_transaction]
        if files:
            groups.append({"in_transaction": in_transaction, "files": files})
    return groups


def squawk_argv(
    group: dict,
    pg_version: str,
    squawk: str = "squawk",
    reporter: str = "",
    exclude: tuple[str, ...] | list[str] = ENGINE_SATISFIED_RULES,
) -> list[str]:
    """The squawk command line that lints one group of transaction_groups (REPORTER: e.g. json), without the
    rules EXCLUDE names."""
    in_transaction = ["--assume-in-transaction"] if group["in_transaction"] else []
    reporting = ["--reporter", reporter] if reporter else []
    excluding = ["--exclude", ",".join(exclude)] if exclude else []
    return [squawk, *reporting, *excluding, "--pg-version", str(pg_version), *in_transaction, *group["files"]]


def run_squawk(
    groups: list[dict], pg_version: str, squawk: str, exclude: tuple[str, ...] | list[str] = ENGINE_SATISFIED_RULES
) -> list[dict]:
    """Lint each group with squawk's JSON reporter; the outcomes in the shape squawk_findings reads."""
    outcomes = []
    for group in groups:
        try:
            done = subprocess.run(
                squawk_argv(group, pg_version, squawk, "json", exclude), capture_output=True, text=True, check=False
            )
        except OSError as exc:
            outcomes.append({"rc": 127, "stdout": "", "stderr": "", "msg": str(exc)})
            continue
        outcomes.append({"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr})
    return outcomes


def lint_groups(
    pending: list[tuple[str, bool]], repeatables: list[tuple[str, bool]], migrations_dir: str, seeds_dir: str = ""
) -> list[dict]:
    """The scripts a run would apply - PENDING migrations and REPEATABLES as (file name, transactional) - as
    squawk must see them (transaction_groups), as controller paths."""
    scripts = [(os.path.join(migrations_dir, name), transactional) for name, transactional in pending]
    scripts += [(os.path.join(seeds_dir, name), transactional) for name, transactional in repeatables]
    return transaction_groups(scripts)


def squawk_findings(results: list[dict]) -> tuple[list[dict], list[str]]:
    """(findings, problems running squawk) from the registered loop results of the lint task."""
    findings: list[dict] = []
    problems: list[str] = []
    for result in results:
        if result.get("skipped"):
            continue
        rc = result.get("rc")
        if rc not in (0, 1):
            detail = line_of(result.get("stderr") or result.get("msg"), 0, "rc %s" % rc)
            if "--exclude" in detail:
                problems.append("squawk refused pg_migrate_squawk_exclude (%s): name rules squawk knows" % detail)
                continue
            problems.append(
                "squawk could not run (%s); install it on the controller (pip install squawk-cli) "
                "or set pg_migrate_lint=false" % detail
            )
            continue
        try:
            parsed = json.loads(result.get("stdout") or "[]")
        except ValueError:
            problems.append("squawk printed no JSON: %s" % clip(result.get("stdout") or "", 200))
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


def findings_lines(results: list[dict]) -> list[str]:
    """The summary's squawk lines: the count, the first findings, and any problem running squawk."""
    findings, problems = squawk_findings(results)
    lines = []
    if problems or any(not result.get("skipped") for result in results):
        lines.append("  squawk: %d finding(s)" % len(findings))
    for finding in findings[:MAX_FINDINGS_SHOWN]:
        lines.append("    %s:%d %s: %s" % (finding["file"], finding["line"], finding["rule"], finding["message"]))
    if len(findings) > MAX_FINDINGS_SHOWN:
        lines.append("    ... and %d more" % (len(findings) - MAX_FINDINGS_SHOWN))
    lines.extend("  squawk: %s" % problem for problem in problems)
    return lines
