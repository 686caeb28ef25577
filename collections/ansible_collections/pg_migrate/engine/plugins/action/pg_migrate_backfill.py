"""pg_migrate_backfill: run the backfill through the pg_migrate module in time slices, with progress.

A module reports only when it returns, and a backfill over millions of rows runs for minutes. So this
controller-side action calls the pg_migrate module (action=backfill) again and again, each call
working for about `progress_every` seconds and returning its keyset cursor, and prints a progress
line between calls: rows done so far, of how many, batches, elapsed time and rate. The whole loop is
one task for Ansible (one iteration, however many rows), and the cost is one module round trip per
progress line. Stopping the controller stops the current call: its open batch rolls back, committed
batches stay, and the next run carries on with the rows still to do. Ansible's workers run in a
session of their own and outlive a killed ansible-playbook, so the loop also stops when its parent
process is gone: an orphaned backfill ends with its current time slice.

What the rows are is the change set's business: `unit` (a plural noun, default
pg_migrate_backfill_unit, else "rows") names them in the lines an operator reads, and `blocked_hint`
(default pg_migrate_backfill_blocked_hint) says what to do when the count finds rows that the batch
script cannot process yet. In check mode the module is called once and only counts (the dry run).
"""

from __future__ import annotations

import os
import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

# Keys of the module's backfill report that add up over the calls.
ADDITIVE = ("batches", "linked")
UNIT = "rows"
BLOCKED_HINT = (
    "the batch script cannot process these rows yet (it reports them blocked): provide what they wait for, "
    "then run the backfill again"
)


def singular(unit: str) -> str:
    """The singular of a plural noun, for "every <unit> is linked": rows -> row, entries -> entry."""
    if unit.endswith("ies"):
        return unit[:-3] + "y"
    return unit[:-1] if unit.endswith("s") else unit


def progress_line(
    host: str, database: str, linked: int, total: int | None, batches: int, elapsed: float, unit: str = UNIT
) -> str:
    """One line an operator can read at a glance while the backfill runs."""
    rate = linked / elapsed if elapsed > 0 else 0.0
    if total:
        share = "%s of %s %s linked (%.0f%%)" % (f"{linked:,}", f"{total:,}", unit, 100.0 * linked / total)
    else:
        share = "%s %s linked" % (f"{linked:,}", unit)
    return "%s %s: backfill %s, %d batch(es), %.1f s elapsed, %s rows/s" % (
        host,
        database,
        share,
        batches,
        elapsed,
        f"{rate:,.0f}",
    )


def blocked(report: dict) -> bool:
    """The count found rows to do, none of which the batch script can process yet."""
    return (report.get("remaining") or 0) > 0 and not report.get("linkable")


def summary_lines(
    host: str, database: str, report: dict, failed: bool, unit: str = UNIT, blocked_hint: str = BLOCKED_HINT
) -> list[str]:
    """The run summary of a backfill (also of its dry run)."""
    head = "%s %s: backfill" % (host, database)
    if report.get("dry_run"):
        return [
            "%s (check mode: nothing changed)" % head,
            "  would link %s of %s unlinked %s in about %d batch(es) of %s"
            % (
                f"{report.get('linkable') or 0:,}",
                f"{report.get('remaining') or 0:,}",
                unit,
                report.get("batches", 0),
                f"{report.get('batch_size', 0):,}",
            ),
            *(["  " + blocked_hint] if blocked(report) else []),
        ]
    lines = [
        "%s: linked %s %s in %d batch(es) of up to %s, %.1f s"
        % (
            head,
            f"{report.get('linked', 0):,}",
            unit,
            report.get("batches", 0),
            f"{report.get('batch_size', 0):,}",
            report.get("duration_s", 0.0),
        )
    ]
    if report.get("done"):
        left = report.get("remaining") or 0
        if left:
            lines.append(
                "  done: %s %s stay unlinked (the batch script could not process them yet, another session held "
                "them, or they arrived after the backfill started); run it again to retry them" % (f"{left:,}", unit)
            )
        else:
            lines.append("  done: every %s is linked" % singular(unit))
    elif failed:
        if blocked(report) and not report.get("linked"):
            lines.append("  " + blocked_hint)
        lines.append("  interrupted: committed batches stay; run the backfill again to continue")
    if failed:
        lines.append("  FAILED (details below)")
    return lines


def failure_text(outcome: dict) -> str:
    """A failed module result's message, also when Ansible carried it as an exception."""
    exception = outcome.get("exception")
    if isinstance(exception, dict):
        message = (exception.get("event") or {}).get("msg") or exception.get("msg")
        if message:
            return str(message)
    return "the pg_migrate module failed without a message: %s" % (
        outcome.get("module_stderr") or outcome.get("stderr") or outcome.get("module_stdout") or "no output"
    )


class ActionModule(ActionBase):
    """See the module docstring."""

    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        module_args = dict(self._task.args)
        progress_every = float(module_args.pop("progress_every", 10.0))
        unit = str(module_args.pop("unit", None) or self._role_var(task_vars, "pg_migrate_backfill_unit", UNIT))
        blocked_hint = str(
            module_args.pop("blocked_hint", None)
            or self._role_var(task_vars, "pg_migrate_backfill_blocked_hint", BLOCKED_HINT)
        )
        host = task_vars.get("inventory_hostname", "?")
        database = module_args.get("login_db", "?")
        check_mode = bool(self._task.check_mode)

        module_args.update(action="backfill", cursor=0, measure=True, max_seconds=0 if check_mode else progress_every)
        totals = {key: 0 for key in ADDITIVE}
        total = None
        started = time.monotonic()
        controller = os.getppid()
        while True:
            outcome = self._execute_module(module_name="pg_migrate", module_args=module_args, task_vars=task_vars)
            report = outcome.get("backfill") or {}
            for key in ADDITIVE:
                totals[key] += report.get(key, 0) or 0
            if total is None and report.get("remaining_at_start") is not None:
                total = report.get("linkable")
            if outcome.get("failed") or outcome.get("msg") or check_mode or report.get("done") or not report:
                break
            if os.getppid() != controller:  # ansible-playbook died: nobody is waiting for the rest
                outcome.update(failed=True, msg="the controller went away; the backfill stopped after a time slice")
                break
            display.display(
                progress_line(
                    host, database, totals["linked"], total, totals["batches"], time.monotonic() - started, unit
                )
            )
            module_args.update(
                cursor=report["cursor"], phase=report["phase"], high_water=report["high_water"], measure=False
            )

        if outcome.get("failed") and not outcome.get("msg"):
            outcome["msg"] = failure_text(outcome)
        if report:
            final = dict(report, **totals)
            if not check_mode:
                final["duration_s"] = round(time.monotonic() - started, 3)
                final["linked_of"] = total
            outcome["summary"] = summary_lines(host, database, final, bool(outcome.get("msg")), unit, blocked_hint)
        else:  # refused or broken before the first batch: nothing to report about batches
            final = None
            outcome["summary"] = ["%s %s: backfill did not start" % (host, database), "  FAILED (details below)"]
        outcome["backfill"] = final
        outcome["changed"] = (check_mode and bool(report.get("linkable"))) or totals["linked"] > 0
        outcome.pop("invocation", None)  # the module's arguments include the login password
        result.update(outcome)
        return result

    def _role_var(self, task_vars: dict, name: str, default: str) -> str:
        """A role variable the task did not pass (templated), or DEFAULT when it is unset or empty."""
        if name not in task_vars:
            return default
        return self._templar.template(task_vars[name]) or default
