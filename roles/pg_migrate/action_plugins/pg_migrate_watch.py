"""pg_migrate_watch: follow a pg_migrate job started with `async`, printing which script runs and for how long.

A module reports only when it returns; a migration that builds an index on a big table runs for
minutes, and an operator staring at a silent terminal cannot tell "working" from "stuck". So the role
starts the pg_migrate module as an async job (poll: 0) and this controller-side action follows it:
it polls async_status, and while the job runs it reads the module's progress file (which script,
number N of M, since when) and prints a line whenever the running script changes and every
`every` seconds after that. It returns the module's own result, so the tasks after it read it
exactly as if the module had run in the foreground. A run that ends quickly prints nothing extra.

In check mode the role runs the module in the foreground (Ansible refuses async with check mode);
given a result that is not a job, this action returns it unchanged.
"""

from __future__ import annotations

import json
import os
import shlex
import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

# Keys async_status adds to the module's result; they mean nothing to the tasks after the watch.
ASYNC_KEYS = (
    "ansible_job_id",
    "started",
    "finished",
    "results_file",
    "stdout",
    "stderr",
    "stdout_lines",
    "stderr_lines",
    "erased",
    "invocation",
)


def progress_line(host: str, database: str, progress: dict, now: float) -> str:
    """'host db: running V005__x.sql (5 of 5), 42 s so far'."""
    verb = "reverting" if progress.get("action") == "rollback" else "running"
    return "%s %s: %s %s (%s of %s), %.0f s so far" % (
        host,
        database,
        verb,
        progress.get("script", "?"),
        progress.get("number", "?"),
        progress.get("total", "?"),
        max(0.0, now - float(progress.get("since", now))),
    )


def module_result(status: dict) -> dict:
    """The module's result out of a finished async_status answer."""
    return {key: value for key, value in status.items() if key not in ASYNC_KEYS}


# async_wrapper writes the results file shortly after the job starts; on a loaded host that can take
# a few seconds, so a missing file means "gone" only after this long.
ABSENT_GRACE = 30.0


def still_running_advice(results_file: str, why: str) -> str:
    return (
        "lost track of the pg_migrate job (%s: %s). It may still be running on the managed host: look for "
        "application_name = 'pg_migrate' in pg_stat_activity, wait for it to end (it holds the migration lock), then "
        "run playbooks/status.yml to see where the database stands." % (why, results_file)
    )


def fresh_progress(text: str | None, job_started: float) -> dict | None:
    """The progress note if it belongs to this job: a file left by a killed run carries an older time."""
    try:
        progress = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(progress, dict) or float(progress.get("since", 0)) < job_started - 30:
        return None
    return progress


def job_state(text: str | None) -> dict | None:
    """The job's results file read as async_status reads it: None while it runs, else the module's result."""
    try:
        data = json.loads(text or "")
    except ValueError:
        return None  # not written yet, or being written: still running
    if not isinstance(data, dict) or ("started" in data and not data.get("finished")):
        return None
    return data


class ActionModule(ActionBase):
    """See the module docstring."""

    TRANSFERS_FILES = False
    _supports_check_mode = True

    def _peek(self, paths: list[str]) -> list[str | None]:
        """The contents of PATHS on the managed host (None when absent), in one raw command.

        Polling with a module costs a module transfer and an interpreter start each time (about 0.3 s
        here); `cat` through the connection costs a few milliseconds, so the watch adds next to nothing
        to a quick run."""
        marker = "--pg_migrate-watch-%s--" % os.getpid()
        command = " ; ".join("cat %s 2>/dev/null || printf absent ; echo %s" % (shlex.quote(p), marker) for p in paths)
        answer = self._low_level_execute_command(command, sudoable=True)
        chunks = (answer.get("stdout") or "").split(marker)
        contents = [chunk.strip("\n") for chunk in chunks[: len(paths)]]
        contents += [""] * (len(paths) - len(contents))
        return [None if chunk == "absent" else chunk for chunk in contents]

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        job = self._task.args.get("job") or {}
        if not job.get("ansible_job_id"):
            # Ran in the foreground (check mode): already the result, and its diff was shown with it.
            result.update({key: value for key, value in module_result(job).items() if key != "diff"})
            return result
        results_file = job.get("results_file") or ""
        progress_file = self._task.args.get("progress_file") or ""
        every = float(self._task.args.get("every", 15))
        timeout = float(self._task.args.get("timeout", 86400))
        host = task_vars.get("inventory_hostname", "?")
        database = self._task.args.get("database", "?")

        started, started_epoch = time.monotonic(), time.time()
        controller = os.getppid()
        delay = 0.05
        shown = (None, 0.0)  # (script, when last printed)
        outcome = None
        while outcome is None:
            job_text, progress_text = self._peek([results_file, progress_file or "/dev/null"])
            outcome = job_state(job_text)
            if outcome is not None:
                break
            waited = time.monotonic() - started
            if job_text is None and waited > ABSENT_GRACE:
                outcome = {"failed": True, "msg": still_running_advice(results_file, "its results file is gone")}
            elif waited > timeout + 60:
                outcome = {
                    "failed": True,
                    "msg": still_running_advice(results_file, "it outlived pg_migrate_run_timeout"),
                }
            elif os.getppid() != controller:  # ansible-playbook died: nobody is waiting for the answer
                outcome = {"failed": True, "msg": "the controller went away"}
            if outcome is not None:
                return dict(result, **outcome)  # the job may still run: leave its results file alone
            # Only runs that last a while are worth a line; the first look comes after one interval.
            progress = fresh_progress(progress_text, started_epoch)
            if progress and waited >= min(every, 5.0):
                now = time.monotonic()
                if progress.get("script") != shown[0] or now - shown[1] >= every:
                    display.display(progress_line(host, database, progress, time.time()))
                    shown = (progress.get("script"), now)
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

        self._low_level_execute_command("rm -f %s" % shlex.quote(results_file), sudoable=True)
        result.update({key: value for key, value in module_result(outcome).items() if not key.startswith("_ansible")})
        if outcome.get("failed") and not outcome.get("msg"):
            exception = outcome.get("exception") if isinstance(outcome.get("exception"), dict) else {}
            result["msg"] = (exception.get("event") or {}).get(
                "msg"
            ) or "the pg_migrate job ended without a result: %s" % (
                outcome.get("module_stderr") or outcome.get("stderr") or outcome.get("data") or "no output"
            )
        if "Timeout exceeded" in str(outcome.get("msg", "")):
            result["msg"] = (
                "the job ran longer than pg_migrate_run_timeout and Ansible ended it: its open transaction rolled "
                "back (a marked no-transaction script keeps the statements it committed). Run playbooks/status.yml "
                "to see where the database stands, raise pg_migrate_run_timeout if the step needs longer, and run "
                "again."
            )
        return result
