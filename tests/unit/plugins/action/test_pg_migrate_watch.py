"""plugins/action/pg_migrate_watch.py: the ActionModule following a background job through Ansible's real local
connection (its shell commands run for real), with Ansible's Task, PlayContext, DataLoader and Templar. The job
is a real process of the test's own that behaves as the pg_migrate module under async_wrapper does: it writes its
progress note (script, N of M, since, pid, boot id) while it runs, then the job's results file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import connection_loader
from ansible.template import Templar

from ansible_collections.pg_migrate.engine.plugins.module_utils.run import job_progress
from tests.unit.plugins import load

ACTION = load("action/pg_migrate_watch.py", "pg_migrate_watch_action")
pytestmark = pytest.mark.usefixtures("collection_loader")  # Task.load resolves the task's action
BOOT_ID = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
MODULE_RESULT = {"changed": True, "action": "migrate", "database": "library", "applied": [{"version": "002"}]}

# A job as async_wrapper runs the module: note, work, results file (argv: note, results, seconds, result JSON).
JOB = textwrap.dedent(
    """
    import json, os, sys, time
    note, results, seconds, result = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    boot = open("/proc/sys/kernel/random/boot_id").read().strip()
    with open(note, "w") as handle:
        json.dump({"state": "running", "script": "V002__loans.sql", "number": 2, "total": 3, "since": time.time(),
                   "pid": os.getpid(), "boot_id": boot, "action": "migrate"}, handle)
    time.sleep(seconds)
    with open(results + ".tmp", "w") as handle:
        handle.write(result)
    os.rename(results + ".tmp", results)
    """
)


def watch(args: dict, check: bool = False) -> dict:
    """pg_migrate_watch's run with ARGS, as the task executor runs it on a host named db1."""
    loader = DataLoader()
    play_context = PlayContext()
    play_context.check_mode = check
    task = Task.load({"name": "Follow the job", "pg_migrate.engine.pg_migrate_watch": {}}, loader=loader)
    task.args = args
    connection = connection_loader.get("local", play_context, "/dev/null")
    action = ACTION.ActionModule(task, connection, play_context, loader, Templar(loader=loader), None)
    return action.run(task_vars={"inventory_hostname": "db1"})


def job_args(tmp_path: Path, **extra: object) -> dict:
    results = tmp_path / "job.results"
    job = {"ansible_job_id": "j1.42", "started": 1, "finished": 0, "results_file": str(results)}
    return {"job": job, "progress_file": str(tmp_path / "note.json"), "database": "library", **extra}


def start_job(tmp_path: Path, seconds: float, result: dict | str) -> subprocess.Popen:
    text = result if isinstance(result, str) else json.dumps({"finished": 1, "ansible_job_id": "j1.42", **result})
    note, results = tmp_path / "note.json", tmp_path / "job.results"
    job = subprocess.Popen([sys.executable, "-c", JOB, str(note), str(results), str(seconds), text])
    deadline = time.monotonic() + 10
    while not note.exists():  # the module wrote its first note
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return job


def test_a_result_that_is_not_a_job_is_returned_as_the_module_gave_it(tmp_path: Path):
    # Check mode runs the module in the foreground: its result, without what async_status or the diff added.
    ran = {**MODULE_RESULT, "diff": {"after": "-- would run"}, "invocation": {"module_args": {}}, "finished": 1}
    result = watch({"job": ran}, check=True)
    assert {key: result[key] for key in MODULE_RESULT} == MODULE_RESULT
    assert not {"diff", "invocation", "finished"} & set(result)


def test_a_job_that_already_finished_gives_the_modules_result_and_its_results_file_goes(tmp_path: Path, capfd):
    args = job_args(tmp_path)
    written = {"finished": 1, "ansible_job_id": "j1.42", "stdout": "", "_ansible_no_log": False, **MODULE_RESULT}
    Path(args["job"]["results_file"]).write_text(json.dumps(written))
    result = watch(args)
    assert {key: result[key] for key in MODULE_RESULT} == MODULE_RESULT
    assert not {"finished", "ansible_job_id", "stdout", "_ansible_no_log"} & set(result)
    assert not Path(args["job"]["results_file"]).exists()
    assert capfd.readouterr().out == ""  # a quick run prints nothing extra


