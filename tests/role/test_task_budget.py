"""What a run costs in Ansible tasks per host (issue 12): few, and flat in the number of migrations.

Counts, not times: the executed tasks of the recap (ok, which includes changed; skipped tasks do not count)."""

from __future__ import annotations

import pytest

from tests.pgdb import Database

# (execution, run) -> executed tasks: the role's argument check, pg_migrate_run, the summary; the host path's
# change adds the include of job.yml, the background job, its watch and the reports of the job.
BUDGET = {
    ("controller", "apply"): 3,
    ("controller", "no-op"): 3,
    ("host", "apply"): 7,
    ("host", "no-op"): 3,
}


@pytest.mark.parametrize("execution", ["controller", "host"])
def test_a_migrate_executes_few_tasks_per_host_on_both_paths(db: Database, play, execution: str):
    path = ("-e", f"pg_migrate_execution={execution}")
    apply = play("migrate.yml", *path).assert_ok()
    noop = play("migrate.yml", *path).assert_ok()
    assert "nothing pending: already at 005" in noop.output
    executed = {"apply": apply.recap["localhost"]["ok"], "no-op": noop.recap["localhost"]["ok"]}
    assert executed == {run: BUDGET[(execution, run)] for run in ("apply", "no-op")}, apply.output
    assert executed["no-op"] <= 6 and executed["apply"] <= 8  # the ceiling
