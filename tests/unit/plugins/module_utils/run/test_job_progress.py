"""How the watch reads a background job, and what an operator reads while a long step runs."""

from __future__ import annotations

import json

from ansible_collections.pg_migrate.engine.plugins.module_utils.run import job_progress as watch


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


def test_watch_ignores_a_progress_note_left_by_an_earlier_killed_run():
    note = json.dumps({"script": "V005__idx.sql", "number": 5, "total": 5, "since": 1000.0})
    assert watch.fresh_progress(note, job_started=1010.0)["script"] == "V005__idx.sql"
    assert watch.fresh_progress(note, job_started=5000.0) is None  # written long before this job began
    assert watch.fresh_progress("{half", job_started=0.0) is None
    assert watch.fresh_progress(None, job_started=0.0) is None


def test_watch_advice_when_it_loses_the_job_says_it_may_still_run_and_what_to_check():
    advice = watch.still_running_advice("/root/.ansible_async/j1", "its results file is gone")
    assert (
        "may still be running" in advice
        and "pg_stat_activity" in advice
        and "run a status (pg_migrate_action=status)" in advice
    )


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


def test_the_note_line_follows_the_state_of_the_note():
    running = {"state": "running", "script": "V005__idx.sql", "number": 5, "total": 5, "since": 100.0}
    assert watch.note_line("db1", "xp", running, 110.0) == watch.progress_line("db1", "xp", running, 110.0)
    waiting = {"state": "waiting", "holder": 9, "since": 100.0}
    assert watch.note_line("db1", "xp", waiting, 110.0) == watch.waiting_line("db1", "xp", waiting, 110.0)


WHERE = ("db1", "xp", "/root/.ansible_async/j1")
NOTE = {"state": "running", "pid": 4242, "boot_id": "boot-a", "script": "V006__x.sql", "number": 1, "total": 2}


def test_a_job_seen_running_moments_ago_is_waited_for():
    assert watch.unfinished_verdict(NOTE, '{"started": 1}', None, 600.0, 86400, "boot-a", WHERE) is None
    # gone, but not long enough: its result may still be on its way
    assert watch.unfinished_verdict(NOTE, '{"started": 1}', watch.GONE_CONFIRM, 10.0, 86400, "boot-a", WHERE) is None
    # no results file yet, within the grace async_wrapper may need on a loaded host
    assert watch.unfinished_verdict(None, None, None, watch.ABSENT_GRACE, 86400, None, WHERE) is None


def test_a_job_whose_process_stays_gone_is_lost_and_says_why():
    verdict = watch.unfinished_verdict(NOTE, '{"started": 1}', 6.0, 10.0, 86400, "boot-a", WHERE)
    assert verdict["failed"] and verdict["job_lost"]
    assert "died while running V006__x.sql (1 of 2) (its process 4242 is gone;" in verdict["msg"]
    rebooted = watch.unfinished_verdict(NOTE, '{"started": 1}', 6.0, 10.0, 86400, "boot-b", WHERE)
    assert "(the host restarted;" in rebooted["msg"]


def test_a_job_that_never_wrote_a_note_is_lost_after_the_grace():
    verdict = watch.unfinished_verdict(None, '{"started": 1}', None, 31.0, 86400, "boot-a", WHERE)
    assert verdict["job_lost"] and "before it wrote its first note (no sign of it for 30s;" in verdict["msg"]


def test_a_job_the_watch_loses_sight_of_may_still_run():
    gone_file = watch.unfinished_verdict(NOTE, None, None, 31.0, 86400, "boot-a", WHERE)
    assert "job_lost" not in gone_file
    assert gone_file["msg"].startswith("lost track of the pg_migrate job (its results file is gone: /root/")
    overdue = watch.unfinished_verdict(NOTE, '{"started": 1}', None, 161.0, 100, "boot-a", WHERE)
    assert "job_lost" not in overdue and "it outlived pg_migrate_run_timeout" in overdue["msg"]


def test_a_finished_job_gives_the_module_result_with_a_message_when_it_failed_without_one():
    outcome = {"changed": True, "database": "xp", "finished": 1, "ansible_job_id": "1", "_ansible_no_log": False}
    assert watch.finished_result(outcome) == {"changed": True, "database": "xp"}
    silent = {"failed": True, "module_stderr": "Killed", "finished": 1}
    assert watch.finished_result(silent)["msg"] == "the pg_migrate job ended without a result: Killed"
    raised = {"failed": True, "exception": {"event": {"msg": "boom"}}}
    assert watch.finished_result(raised)["msg"] == "boom"
    timed_out = watch.finished_result({"failed": True, "msg": "Timeout exceeded", "child_pid": 1})
    assert timed_out["msg"] == watch.TIMED_OUT_MESSAGE
    assert timed_out["msg"].startswith("the job ran longer than pg_migrate_run_timeout and Ansible ended it")
