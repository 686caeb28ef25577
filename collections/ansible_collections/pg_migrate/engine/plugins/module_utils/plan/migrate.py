# pg_migrate: the version-check guard of a migrate (a status, seed and backfill read the same plan).
#
# Given the change set (what the controller found on disk) and the history table (what the database says
# was applied), decide what a run would do: which migrations are pending, which applied files were edited
# since (drift), which applied versions have no file any more (missing), which pending versions sort below
# an applied one (out of order) and what a baseline adopts (given by pg_migrate_baseline_version, or read from
# another tool's history by pg_migrate_adopt: plan/adoption.py). No I/O here: the run calls this under its
# advisory lock, and the tests call it directly.

from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Changeset, Migration
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import (
    APPLIED_KINDS,
    NO_VERSION,
    is_applied,
    version_key,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.adoption import ForeignHistory, adopted_up_to
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.model import (
    Drift,
    MigratePlan,
    Missing,
    PlannedMigration,
    PlannedRepeatable,
)


@dataclass
class _History:
    """The versioned rows of the history by version key: the ones that succeeded and the failed ones."""

    rows: list[dict]
    succeeded: dict[tuple, dict] = field(default_factory=dict)
    failed: dict[tuple, dict] = field(default_factory=dict)

    @classmethod
    def of(cls, history: list[dict]) -> _History:
        read = cls([row for row in history if row.get("kind") in APPLIED_KINDS])
        for row in read.rows:
            (read.succeeded if is_applied(row) else read.failed)[version_key(row["version"])] = row
        return read


def _planned(migration: Migration, retry_of_failed_run: bool | None = None) -> PlannedMigration:
    return PlannedMigration(
        version=migration.version,
        description=migration.description,
        script=migration.script,
        checksum=migration.checksum,
        transactional=migration.transactional,
        retry_of_failed_run=retry_of_failed_run,
    )


def target_below_current(target_version: str, current: str) -> str:
    """A migrate target below the database's version: migrate only goes forward, so point at the rollback."""
    return (
        "pg_migrate_target_version %s is below the version the database is at (%s): migrate only goes forward. "
        "To go back to %s, run a rollback (pg_migrate_action=rollback) with -e pg_migrate_target_version=%s "
        "instead (try it with --check first)." % (target_version, current, target_version, target_version)
    )


def _target_key(
    target_version: str | None, migrations: list[Migration], history: _History, problems: list[str]
) -> tuple | None:
    """The key of a migrate's target version (None: no target); what is wrong with it goes to PROBLEMS."""
    if target_version in (None, ""):
        return None
    try:
        target_key = version_key(target_version)
    except ValueError as exc:
        problems.append("pg_migrate_target_version: %s" % exc)
        return None
    known = {version_key(m.version) for m in migrations}
    succeeded = history.succeeded
    if target_key != version_key(NO_VERSION) and target_key not in known:
        latest = migrations[-1].version if migrations else NO_VERSION
        problems.append("pg_migrate_target_version %s matches no migration (latest is %s)" % (target_version, latest))
    elif succeeded and target_key < max(succeeded):
        problems.append(target_below_current(target_version, succeeded[max(succeeded)]["version"]))
    return target_key


def _baseline(
    baseline_version: str | None, migrations: list[Migration], history: _History, problems: list[str]
) -> tuple[PlannedMigration, ...]:
    """What a baseline adopts: the migrations up to BASELINE_VERSION, on a database without a history only."""
    if baseline_version in (None, "") or history.rows:
        return ()
    try:
        baseline_key = version_key(baseline_version)
    except ValueError as exc:
        problems.append("pg_migrate_baseline_version: %s" % exc)
        return ()
    if baseline_key not in {version_key(m.version) for m in migrations}:
        problems.append("pg_migrate_baseline_version %s matches no migration" % baseline_version)
        return ()
    return tuple(_planned(m) for m in migrations if version_key(m.version) <= baseline_key)


def _adoption(
    foreign: ForeignHistory | None, migrations: list[Migration], history: _History, problems: list[str]
) -> tuple[str | None, dict | None]:
    """(the version an adoption baselines up to, where it came from): only on a database without our history.
    Once pg_migrate has a history it is the record and the other tool's table is not read (None, None)."""
    if foreign is None or history.rows:
        return None, None
    up_to, refused = adopted_up_to(foreign, [m.version for m in migrations])
    problems.extend("adopt: %s" % problem for problem in refused)
    source = {"tool": foreign.tool, "table": foreign.table, "up_to": up_to, "notes": list(foreign.notes)}
    return up_to, source


def _drift(by_key: dict[tuple, Migration], history: _History) -> tuple[Drift, ...]:
    """Applied migrations whose file changed since they ran."""
    return tuple(
        Drift(by_key[key].version, by_key[key].script, row["checksum"], by_key[key].checksum)
        for key, row in sorted(history.succeeded.items())
        if key in by_key and not by_key[key].same_checksum(row["checksum"])
    )


def _drift_problem(item: Drift) -> str:
    return (
        "checksum drift: %s was applied with sha256 %s but the file now has %s. An applied migration must "
        "not be edited: restore the file, or put the change in a new migration. If the edit is harmless "
        "(comments, whitespace), record the new checksum with pg_migrate_repair=true."
        % (item.script, item.recorded_checksum, item.file_checksum)
    )


def _missing(by_key: dict[tuple, Migration], history: _History) -> tuple[Missing, ...]:
    """Applied versions whose file is no longer in the change set."""
    return tuple(
        Missing(row["version"], row["script"]) for key, row in sorted(history.succeeded.items()) if key not in by_key
    )


def _missing_problem(item: Missing) -> str:
    return (
        "missing: version %s (%s) is recorded as applied but its file is not in the change set. Restore the "
        "file; migrations that ran must stay in the change set." % (item.version, item.script)
    )


def _display(key: tuple | None, migrations: list[Migration], succeeded: dict[tuple, dict]) -> str:
    """A version key as the history or the change set spells it."""
    if key is None:
        return NO_VERSION
    if key in succeeded:
        return succeeded[key]["version"]
    for migration in migrations:
        if version_key(migration.version) == key:
            return migration.version
    return ".".join(str(part) for part in key)


def _pending(
    migrations: list[Migration], applied_keys: set, target_key: tuple | None, failed: dict[tuple, dict]
) -> tuple[tuple[PlannedMigration, ...], tuple[str, ...]]:
    """(pending migrations up to the target, the pending versions that sort below the highest applied one)."""
    highest_applied = max(applied_keys) if applied_keys else None
    pending = []
    out_of_order = []
    for migration in migrations:
        key = version_key(migration.version)
        if key in applied_keys or (target_key is not None and key > target_key):
            continue
        if highest_applied is not None and key < highest_applied:
            out_of_order.append(migration.version)
        pending.append(_planned(migration, key in failed))
    return tuple(pending), tuple(out_of_order)


def _repeatables(changeset: Changeset, history: list[dict]) -> tuple[PlannedRepeatable, ...]:
    """The repeatable scripts that are new, or changed since their last successful run."""
    last_run = {}
    for row in history:
        if row.get("kind") == "repeatable" and row.get("success", True):
            last_run[row["script"]] = row  # history is read in installed order: the last one wins
    planned = []
    for repeatable in sorted(changeset.repeatables, key=lambda r: r.script):
        recorded = last_run.get(repeatable.script)
        if recorded is None or not repeatable.same_checksum(recorded["checksum"]):
            planned.append(
                PlannedRepeatable(
                    script=repeatable.script,
                    description=repeatable.description,
                    checksum=repeatable.checksum,
                    transactional=repeatable.transactional,
                    reason="new" if recorded is None else "changed",
                )
            )
    return tuple(planned)


def _to_version(pending: tuple[PlannedMigration, ...], highest_applied: tuple | None, from_version: str) -> str:
    """Where the pending migrations lead: the last one, unless they all sort below what is applied."""
    if pending and (highest_applied is None or version_key(pending[-1].version) > highest_applied):
        return pending[-1].version
    return from_version


def plan_migrate(
    changeset: Changeset,
    history: list[dict],
    target_version: str | None = None,
    baseline_version: str | None = None,
    allow_out_of_order: bool = False,
    repair_checksums: bool = False,
    adopt: ForeignHistory | None = None,
) -> MigratePlan:
    """What `migrate` would do on a database with HISTORY (the history table's rows as dicts: version,
    script, checksum, kind, success). ADOPT: another tool's history, the baseline's source instead of
    BASELINE_VERSION (the settings check refuses both). The plan's problems list everything that must stop the
    run."""
    migrations = sorted(changeset.migrations, key=lambda m: version_key(m.version))
    by_key = {version_key(m.version): m for m in migrations}
    read = _History.of(history)
    problems: list[str] = []
    target_key = _target_key(target_version, migrations, read, problems)
    adopted_version, adopted_from = _adoption(adopt, migrations, read, problems)
    baseline = _baseline(adopted_version or baseline_version, migrations, read, problems)
    applied_keys = set(read.succeeded) | {version_key(m.version) for m in baseline}
    highest_applied = max(applied_keys) if applied_keys else None

    drift = _drift(by_key, read)
    if not repair_checksums:
        problems.extend(_drift_problem(item) for item in drift)
    missing = _missing(by_key, read)
    problems.extend(_missing_problem(item) for item in missing)
    pending, out_of_order = _pending(migrations, applied_keys, target_key, read.failed)
    from_version = _display(highest_applied, migrations, read.succeeded)
    if out_of_order and not allow_out_of_order:
        problems.append(
            "out of order: pending version(s) %s sort below the highest applied version %s. Renumber them above "
            "it, or set pg_migrate_allow_out_of_order=true if they are independent of what was applied since."
            % (", ".join(out_of_order), from_version)
        )
    return MigratePlan(
        from_version=from_version,
        to_version=_to_version(pending, highest_applied, from_version),
        applied=tuple(read.succeeded[key]["version"] for key in sorted(read.succeeded)),
        pending=pending,
        pending_versions=tuple(m.version for m in pending),
        baseline=baseline,
        drift=drift,
        repair=drift if repair_checksums else (),
        missing=missing,
        out_of_order=out_of_order,
        failed_before=tuple(read.failed[key]["version"] for key in sorted(read.failed) if key not in read.succeeded),
        repeatables=_repeatables(changeset, history),
        problems=tuple(problems),
        adopted_from=adopted_from,
    )