def test_a_long_job_prints_what_runs_and_for_how_long_then_returns_its_result(tmp_path: Path, capfd):
    job = start_job(tmp_path, 2.5, MODULE_RESULT)
    try:
        result = watch(job_args(tmp_path, every=1))
    finally:
        job.wait(10)
    assert {key: result[key] for key in MODULE_RESULT} == MODULE_RESULT and "failed" not in result
    lines = [line for line in capfd.readouterr().out.splitlines() if line.strip()]
    assert lines, "no progress line for a job of 2.5 s with every=1"
    for line in lines:
        assert line.startswith("db1 library: running V002__loans.sql (2 of 3), ") and line.endswith(" s so far")
    assert not (tmp_path / "job.results").exists()


def test_a_job_that_ran_out_of_time_says_so_and_what_to_do(tmp_path: Path):
    args = job_args(tmp_path)
    ended = {"finished": 1, "failed": 1, "database": "library", "msg": "Timeout exceeded"}
    Path(args["job"]["results_file"]).write_text(json.dumps(ended))
    result = watch(args)
    assert result["failed"] and result["msg"] == job_progress.TIMED_OUT_MESSAGE
    assert "raise pg_migrate_run_timeout" in result["msg"]


def test_a_module_killed_without_a_result_is_named_with_the_script_it_was_running(tmp_path: Path):
    # async_wrapper's own note for a module that died (no "database": not the module's result).
    job = start_job(tmp_path, 0.5, {"failed": 1, "msg": "Traceback (most recent call last): killed"})
    try:
        result = watch(job_args(tmp_path))
    finally:
        job.wait(10)
    assert result["failed"] and result["job_lost"]
    assert result["msg"] == (
        "the pg_migrate job for library on db1 died while running V002__loans.sql (2 of 3) (its module process "
        "ended without a result; killed, out of memory, or the host restarted) and left no result."
    )
    assert not (tmp_path / "job.results").exists()


def test_a_job_whose_process_is_gone_without_a_result_is_lost_and_its_files_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(job_progress, "GONE_CONFIRM", 0.3)
    job = start_job(tmp_path, 0.1, "{}")
    job.wait(10)  # reaped: its pid is free, as after a kill -9
    results = tmp_path / "job.results"
    results.write_text(json.dumps({"started": 1, "finished": 0, "ansible_job_id": "j1.42"}))  # async_wrapper's
    result = watch(job_args(tmp_path))
    assert result["failed"] and result["job_lost"]
    assert "died while running V002__loans.sql (2 of 3) (its process %d is gone;" % job.pid in result["msg"]
    assert not results.exists()


def test_a_job_without_a_results_file_may_still_run_and_the_message_says_how_to_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(job_progress, "ABSENT_GRACE", 0.3)
    result = watch(job_args(tmp_path))
    assert result["failed"] and "job_lost" not in result
    assert result["msg"].startswith(
        "lost track of the pg_migrate job (its results file is gone: %s). It may still be running"
        % (tmp_path / "job.results")
    )
    assert "application_name = 'pg_migrate' in pg_stat_activity" in result["msg"]


def test_the_password_goes_into_the_jobs_fifo_and_never_into_a_regular_file(tmp_path: Path):
    fifo, regular = tmp_path / "handoff", tmp_path / "handoff-file"
    reader = textwrap.dedent(
        """
        import json, os, sys
        fifo, results = sys.argv[1], sys.argv[2]
        os.mkfifo(fifo, 0o600)
        with open(fifo) as handle:
            password = handle.readline().rstrip("\\n")
        with open(results, "w") as handle:
            json.dump({"finished": 1, "database": "library", "changed": False, "got": len(password)}, handle)
        """
    )
    job = subprocess.Popen([sys.executable, "-c", reader, str(fifo), str(tmp_path / "job.results")])
    try:
        result = watch(job_args(tmp_path, password_handoff=str(fifo), password="s3cret pass"))
    finally:
        job.wait(10)
    assert result["got"] == len("s3cret pass") and "password" not in json.dumps(result)

    regular.write_text("")
    Path(tmp_path / "job.results").write_text(json.dumps({"finished": 1, "database": "library", "changed": False}))
    watch(job_args(tmp_path, password_handoff=str(regular), password="s3cret pass"))
    assert regular.read_text() == ""
    assert os.stat(regular).st_size == 0
