"""What an operator reads while a long step runs, and how the watch reads a background job."""

from __future__ import annotations

import json

from tests.unit.plugins import backfill, changeset, plan, watch


def test_backfill_progress_line_gives_share_batches_time_and_rate():
    line = backfill.progress_line("db1", "xp", 35000, 100000, 7, 12.5)
    assert line == "db1 xp: backfill 35,000 of 100,000 awards linked (35%), 7 batch(es), 12.5 s elapsed, 2,800 rows/s"
    assert "awards linked," in backfill.progress_line("db1", "xp", 10, None, 1, 0.0)  # total unknown, no rate


def test_backfill_summary_of_a_finished_run_and_of_a_dry_run():
    done = {"linked": 3000, "batches": 32, "batch_size": 100, "duration_s": 1.62, "done": True, "remaining": 0}
    assert backfill.summary_lines("db1", "xp", done, failed=False) == [
        "db1 xp: backfill: linked 3,000 awards in 32 batch(es) of up to 100, 1.6 s",
        "  done: every award is linked",
    ]
    left = dict(done, remaining=12)
    assert "12 awards stay unlinked" in backfill.summary_lines("db1", "xp", left, failed=False)[1]
    interrupted = dict(done, done=False)
    assert backfill.summary_lines("db1", "xp", interrupted, failed=True)[1:] == [
        "  interrupted: committed batches stay; run the backfill again to continue",
        "  FAILED (details below)",
    ]
    dry = {"dry_run": True, "remaining": 500, "linkable": 0, "batches": 0, "batch_size": 5000}
    lines = backfill.summary_lines("db1", "xp", dry, failed=False)
    assert lines[1] == "  would link 0 of 500 unlinked awards in about 0 batch(es) of 5,000"
    assert "apply the seed first" in lines[2]


def test_watch_progress_line_names_the_script_its_place_and_time():
    progress = {"action": "migrate", "script": "V005__idx.sql", "number": 5, "total": 5, "since": 100.0}
    assert watch.progress_line("db1", "xp", progress, 142.4) == "db1 xp: running V005__idx.sql (5 of 5), 42 s so far"
    back = dict(progress, action="rollback", script="U005__idx.sql", number=1, total=2)
    assert watch.progress_line("db1", "xp", back, 100.0).startswith("db1 xp: reverting U005__idx.sql (1 of 2)")


def test_watch_reads_a_job_file_like_async_status():
    assert watch.job_state(None) is None  # not there yet
    assert watch.job_state('{"started": 1, "fini') is None  # being written
    assert watch.job_state(json.dumps({"started": 1, "finished": 0, "ansible_job_id": "1"})) is None
    result = {"changed": True, "applied": [], "plan": {}}
    assert watch.job_state(json.dumps(result)) == result
    crashed = {"failed": 1, "msg": "Traceback ...", "started": 1, "finished": 1}
    assert watch.job_state(json.dumps(crashed))["failed"] == 1
    assert watch.module_result({"ansible_job_id": "1", "finished": 1, "changed": False}) == {"changed": False}


def test_a_backfill_needs_its_count_script_and_one_statement_each(tmp_path):
    batch = tmp_path / "link.sql"
    batch.write_text("SELECT 1 AS linked; SELECT 2;\n")
    problems: list[str] = []
    found = changeset.read_backfill(str(batch), problems)
    assert any("exactly one statement, this one has 2" in p for p in problems)
    assert any("link.count.sql: no such file" in p for p in problems)
    assert set(found) == {"batch"}
    problems = []
    changeset.read_backfill(str(tmp_path / "link.txt"), problems)
    assert problems == [f"pg_migrate_backfill_script ({tmp_path / 'link.txt'}) must name a .sql file"]


