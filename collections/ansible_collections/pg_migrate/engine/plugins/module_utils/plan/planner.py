# pg_migrate: the version-check guard as plain functions.
#
# Given the change set (what the controller found on disk) and the history table (what the
# database says was applied), decide what a run would do: which migrations are pending, which
# applied files were edited since (drift), which applied versions have no file any more (missing),
# which pending versions sort below an applied one (out of order), what a baseline adopts and what
# a rollback reverts. No I/O here: the module calls these under its advisory lock, and the tests
# call them directly.

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import (
    APPLIED_KINDS,
    NO_VERSION,
    is_applied,
    version_key,
)


def same_checksum(recorded, entry):
    """Whether a history row's checksum RECORDED stands for the script ENTRY (docs/checksums.md).

    entry["checksum"] is scheme 2 (SHA-256 of the text without BOM, LF line endings). A row written by an
    earlier version holds scheme 1 (SHA-256 of the raw bytes) of the file as it was checked out then: the
    controller lists those for every LF/CRLF, BOM/no-BOM form of the same text in "checksum_equivalents", so a
    line-ending or BOM change alone is never drift.
    """
    return recorded == entry["checksum"] or recorded in (entry.get("checksum_equivalents") or ())


def _migration_view(migration):
    return {
        "version": migration["version"],
        "description": migration["description"],
        "script": migration["script"],
        "checksum": migration["checksum"],
        "transactional": migration["transactional"],
    }


def plan_migrate(
    changeset, history, target_version=None, baseline_version=None, allow_out_of_order=False, repair_checksums=False
):
    """What `migrate` would do on a database with this history.

    changeset: {"migrations": [...], "repeatables": [...]} as built by the pg_migrate_changeset action.
    history:   rows of the history table as dicts (version, script, checksum, kind, success).
    Returns a dict; "problems" lists everything that must stop the run (empty: safe to go on).
    """
    migrations = sorted(changeset.get("migrations", []), key=lambda m: version_key(m["version"]))
    by_key = {version_key(m["version"]): m for m in migrations}
    problems = []

    versioned_rows = [row for row in history if row.get("kind") in APPLIED_KINDS]
    succeeded = {}
    failed = {}
    for row in versioned_rows:
        key = version_key(row["version"])
        if is_applied(row):
            succeeded[key] = row
        else:
            failed[key] = row

    target_key = None
    if target_version not in (None, ""):
        try:
            target_key = version_key(target_version)
        except ValueError as exc:
            problems.append("pg_migrate_target_version: %s" % exc)
        else:
            if target_key != version_key(NO_VERSION) and target_key not in by_key:
                latest = migrations[-1]["version"] if migrations else NO_VERSION
                problems.append(
                    "pg_migrate_target_version %s matches no migration (latest is %s)" % (target_version, latest)
                )
            elif succeeded and target_key < max(succeeded):
                problems.append(_target_below_current(target_version, succeeded[max(succeeded)]["version"]))

    baseline = []
    if baseline_version not in (None, "") and not versioned_rows:
        try:
            baseline_key = version_key(baseline_version)
        except ValueError as exc:
            problems.append("pg_migrate_baseline_version: %s" % exc)
        else:
            if baseline_key not in by_key:
                problems.append("pg_migrate_baseline_version %s matches no migration" % baseline_version)
            else:
                baseline = [_migration_view(m) for m in migrations if version_key(m["version"]) <= baseline_key]

    adopted = {version_key(m["version"]) for m in baseline}
    applied_keys = set(succeeded) | adopted
    highest_applied = max(applied_keys) if applied_keys else None

    drift = []
    for key, row in sorted(succeeded.items()):
        migration = by_key.get(key)
        if migration is not None and not same_checksum(row["checksum"], migration):
            drift.append(
                {
                    "version": migration["version"],
                    "script": migration["script"],
                    "recorded_checksum": row["checksum"],
                    "file_checksum": migration["checksum"],
                }
            )
    if drift and not repair_checksums:
        for item in drift:
            problems.append(
                "checksum drift: %s was applied with sha256 %s but the file now has %s. An applied migration must "
                "not be edited: restore the file, or put the change in a new migration. If the edit is harmless "
                "(comments, whitespace), record the new checksum with pg_migrate_repair=true."
                % (item["script"], item["recorded_checksum"], item["file_checksum"])
            )

    missing = [
        {"version": row["version"], "script": row["script"]}
        for key, row in sorted(succeeded.items())
        if key not in by_key
    ]
    for item in missing:
        problems.append(
            "missing: version %s (%s) is recorded as applied but its file is not in the change set. Restore the "
            "file; migrations that ran must stay in the change set." % (item["version"], item["script"])
        )

    pending = []
    out_of_order = []
    for migration in migrations:
        key = version_key(migration["version"])
        if key in applied_keys:
            continue
        if target_key is not None and key > target_key:
            continue
        if highest_applied is not None and key < highest_applied:
            out_of_order.append(migration["version"])
        entry = _migration_view(migration)
        entry["retry_of_failed_run"] = key in failed
        pending.append(entry)
    if out_of_order and not allow_out_of_order:
        problems.append(
            "out of order: pending version(s) %s sort below the highest applied version %s. Renumber them above "
            "it, or set pg_migrate_allow_out_of_order=true if they are independent of what was applied since."
            % (", ".join(out_of_order), _display(highest_applied, migrations, succeeded))
        )

    repeatables = []
    last_repeatable = {}
    for row in history:
        if row.get("kind") == "repeatable" and row.get("success", True):
            last_repeatable[row["script"]] = row  # history is read in installed order: the last one wins
    for repeatable in sorted(changeset.get("repeatables", []), key=lambda r: r["script"]):
        recorded = last_repeatable.get(repeatable["script"])
        if recorded is None or not same_checksum(recorded["checksum"], repeatable):
            repeatables.append(
                {
                    "script": repeatable["script"],
                    "description": repeatable["description"],
                    "checksum": repeatable["checksum"],
                    "transactional": repeatable["transactional"],
                    "reason": "new" if recorded is None else "changed",
                }
            )

    from_version = _display(highest_applied, migrations, succeeded)
    if pending:
        to_version = (
            pending[-1]["version"]
            if highest_applied is None or version_key(pending[-1]["version"]) > highest_applied
            else from_version
        )
    else:
        to_version = from_version
    return {
        "from_version": from_version,
        "to_version": to_version,
        "applied": [succeeded[key]["version"] for key in sorted(succeeded)],
        "pending": pending,
        "pending_versions": [m["version"] for m in pending],
        "baseline": baseline,
        "drift": drift,
        "repair": drift if repair_checksums else [],
        "missing": missing,
        "out_of_order": out_of_order,
        "failed_before": [failed[key]["version"] for key in sorted(failed) if key not in succeeded],
        "repeatables": repeatables,
        "problems": problems,
    }


