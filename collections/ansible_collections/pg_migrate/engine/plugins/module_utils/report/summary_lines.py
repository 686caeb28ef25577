# pg_migrate: what an operator reads after a run: the few summary lines of each host, and the account of
# a job that died (docs/reports.md). The plan comes in as the run's result carries it (JSON) and is read
# once, through plan_from_dict.

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.lint import findings_lines
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import fold, some_words
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.model import (
    MigratePlan,
    PlannedMigration,
    RollbackPlan,
    plan_from_dict,
)


def _versions(items: tuple[PlannedMigration, ...] | list[dict]) -> str:
    versions = [item.version if isinstance(item, PlannedMigration) else item["version"] for item in items]
    return some_words(versions) or "none"


def _folded(lines: list[str], what: str, head: int = 5, tail: int = 0) -> list[str]:
    """LINES of one kind, folded past HEAD + TAIL of them: the report lists every one (WHAT: its field)."""
    return fold(lines, head, tail, lambda left_out: "  ... %d more (the report lists every one: %s)" % (left_out, what))


def _rollback_lines(result: dict, plan: RollbackPlan | None, head: str, check_mode: bool) -> list[str]:
    if check_mode:
        to_revert = plan.revert_versions if plan and plan.revert_versions else ()
        head += " (check mode: would revert %s)" % (" ".join(to_revert) or "nothing")
    lines = [head]
    done = set()
    reverted = []
    for item in result.get("reverted", []):
        done.add(item["version"])
        empty = " (nothing to undo: an empty revert)" if item.get("nothing_to_undo") else ""
        reverted.append("  reverted %s in %.0f ms%s%s" % (item["script"], item["duration_ms"], empty, lock_wait(item)))
    lines += _folded(reverted, "reverted", 3, 3)
    empty = [
        "  nothing to undo: %s is empty or comments only; reverting %s removes its history row only"
        % (item.script, item.version)
        for item in (plan.revert if plan else ())
        if item.nothing_to_undo and item.version not in done
    ]
    return lines + _folded(empty, "plan.revert")


def _state_lines(result: dict, plan: MigratePlan, action: str, check_mode: bool) -> list[str]:
    """Where the database stands: what is applied and pending, or what is left after the run."""
    if check_mode or action == "plan":
        return ["  applied: %s" % (some_words(plan.applied) or "none"), "  pending: %s" % _versions(plan.pending)]
    lines = []
    if action == "seed" and not plan.repeatables and not result.get("msg"):
        lines.append(
            "  seed: nothing new (unchanged since it was applied; -e pg_migrate_seed_force=true re-applies it)"
        )
    elif not plan.pending and not plan.repeatables:
        lines.append("  nothing pending: already at %s" % (plan.from_version or "?"))
    done = {item["version"] for item in result.get("applied", [])}
    left = [item for item in plan.pending if item.version not in done]
    if left:
        lines.append("  not applied: %s" % _versions(left))
    return lines


def _adoption_lines(plan: MigratePlan, check_mode: bool) -> list[str]:
    """Where an adoption's baseline came from (pg_migrate_adopt), and what of that history did not count."""
    source = plan.adopted_from
    if not source or plan.problems:  # a refused adoption: the problems say why
        return []
    if plan.baseline:
        head = "  adopt: %s %d migration(s) from %s (up to %s, read from %s)" % (
            "would adopt" if check_mode else "adopted",
            len(plan.baseline),
            source.get("tool"),
            plan.baseline[-1].version,
            source.get("table"),
        )
    else:
        head = "  adopt: %s (%s) applied none of the change set's migrations" % (
            source.get("tool"),
            source.get("table"),
        )
    return [head] + ["    %s" % note for note in source.get("notes") or ()]


def _plan_detail_lines(result: dict, plan: MigratePlan, check_mode: bool) -> list[str]:
    """Baseline, drift, missing files and the repeatables, as the plan lists them."""
    lines = []
    if plan.baseline:
        lines.append("  baseline: %s %s" % ("would adopt" if check_mode else "adopted", _versions(plan.baseline)))
    lines.extend(_adoption_lines(plan, check_mode))
    repaired = " - repaired" if result.get("repaired") else ""
    drift = [
        "  drift: %s (applied sha256 %s, file %s)%s"
        % (item.script, item.recorded_checksum[:12], item.file_checksum[:12], repaired)
        for item in plan.drift
    ]
    lines += _folded(drift, "plan.drift")
    lines += _folded(["  missing: %s (%s)" % (item.version, item.script) for item in plan.missing], "plan.missing")
    repeatables = ["  repeatable %s: %s" % (item.reason, item.script) for item in plan.repeatables]
    lines += _folded(repeatables, "plan.repeatables")
    for script in plan.repeatables_deferred or ():
        lines.append("  deferred %s: it runs once the database is at the change set's latest version" % script)
    return lines