def test_the_backfill_loop_is_a_forward_pass_then_one_sweep_bounded_by_the_high_water_mark():
    step = plan.next_backfill_step
    assert step("forward", 0, 0, None, None) == ("forward", 0, True)  # nothing to do at all
    assert step("forward", 0, 100, 100, 300) == ("forward", 100, False)  # walk the cursor up
    assert step("forward", 200, 0, None, 300) == ("sweep", 0, False)  # the pass ran dry: sweep once
    assert step("forward", 200, 100, 300, 300) == ("sweep", 0, False)  # past the mark: sweep once
    assert step("sweep", 0, 3, 17, 300) == ("sweep", 17, False)  # rows skipped while locked
    assert step("sweep", 17, 0, None, 300) == ("sweep", 17, True)
    # Claims that arrive meanwhile (award ids beyond the mark) do not keep the sweep going.
    assert step("sweep", 250, 100, 350, 300) == ("sweep", 250, True)
    assert step("forward", 0, 100, 100, None) == ("forward", 100, False)  # no mark: as before


def test_watch_ignores_a_progress_note_left_by_an_earlier_killed_run():
    note = json.dumps({"script": "V005__idx.sql", "number": 5, "total": 5, "since": 1000.0})
    assert watch.fresh_progress(note, job_started=1010.0)["script"] == "V005__idx.sql"
    assert watch.fresh_progress(note, job_started=5000.0) is None  # written long before this job began
    assert watch.fresh_progress("{half", job_started=0.0) is None
    assert watch.fresh_progress(None, job_started=0.0) is None


def test_watch_advice_when_it_loses_the_job_says_it_may_still_run_and_what_to_check():
    advice = watch.still_running_advice("/root/.ansible_async/j1", "its results file is gone")
    assert "may still be running" in advice and "pg_stat_activity" in advice and "playbooks/status.yml" in advice


def test_a_job_is_gone_when_its_process_is_or_the_host_restarted():
    note = {"state": "running", "pid": 4242, "boot_id": "boot-a"}
    assert watch.job_is_gone(note, alive=False, boot="boot-a")
    assert not watch.job_is_gone(note, alive=True, boot="boot-a")
    assert watch.job_is_gone(note, alive=True, boot="boot-b")  # a pid from before a reboot means nothing
    assert not watch.job_is_gone(None, alive=False, boot="boot-a")  # no note yet: nothing to judge by
    assert not watch.job_is_gone(dict(note, boot_id=None), alive=None, boot=None)


def test_a_module_killed_under_async_wrapper_is_a_death_not_a_result():
    killed = {"failed": 1, "cmd": "AnsiballZ_pg_migrate.py", "data": "", "stderr": "", "msg": "Traceback ..."}
    assert watch.died_without_result(killed)
    assert not watch.died_without_result({"failed": True, "msg": "V006 failed", "database": "xp", "plan": {}})
    assert not watch.died_without_result({"failed": True, "msg": "Timeout exceeded", "child_pid": 1})
    assert not watch.died_without_result({"changed": True, "database": "xp"})


def test_the_lost_job_message_says_where_it_was():
    note = {"state": "running", "action": "migrate", "script": "V006__x.sql", "number": 1, "total": 2}
    message = watch.lost_job_message("db1", "xp", note, "its process 42 is gone")
    assert message.startswith("the pg_migrate job for xp on db1 died while running V006__x.sql (1 of 2)")
    assert "its process 42 is gone" in message
    assert "before it wrote its first note" in watch.lost_job_message("db1", "xp", None, "no sign")
    assert "waiting for the lock of another run" in watch.where_it_was({"state": "waiting"})
    assert "reverting U006__x.sql" in watch.where_it_was(dict(note, action="rollback", script="U006__x.sql"))


def test_a_waiting_run_names_the_lock_and_its_holder():
    note = {"state": "waiting", "lock": "migration", "holder": 777, "since": 100.0}
    line = watch.waiting_line("db1", "xp", note, 112.0)
    assert (
        line
        == "db1 xp: waiting for another pg_migrate run to release the migration lock (held by pid 777), 12 s so far"
    )
