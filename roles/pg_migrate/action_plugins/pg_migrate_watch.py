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

import base64
import json
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


class ActionModule(ActionBase):
    """See the module docstring."""

    TRANSFERS_FILES = False
    _supports_check_mode = True

    def _async_dir(self) -> str:
        return self._remote_expand_user(self.get_shell_option("async_dir", default="~/.ansible_async"))

    def _read_progress(self, path: str, task_vars: dict) -> dict | None:
        answer = self._execute_module(
            module_name="ansible.legacy.slurp", module_args={"src": path}, task_vars=task_vars
        )
        if answer.get("failed") or "content" not in answer:
            return None  # not written yet, or already removed: nothing to say
        try:
            return json.loads(base64.b64decode(answer["content"]))
        except ValueError:
            return None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        job = self._task.args.get("job") or {}
        if not job.get("ansible_job_id"):
            # Ran in the foreground (check mode): already the result, and its diff was shown with it.
            result.update({key: value for key, value in module_result(job).items() if key != "diff"})
            return result
        progress_file = self._task.args.get("progress_file") or ""
        every = float(self._task.args.get("every", 15))
        host = task_vars.get("inventory_hostname", "?")
        database = self._task.args.get("database", "?")
        status_args = {"jid": job["ansible_job_id"], "_async_dir": self._async_dir()}

        started = time.monotonic()
        delay = 0.1
        shown = (None, 0.0)  # (script, when last printed)
        while True:
            status = self._execute_module(
                module_name="ansible.legacy.async_status", module_args=status_args, task_vars=task_vars
            )
            if status.get("finished") or status.get("failed"):
                break
            # Only runs that last a while are worth a line; the first look comes after one interval.
            if progress_file and time.monotonic() - started >= min(every, 5.0):
                progress = self._read_progress(progress_file, task_vars)
                now = time.monotonic()
                if progress and (progress.get("script") != shown[0] or now - shown[1] >= every):
                    display.display(progress_line(host, database, progress, time.time()))
                    shown = (progress.get("script"), now)
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

        self._execute_module(
            module_name="ansible.legacy.async_status",
            module_args=dict(status_args, mode="cleanup"),
            task_vars=task_vars,
        )
        result.update(module_result(status))
        if status.get("failed") and not status.get("msg"):
            result["msg"] = "the pg_migrate job ended without a result: %s" % (
                status.get("module_stderr") or status.get("stderr") or "no output"
            )
        return result
