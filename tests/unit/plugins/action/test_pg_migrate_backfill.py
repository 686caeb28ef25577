"""What an operator reads while a backfill runs and after it (the pg_migrate_backfill action plugin)."""

from __future__ import annotations

from tests.unit.plugins import backfill

# The project's settings (playbooks/group_vars/all/changeset.yml): the engine itself says "rows".
AWARDS = {
    "unit": "awards",
    "blocked_hint": "no default policy version covers these awards yet: apply the seed first "
    "(playbooks/seed.yml), then run the backfill",
}


def test_backfill_progress_line_gives_share_batches_time_and_rate():
    line = backfill.progress_line("db1", "xp", 35000, 100000, 7, 12.5, "awards")
    assert line == "db1 xp: backfill 35,000 of 100,000 awards linked (35%), 7 batch(es), 12.5 s elapsed, 2,800 rows/s"
    assert "awards linked," in backfill.progress_line("db1", "xp", 10, None, 1, 0.0, "awards")  # total unknown, no rate


def test_backfill_summary_of_a_finished_run_and_of_a_dry_run():
    done = {"linked": 3000, "batches": 32, "batch_size": 100, "duration_s": 1.62, "done": True, "remaining": 0}
    assert backfill.summary_lines("db1", "xp", done, failed=False, **AWARDS) == [
        "db1 xp: backfill: linked 3,000 awards in 32 batch(es) of up to 100, 1.6 s",
        "  done: every award is linked",
    ]
    left = dict(done, remaining=12)
    assert "12 awards stay unlinked" in backfill.summary_lines("db1", "xp", left, failed=False, **AWARDS)[1]
    interrupted = dict(done, done=False)
    assert backfill.summary_lines("db1", "xp", interrupted, failed=True, **AWARDS)[1:] == [
        "  interrupted: committed batches stay; run the backfill again to continue",
        "  FAILED (details below)",
    ]
    dry = {"dry_run": True, "remaining": 500, "linkable": 0, "batches": 0, "batch_size": 5000}
    lines = backfill.summary_lines("db1", "xp", dry, failed=False, **AWARDS)
    assert lines[1] == "  would link 0 of 500 unlinked awards in about 0 batch(es) of 5,000"
    assert "apply the seed first" in lines[2]
    generic = backfill.summary_lines("db1", "app", dry, failed=False)
    assert generic[1] == "  would link 0 of 500 unlinked rows in about 0 batch(es) of 5,000"
    assert "blocked" in generic[2] and "award" not in " ".join(generic)
    assert backfill.summary_lines("db1", "app", done, failed=False)[1] == "  done: every row is linked"
