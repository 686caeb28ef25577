# pg_migrate: apply a change set: the version check's plan, then each pending migration with its history
# row (in a transaction, or statement by statement for a marked no-transaction script), baselines,
# repeatable scripts (the seed) and the check-mode rehearsal.
#
# Every run_* function takes a session.Runner, whether this is check mode and whether a diff was asked for, and
# returns what it did (outcome.ActionOutcome); it raises errors.RunFailed with the operator's message, or
# outcome.ActionFailed once it has something to report (the plan, what it applied before it stopped).

from __future__ import annotations

import time
from dataclasses import replace

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Migration, Repeatable, Script
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import (
    RunFailed,
    StatementFailed,
    failure_message,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import problem_list, some_words
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import (
    APPLIED_KINDS,
    is_applied,
    version_key,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.adoption import ForeignHistory
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.migrate import plan_migrate
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.model import (
    FailedAttempt,
    MigratePlan,
    PlannedRepeatable,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.foreign_history import read_foreign_history
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.outcome import (
    ActionFailed,
    ActionOutcome,
    Applied,
    Rehearsal,
    RepeatableApplied,
    stopped_by,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.session import Runner
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.units import (
    NOT_REHEARSED,
    apply_one,
    apply_transactional,
    group_for_execution,
    run_afresh,
    run_verify_script,
    verifies,
)

# Where a refusal's full list of problems is, when its message shows only the first ones.
REPORTED_PROBLEMS = "the run report's plan.problems lists every one"


# --- the plan and what it asks for ------------------------------------------------------------------------
def render_diff(runner: Runner, entries: list[tuple[str, Script]], header: str) -> str:
    """The diff text of ENTRIES, (label, script) pairs: each script under its header line."""
    chunks = []
    for label, entry in entries:
        chunks.append(
            "-- ===== %s: %s (%s) =====\n%s" % (header, entry.script, label, runner.scripts.text(entry).rstrip("\n"))
        )
    return "\n\n".join(chunks) + ("\n" if chunks else "")


def failed_attempts(history: list[dict]) -> list[dict]:
    """Failed attempts the history records (a marked script that stopped half-way) and no later success."""
    succeeded = {row["version"] for row in history if is_applied(row)}
    return [
        {"version": row["version"], "script": row["script"], "at": row.get("applied_at"), "by": row.get("applied_by")}
        for row in history
        if not row.get("success", True) and row.get("version") and row["version"] not in succeeded
    ]


def foreign_history(runner: Runner, history: list[dict]) -> ForeignHistory | None:
    """The other tool's history to adopt (pg_migrate_adopt), read only while pg_migrate has none of its own."""
    params = runner.params
    if not params.get("adopt") or any(row.get("kind") in APPLIED_KINDS for row in history):
        return None
    return read_foreign_history(runner.session, params["adopt"], params.get("adopt_table"), params["login_db"])


def migrate_plan(runner: Runner, history: list[dict]) -> MigratePlan:
    """The migrate plan of the run's change set and options (target, baseline or adoption, out-of-order,
    repair) on HISTORY."""
    params = runner.params
    return plan_migrate(
        runner.changeset,
        history,
        params["target_version"],
        params["baseline_version"],
        params["allow_out_of_order"],
        params["repair"],
        foreign_history(runner, history),
    )


def adopt_noted(runner: Runner, plan: MigratePlan) -> MigratePlan:
    """PLAN; pg_migrate_adopt on a database pg_migrate already keeps the history of does nothing: say so, so a
    setting left in the inventory after the adoption is noticed (and the other tool's later runs are not
    taken for ours)."""
    tool = runner.params.get("adopt")
    if tool and plan.adopted_from is None:
        runner.warn(
            "pg_migrate_adopt=%s does nothing on %s: pg_migrate already keeps its history (at version %s), "
            "and only that counts now. Remove pg_migrate_adopt once the database is adopted."
            % (tool, runner.params["login_db"], plan.from_version)
        )
    return plan


def run_plan(runner: Runner, check: bool = False, diff: bool = False) -> ActionOutcome:
    """The status: what a run would do, the failed attempts the history records and INVALID indexes."""
    history = runner.history.read()
    plan = replace(
        adopt_noted(runner, migrate_plan(runner, history)),
        failed_attempts=tuple(FailedAttempt(**attempt) for attempt in failed_attempts(history)),
        invalid_indexes=tuple(runner.session.invalid_indexes()),
    )
    return ActionOutcome(plan=plan)


def plan_at_latest(runner: Runner, step: str, migrate_note: str = "") -> MigratePlan:
    """The plan of a data step (seed, backfill): refused unless every migration is applied and nothing drifted."""
    params = runner.params
    plan = plan_migrate(runner.changeset, runner.history.read(), None, None, params["allow_out_of_order"], False)
    if plan.pending:
        raise refused(
            "the %s needs the change set's schema, but %s is at version %s with %d migration(s) pending (%s): "
            "run a migrate (pg_migrate_action=migrate) first%s; nothing was changed."
            % (
                step,
                params["login_db"],
                plan.from_version,
                len(plan.pending),
                some_words(plan.pending_versions),
                migrate_note,
            ),
            plan,
        )
    if plan.problems:
        raise refused(
            "the version check stopped the %s on %s; nothing was changed:\n%s"
            % (step, params["login_db"], problem_list(plan.problems, REPORTED_PROBLEMS)),
            plan,
        )
    return plan


def refused(message: str, plan: object) -> ActionFailed:
    """A run the plan stopped before any change: the plan is still reported."""
    return ActionFailed(RunFailed(message), ActionOutcome(plan=plan))


def checked_plan(runner: Runner, history: list[dict]) -> MigratePlan:
    """The migrate plan, refused when the version check found problems; repeatables wait for the latest version."""
    params = runner.params
    plan = adopt_noted(runner, migrate_plan(runner, history))
    latest = runner.changeset.latest_version
    if plan.repeatables and latest and version_key(plan.to_version) < version_key(latest):
        # Seeds are written against the change set's latest schema: a run that stops below it
        # (pg_migrate_target_version) leaves them for the run that gets there.
        plan = replace(plan, repeatables_deferred=tuple(r.script for r in plan.repeatables), repeatables=())
    if plan.problems:
        raise refused(
            "the version check stopped the run on %s; nothing was changed:\n%s"
            % (params["login_db"], problem_list(plan.problems, REPORTED_PROBLEMS)),
            plan,
        )
    return plan


# --- the actions ------------------------------------------------------------------------------------------
def run_migrate(runner: Runner, check: bool, diff: bool) -> ActionOutcome:
    """Apply what the plan says is pending (in check mode: only say so, or rehearse it with rehearse=true)."""
    params = runner.params
    rehearse = check and params["rehearse"]
    if not check or rehearse:
        runner.lock.acquire()
    plan = checked_plan(runner, runner.history.read())
    so_far = ActionOutcome(plan=plan)
    try:
        pending, pending_repeatables = scripts_to_run(runner, plan)
        if diff and plan.changes_something:
            so_far = replace(so_far, diff=migrate_diff(runner, plan, pending, check))
        if check:
            rehearsal = rehearse_migrations(runner, pending, pending_repeatables) if rehearse else None
            return replace(so_far, changed=plan.changes_something, rehearsal=rehearsal)
        so_far = prepare_history(runner, plan, so_far)
        so_far, current = apply_pending(runner, plan, pending, so_far)
        so_far = apply_repeatables(runner, pending_repeatables, current, so_far)
    except ActionFailed:
        raise
    except Exception as exc:
        raise ActionFailed(exc, so_far) from exc
    return replace(so_far, plan=replace(plan, to_version=current if pending else plan.to_version))


def scripts_to_run(runner: Runner, plan: MigratePlan) -> tuple[list[Migration], list[Repeatable]]:
    """(pending migrations, pending repeatables), every file this run may execute checked against its checksum
    before anything is changed."""
    migrations, repeatables = runner.changeset.migration_of, runner.changeset.repeatable_of
    pending = [migrations[version] for version in plan.pending_versions]
    pending_repeatables = [repeatables[r.script] for r in plan.repeatables]
    for migration in pending:
        runner.scripts.text(migration)
        if runner.params["verify"] and migration.verify:
            runner.scripts.text(migration.verify)
    for migration in plan.baseline:
        full = migrations[migration.version]
        if full.verify:
            runner.scripts.text(full.verify)
    for repeatable in pending_repeatables:
        runner.scripts.text(repeatable)
    return pending, pending_repeatables


def migrate_diff(runner: Runner, plan: MigratePlan, pending: list[Migration], check: bool) -> dict:
    """The diff of a migrate: the scripts it runs (would run, in check mode)."""
    login_db = runner.params["login_db"]
    repeatables = runner.changeset.repeatable_of
    entries = [("pending", m) for m in pending] + [
        ("repeatable, %s" % r.reason, repeatables[r.script]) for r in plan.repeatables
    ]
    return {
        "before": "",
        "after": render_diff(runner, entries, "would run" if check else "ran"),
        "before_header": "%s @ %s" % (login_db, plan.from_version),
        "after_header": "%s @ %s" % (login_db, plan.to_version),
    }


def prepare_history(runner: Runner, plan: MigratePlan, so_far: ActionOutcome) -> ActionOutcome:
    """The history table (only a run that passed the version check creates it: a refused run creates
    nothing), the repaired checksums and the baseline."""
    migrations = runner.changeset.migration_of
    so_far = replace(so_far, changed=runner.history.ensure() or so_far.changed)
    if plan.repair:
        repaired = tuple(item.to_dict() for item in plan.repair)
        runner.history.repair_checksums(list(repaired))
        so_far = replace(so_far, repaired=repaired, changed=True)
    if plan.baseline:
        baseline_migrations(runner, [migrations[m.version] for m in plan.baseline])
        so_far = replace(so_far, changed=True)
    return so_far


def apply_pending(
    runner: Runner, plan: MigratePlan, pending: list[Migration], so_far: ActionOutcome
) -> tuple[ActionOutcome, str | None]:
    """Each pending migration (or group of them) with its history row: (the outcome, the version now)."""
    current = plan.from_version if not plan.baseline else plan.baseline[-1].version
    number = 0
    for group in group_for_execution(pending, runner.params["group_transactions"]):
        number += len(group)
        runner.note_progress(" + ".join(m.script for m in group), number, len(pending))
        try:
            if group[0].transactional:
                timings, waits = apply_transactional(runner, [("migration", m, m) for m in group])
            else:
                timings, waits = apply_one(runner, "migration", group[0])
        except StatementFailed as failure:
            raise stopped_by(failure, "migrate", current, so_far) from None
        except Exception as exc:
            raise ActionFailed(exc, so_far) from exc
        applied = tuple(
            Applied(
                m.version,
                m.script,
                m.checksum,
                round(duration, 1),
                waits.attempts,
                m.transactional,
                waits.wait_ms,
                waits.blocked_by(),
            )
            for m, duration in zip(group, timings, strict=True)
        )
        so_far = replace(so_far, applied=so_far.applied + applied, changed=True)
        current = group[-1].version
    return so_far, current


def apply_repeatables(
    runner: Runner, repeatables: list[Repeatable], current: str | None, so_far: ActionOutcome, action: str = "migrate"
) -> ActionOutcome:
    """Each of REPEATABLES with its history row, in its own transaction (or statement by statement)."""
    for repeatable in repeatables:
        try:
            timings, _waits = apply_one(runner, "repeatable", repeatable)
        except StatementFailed as failure:
            raise stopped_by(failure, action, current, so_far) from None
        except Exception as exc:
            raise ActionFailed(exc, so_far) from exc
        applied = RepeatableApplied(repeatable.script, repeatable.checksum, round(timings[0], 1))
        so_far = replace(so_far, repeatables_applied=(*so_far.repeatables_applied, applied), changed=True)
    return so_far


def run_seed(runner: Runner, check: bool, diff: bool) -> ActionOutcome:
    """The repeatable scripts (the seed) on their own, on a database whose migrations are all applied."""
    params = runner.params
    changeset = runner.changeset
    if not changeset.repeatables:
        raise RunFailed(
            "the change set has no seed (no R__*.sql in pg_migrate_seeds_dir); nothing was changed. "
            "Check pg_migrate_seeds_dir and pg_migrate_seeds_enabled in this environment's group_vars."
        )
    if not check:
        runner.lock.acquire()
    plan = plan_at_latest(runner, "seed", " (it applies the enabled seed too)")
    if params["force"]:
        listed = {r.script for r in plan.repeatables}
        forced = tuple(
            PlannedRepeatable(script=r.script, reason="forced", checksum=r.checksum)
            for r in changeset.repeatables
            if r.script not in listed
        )
        plan = replace(plan, repeatables=plan.repeatables + forced)
    so_far = ActionOutcome(plan=plan)
    try:
        seeds = [changeset.repeatable_of[r.script] for r in plan.repeatables]
        for seed in seeds:
            runner.scripts.text(seed)
        if diff and seeds:
            after = render_diff(runner, [("seed", s) for s in seeds], "would run" if check else "ran")
            so_far = replace(so_far, diff={"before": "", "after": after})
        if check:
            return replace(so_far, changed=bool(seeds))
        return apply_repeatables(runner, seeds, plan.from_version, so_far, "seed")
    except ActionFailed:
        raise
    except Exception as exc:
        raise ActionFailed(exc, so_far) from exc


def baseline_migrations(runner: Runner, migrations: list[Migration]) -> None:
    """Adopt an existing schema: its verify scripts must pass, then the versions are recorded, not run."""

    def work() -> None:
        for migration in migrations:
            if migration.verify:
                try:
                    run_afresh(runner, migration.verify)
                except StatementFailed as failure:
                    raise RunFailed(
                        "baseline refused: %s fails on this database [SQLSTATE %s]: %s. The database does not have "
                        "the schema of version %s, so it cannot be adopted at that version; nothing was changed."
                        % (failure.script, failure.sqlstate, failure.error, migration.version)
                    ) from None
            runner.history.record("baseline", migration, migration, 0, True)

    runner.session.in_transaction("the baseline", work, retry=False)


def rehearse_migrations(runner: Runner, pending: list[Migration], repeatables: list[Repeatable]) -> Rehearsal:
    """Execute the pending transactional scripts in ONE transaction, then roll it back."""
    rehearsed: list[dict] = []
    not_rehearsed: list[dict] = []

    def work() -> None:
        runner.history.create_uncommitted()
        for kind, item in [("migration", m) for m in pending] + [("repeatable", r) for r in repeatables]:
            if not item.transactional:
                not_rehearsed.append({"script": item.script, "reason": NOT_REHEARSED})
                continue
            started = time.monotonic()
            try:
                run_afresh(runner, item)
                if verifies(runner, kind, item):
                    run_verify_script(runner, item)
            except StatementFailed as failure:
                message = failure_message(failure, "rehearsal", None)
                raise RunFailed("rehearsal failed (everything was rolled back, nothing changed): " + message) from None
            rehearsed.append({"script": item.script, "duration_ms": round((time.monotonic() - started) * 1000, 1)})

    runner.session.in_transaction("the rehearsal", work, commit=False, retry=False)
    return Rehearsal(tuple(rehearsed), tuple(not_rehearsed))
