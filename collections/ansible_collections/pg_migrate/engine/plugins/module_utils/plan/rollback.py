# pg_migrate: the version-check guard of a rollback: which applied migrations a rollback to a target
# version reverts, newest first, and what refuses it. No I/O here, like plan/migrate.py.

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Changeset, Migration
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import (
    NO_VERSION,
    is_applied,
    version_key,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.model import PlannedRevert, RollbackPlan


def _target_problem(
    target_version: str, target_key: tuple, by_key: dict[tuple, Migration], applied: dict, from_version: str
) -> str | None:
    """Why TARGET_VERSION cannot be a rollback's target, or None: a rollback only goes back, to a real version."""
    if target_key == version_key(NO_VERSION) or target_key in applied:
        return None
    if target_key not in by_key:
        known = sorted(by_key)
        versions = "%s to %s" % (by_key[known[0]].version, by_key[known[-1]].version) if known else "none"
        return (
            "pg_migrate_target_version %s matches no migration of the change set (versions %s): a rollback goes "
            "back to a version that exists. Choose one of them, or 000 to revert everything; a status "
            "(pg_migrate_action=status) lists the applied ones." % (target_version, versions)
        )
    if not applied or target_key > max(applied):
        return (
            "pg_migrate_target_version %s is above the version the database is at (%s): a rollback only goes back. "
            "To go forward to %s, run a migrate (pg_migrate_action=migrate) with -e pg_migrate_target_version=%s "
            "instead." % (target_version, from_version, target_version, target_version)
        )
    return None


def _revert_problem(row: dict, migration: Migration | None) -> str | None:
    """Why the applied version of history ROW cannot be reverted, or None."""
    if row.get("kind") == "baseline":
        return (
            "version %s was adopted by baseline, not applied by pg_migrate: its schema predates this tool, so "
            "pg_migrate will not revert it. Choose a target at or above %s." % (row["version"], row["version"])
        )
    if migration is None:
        return "version %s (%s) is applied but not in the change set: restore its files before reverting it." % (
            row["version"],
            row["script"],
        )
    if migration.revert is None:
        return "no revert script for %s: add U%s__%s.sql before rolling back past it." % (
            migration.script,
            migration.version,
            migration.description_slug,
        )
    if not migration.same_checksum(row["checksum"]):
        return (
            "checksum drift: %s changed since it was applied (sha256 %s, now %s); its revert may not "
            "match what ran. Resolve the drift first." % (migration.script, row["checksum"], migration.checksum)
        )
    return None


def plan_rollback(changeset: Changeset, history: list[dict], target_version: str | None) -> RollbackPlan:
    """What `rollback` to TARGET_VERSION would revert, newest first, and what stops it."""
    try:
        target_key = version_key(target_version)
    except (ValueError, TypeError) as exc:
        return RollbackPlan(None, None, problems=("pg_migrate_target_version is required for a rollback: %s" % exc,))
    by_key = {version_key(m.version): m for m in changeset.migrations}
    applied = {version_key(row["version"]): row for row in history if is_applied(row)}
    from_version = applied[max(applied)]["version"] if applied else NO_VERSION
    problems = []
    target_problem = _target_problem(target_version, target_key, by_key, applied, from_version)
    if target_problem:
        problems.append(target_problem)
    revert = []
    for key in sorted((key for key in applied if key > target_key), reverse=True):
        migration = by_key.get(key)
        problem = _revert_problem(applied[key], migration)
        if problem:
            problems.append(problem)
            continue
        script = migration.revert
        revert.append(
            PlannedRevert(
                migration.version, script.script, script.checksum, script.transactional, not script.statements
            )
        )
    remaining = [key for key in applied if key <= target_key]
    return RollbackPlan(
        from_version=from_version,
        to_version=applied[max(remaining)]["version"] if remaining else NO_VERSION,
        revert=tuple(revert),
        problems=tuple(problems),
        revert_versions=tuple(item.version for item in revert),
    )