def lock_wait(item: dict) -> str:
    """', 1.2 s waiting for its table locks (blocked by pid 4242)' when its unit waited for them."""
    if not item.get("lock_wait_ms"):
        return ""
    pids = [str(entry.get("pid") or entry.get("gid")) for entry in item.get("blocked_by") or ()]
    blocked = " (blocked by pid %s)" % ", ".join(pids) if pids else ""
    return ", %.1f s waiting for its table locks%s" % (item["lock_wait_ms"] / 1000, blocked)


def _forward_lines(result: dict, plan: MigratePlan | None, head: str, action: str, check_mode: bool) -> list[str]:
    """What a migrate, seed or status did or would do."""
    pending = plan.pending if plan else ()
    if action == "plan":
        head += " (status: %d pending)" % len(pending)
    elif check_mode:
        head += " (check mode: would apply %d)" % len(pending)
    lines = [head]
    if plan:
        lines += _state_lines(result, plan, action, check_mode) + _plan_detail_lines(result, plan, check_mode)
    applied = []
    for item in result.get("applied", []):
        retried = " after %d attempts" % item["attempts"] if item.get("attempts", 1) > 1 else ""
        applied.append("  applied %s in %.0f ms%s%s" % (item["script"], item["duration_ms"], retried, lock_wait(item)))
    lines += _folded(applied, "applied", 3, 3)
    verb = "seeded" if action == "seed" else "applied"
    seeded = [
        "  %s %s in %.0f ms" % (verb, item["script"], item["duration_ms"])
        for item in result.get("repeatables_applied", [])
    ]
    return lines + _folded(seeded, "repeatables_applied", 3, 3)


def _attention_lines(result: dict, plan: MigratePlan | RollbackPlan | None) -> list[str]:
    """Rehearsals, lock waits and what the database holds that needs an operator."""
    lines = []
    # A rollback rehearses its reverts before the first real one; a migrate only with pg_migrate_rehearse.
    rehearsal = result.get("rehearsal") or {}
    rehearsed = [
        "  rehearsed %s in %.0f ms (rolled back)" % (item["script"], item["duration_ms"])
        for item in rehearsal.get("rehearsed", [])
    ]
    lines += _folded(rehearsed, "rehearsal.rehearsed", 3, 3)
    not_rehearsed = [
        "  not rehearsed %s: %s" % (item["script"], item["reason"]) for item in rehearsal.get("not_rehearsed", [])
    ]
    lines += _folded(not_rehearsed, "rehearsal.not_rehearsed")
    if result.get("lock_waited_s"):
        lines.append("  waited %.0f s for the lock of another pg_migrate run" % result["lock_waited_s"])
    if (result.get("standby_lag") or {}).get("waited_s"):
        lines.append("  waited %.0f s for the server's standbys to replay" % result["standby_lag"]["waited_s"])
    if isinstance(plan, MigratePlan):
        for item in plan.failed_attempts or ():
            lines.append(
                "  failed attempt: %s (%s, at %s by %s): a script outside a transaction stopped part-way; fix the "
                "cause and run again" % (item.version, item.script, item.at, item.by)
            )
        for index in plan.invalid_indexes or ():
            lines.append(
                "  INVALID index: %s (an interrupted CREATE INDEX CONCURRENTLY; DROP INDEX CONCURRENTLY it, or re-run "
                "a script that drops it first)" % index
            )
    lines += _folded(["  problem: %s" % problem for problem in (plan.problems if plan else ())], "plan.problems")
    return lines


def summary(result: dict, host: str, check_mode: bool = False, squawk_results: list | None = None) -> list[str]:
    """A few lines per host: versions, what ran or would run, drift, problems, lint findings."""
    action = result.get("action", "migrate")
    plan = plan_from_dict(result.get("plan"), rollback=action == "rollback")
    head = "%s %s: %s%s -> %s" % (
        host,
        result.get("database", "?"),
        "rollback " if action == "rollback" else "",
        (plan and plan.from_version) or "?",  # "?" where a result's plan does not say (as before the typed plan)
        (plan and plan.to_version) or "?",
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
    plan = plan_from_dict(status.get("plan"), rollback=False)
    if status.get("msg") or plan is None:
        return (
            "Where the database stands could not be read (%s): run a status (pg_migrate_action=status) once the "
            "server answers." % (status.get("msg") or "no answer")
        )
    text = "The database is now at version %s" % (plan.from_version or "?")
    if plan.pending_versions:
        text += ", with %s pending" % " ".join(plan.pending_versions)
    text += (
        ". Each %s is one transaction with its history row: the one that was interrupted was rolled back when its "
        "session ended (a session of a host that went down can linger until the server notices; until then it "
        "holds the lock)." % ("revert" if action == "rollback" else "migration")
    )
    for item in plan.failed_attempts or ():
        text += " A failed attempt of %s is recorded: a script outside a transaction stopped part-way." % item.script
    for index in plan.invalid_indexes or ():
        text += " The INVALID index %s was left behind: DROP INDEX CONCURRENTLY %s;" % (index, index)
    return text + " Run a status (pg_migrate_action=status) to check, then run the playbook again."
