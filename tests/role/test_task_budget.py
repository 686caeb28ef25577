"""What a run costs in Ansible tasks per host: few, and flat in the number of migrations.

Counts, not times: the executed tasks of the recap (ok, which includes changed; skipped tasks do not count)."""

from __future__ import annotations

import pytest

from tests.pgdb import Database

# (execution, run) -> executed tasks: pg_migrate_run (which also checks the role's variables against its argument
# spec: the playbooks import the role with rolespec_validate: false) and the summary; the host path's change
# instead goes on to the include of job.yml, the background job, its watch, the reports of the job and the
# summary. (The meta task that ends the role after the summary is decided in the controller: no task runs.)
BUDGET = {
    ("controller", "apply"): 2,
    ("controller", "no-op"): 2,
    ("host", "apply"): 6,
    ("host", "no-op"): 2,
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