def _target_below_current(target_version: str, current: str) -> str:
    """A migrate target below the database's version: migrate only goes forward, so point at the rollback."""
    return (
        "pg_migrate_target_version %s is below the version the database is at (%s): migrate only goes forward. "
        "To go back to %s, run a rollback (pg_migrate_action=rollback) with -e pg_migrate_target_version=%s "
        "instead (try it with --check first)." % (target_version, current, target_version, target_version)
    )


def _rollback_target_problem(
    target_version: str, target_key: tuple, by_key: dict, applied: dict, from_version: str
) -> str | None:
    """Why TARGET_VERSION cannot be a rollback's target, or None: a rollback only goes back, to a real version."""
    if target_key == version_key(NO_VERSION) or target_key in applied:
        return None
    if target_key not in by_key:
        known = sorted(by_key)
        versions = "%s to %s" % (by_key[known[0]]["version"], by_key[known[-1]]["version"]) if known else "none"
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


def plan_rollback(changeset, history, target_version):
    """What `rollback` to TARGET_VERSION would revert, newest first, and what stops it."""
    problems = []
    try:
        target_key = version_key(target_version)
    except (ValueError, TypeError) as exc:
        return {
            "revert": [],
            "problems": ["pg_migrate_target_version is required for a rollback: %s" % exc],
            "from_version": None,
            "to_version": None,
        }
    by_key = {version_key(m["version"]): m for m in changeset.get("migrations", [])}
    applied = {}
    for row in history:
        if is_applied(row):
            applied[version_key(row["version"])] = row
    highest = max(applied) if applied else None
    from_version = applied[highest]["version"] if highest is not None else NO_VERSION
    target_problem = _rollback_target_problem(target_version, target_key, by_key, applied, from_version)
    if target_problem:
        problems.append(target_problem)

    revert = []
    for key in sorted(applied, reverse=True):
        if key <= target_key:
            break
        row = applied[key]
        migration = by_key.get(key)
        if row.get("kind") == "baseline":
            problems.append(
                "version %s was adopted by baseline, not applied by pg_migrate: its schema predates this tool, so "
                "pg_migrate will not revert it. Choose a target at or above %s." % (row["version"], row["version"])
            )
            continue
        if migration is None:
            problems.append(
                "version %s (%s) is applied but not in the change set: restore its files before "
                "reverting it." % (row["version"], row["script"])
            )
            continue
        if not migration.get("revert"):
            problems.append(
                "no revert script for %s: add U%s__%s.sql before rolling back past it."
                % (migration["script"], migration["version"], migration["description_slug"])
            )
            continue
        if not same_checksum(row["checksum"], migration):
            problems.append(
                "checksum drift: %s changed since it was applied (sha256 %s, now %s); its revert may not "
                "match what ran. Resolve the drift first."
                % (migration["script"], row["checksum"], migration["checksum"])
            )
            continue
        revert.append(
            {
                "version": migration["version"],
                "script": migration["revert"]["script"],
                "checksum": migration["revert"]["checksum"],
                "transactional": migration["revert"]["transactional"],
            }
        )
    remaining = [key for key in applied if key <= target_key]
    to_version = applied[max(remaining)]["version"] if remaining else NO_VERSION
    return {
        "revert": revert,
        "problems": problems,
        "from_version": from_version,
        "to_version": to_version,
        "revert_versions": [r["version"] for r in revert],
    }


def _display(key, migrations, succeeded):
    if key is None:
        return NO_VERSION
    if key in succeeded:
        return succeeded[key]["version"]
    for migration in migrations:
        if version_key(migration["version"]) == key:
            return migration["version"]
    return ".".join(str(part) for part in key)


def next_backfill_step(phase, cursor, linked, last, high_water):
    """The keyset loop as a pure step: (phase, cursor, done) after one batch.

    A forward pass walks the cursor up; once it links nothing, or passes the newest row that existed
    when the backfill started (high_water), one sweep from the start picks up rows skipped while
    another session held them. The backfill is done when the sweep ends the same way. Rows added
    after the start are not chased: with claims arriving all the time, that would never end.
    """
    beyond_mark = high_water is not None and last is not None and last >= high_water
    if linked and not beyond_mark:
        return phase, last, False
    if phase == "forward" and (cursor or linked):
        return "sweep", 0, False
    return phase, cursor, True
