# pg_migrate: revert newest first down to a target version, each revert together with the removal of its
# history row; refused before the first revert when the plan has problems or the rehearsal of the chain of
# reverts fails.

from __future__ import annotations

import time
from dataclasses import replace

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Migration, Script
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import (
    RunFailed,
    StatementFailed,
    excerpt,
    lock_timeout_advice,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import problem_list
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import highest_applied_below
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.model import RollbackPlan
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.rollback import plan_rollback
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.apply import REPORTED_PROBLEMS, render_diff
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.outcome import (
    ActionFailed,
    ActionOutcome,
    Rehearsal,
    Reverted,
    stopped_by,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.session import Runner
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.table_locks import LockWaits
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.units import (
    NOT_REHEARSED,
    execute_outside_transaction,
    run_afresh,
)


def run_rollback(runner: Runner, check: bool, diff: bool) -> ActionOutcome:
    """Revert newest first down to the target, each revert with its history row; refused before the first one
    when the plan has problems or the rehearsal of the chain fails, so a rollback never stops half way for a
    reason that was known in advance."""
    params = runner.params
    if params["target_version"] in (None, ""):
        raise RunFailed("a rollback needs pg_migrate_target_version (the version to go back to; 000 reverts all)")
    # Check mode too: it rehearses the reverts like the real run, so it needs the same stable history.
    runner.lock.acquire()
    history = runner.history.read()
    plan = plan_rollback(runner.changeset, history, params["target_version"])
    so_far = ActionOutcome(plan=plan)
    if plan.problems:
        raise ActionFailed(
            RunFailed(
                "the rollback of %s to %s was refused; nothing was changed:\n%s"
                % (params["login_db"], params["target_version"], problem_list(plan.problems, REPORTED_PROBLEMS))
            ),
            so_far,
        )
    migrations = runner.changeset.migration_of
    reverts = [(migrations[item.version], migrations[item.version].revert) for item in plan.revert]
    try:
        for _migration, revert in reverts:
            runner.scripts.text(revert)
        if diff and reverts:
            after = render_diff(runner, [("revert", r) for _migration, r in reverts], "would run" if check else "ran")
            so_far = replace(so_far, diff={"before": "", "after": after})
        if reverts:
            rehearsal = rehearse_reverts(runner, [revert for _migration, revert in reverts], plan, check, so_far)
            so_far = replace(so_far, rehearsal=rehearsal)
        if check:
            return replace(so_far, changed=bool(reverts))
        return revert_all(runner, reverts, history, so_far)
    except ActionFailed:
        raise
    except Exception as exc:
        raise ActionFailed(exc, so_far) from exc


def revert_all(
    runner: Runner, reverts: list[tuple[Migration, Script]], history: list[dict], so_far: ActionOutcome
) -> ActionOutcome:
    """Each (migration, revert) of REVERTS in order, with the removal of its history row."""
    plan = so_far.plan
    current = plan.from_version
    for number, (migration, revert) in enumerate(reverts, start=1):
        runner.note_progress(revert.script, number, len(reverts))
        try:
            duration, waits = revert_one(runner, migration.version, revert)
        except StatementFailed as failure:
            raise stopped_by(failure, "rollback", current, so_far) from None
        except Exception as exc:
            raise ActionFailed(exc, so_far) from exc
        reverted = Reverted(
            migration.version,
            revert.script,
            round(duration, 1),
            waits.attempts,
            waits.wait_ms,
            waits.blocked_by(),
            nothing_to_undo=not revert.statements,
        )
        plan = replace(plan, revert_versions=tuple(v for v in plan.revert_versions if v != migration.version))
        so_far = replace(so_far, plan=plan, reverted=(*so_far.reverted, reverted), changed=True)
        current = highest_applied_below(history, migration.version)
    return so_far


def revert_one(runner: Runner, version: str, revert: Script) -> tuple[float, LockWaits]:
    """REVERT together with the removal of VERSION's history row: (duration_ms, what its locks cost)."""
    if not revert.transactional:
        duration, waits = execute_outside_transaction(runner, revert)
        runner.history.remove_migration(version)
        runner.session.set_autocommit(False)
        return duration, waits

    def work() -> float:
        started = time.monotonic()
        run_afresh(runner, revert)
        runner.history.remove_migration(version)
        return (time.monotonic() - started) * 1000

    return runner.session.in_transaction(revert.script, work)


def rehearse_reverts(
    runner: Runner, reverts: list[Script], plan: RollbackPlan, check: bool, so_far: ActionOutcome
) -> Rehearsal:
    """Run the transactional REVERTS of the plan, in order, in ONE transaction, then roll it back.

    Each real revert commits on its own, so a revert that refuses late in the chain (one that guards data a
    later migration made) would leave the database half way, at a version nobody asked for. Its refusal is
    found here first, while the database is still where it was. A marked no-transaction revert cannot run
    in a transaction: it is skipped and listed in "not_rehearsed". The rehearsal holds the same table locks
    as the real reverts, with the run's timeouts and lock-timeout retries.
    """
    transactional = [revert for revert in reverts if revert.transactional]
    skipped = [{"script": revert.script, "reason": NOT_REHEARSED} for revert in reverts if not revert.transactional]

    def work() -> list[dict]:
        rehearsed = []
        for number, revert in enumerate(transactional, start=1):
            if not check:  # check mode runs in the foreground, with no watcher to read the note
                runner.note_progress("%s (rehearsal)" % revert.script, number, len(transactional))
            started = time.monotonic()
            run_afresh(runner, revert)
            rehearsed.append({"script": revert.script, "duration_ms": round((time.monotonic() - started) * 1000, 1)})
        return rehearsed

    rehearsed = []
    if transactional:
        try:
            rehearsed, _attempts = runner.session.in_transaction("the rehearsal of the reverts", work, commit=False)
        except StatementFailed as failure:
            refusal = RunFailed(rehearsal_refusal(runner.params, plan, failure, check))
            raise ActionFailed(refusal, replace(so_far, failure=failure.summary())) from None
    return Rehearsal(tuple(rehearsed), tuple(skipped))


def rehearsal_refusal(params: dict, plan: RollbackPlan, failure: StatementFailed, check: bool) -> str:
    """The refusal of a rollback whose rehearsal failed: which revert would refuse, the server's reason, the fix."""
    message = (
        "the rollback of %s to %s %s; nothing was changed (the database is still at version %s, its history as it "
        "was). The rehearsal, which runs the reverts in one transaction and rolls it back, stopped at %s, statement "
        "%d (line %d) [SQLSTATE %s]: %s. Statement: %s."
        % (
            params["login_db"],
            params["target_version"],
            "would be refused" if check else "was refused before its first revert",
            plan.from_version,
            failure.script,
            failure.number,
            failure.line,
            failure.sqlstate,
            failure.error,
            excerpt(failure.statement),
        )
    )
    return (
        message
        + lock_timeout_advice(failure)
        + (
            " Remove the cause the server names and run the rollback again; or stay at %s and fix forward with a new "
            "migration." % plan.from_version
        )
    )
