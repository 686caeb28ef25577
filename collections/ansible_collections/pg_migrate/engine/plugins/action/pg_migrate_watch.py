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

import os
import shlex
import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.pg_migrate.engine.plugins.module_utils.run.job_progress import (
    died_without_result,
    finished_result,
    fresh_progress,
    job_is_gone,
    job_state,
    lost_job_message,
    module_result,
    note_line,
    unfinished_verdict,
)

display = Display()


def cat_or_absent(path: str) -> str:
    """A shell command that prints the file at PATH, or "absent" (which _peek turns into None)."""
    return "cat %s 2>/dev/null || printf absent" % shlex.quote(path)


class ActionModule(ActionBase):
    """See the module docstring."""

    TRANSFERS_FILES = False
    _supports_check_mode = True

    def _peek(self, commands: list[str]) -> list[str | None]:
        """What each shell command prints on the managed host (None for "absent"), in one raw command.

        Polling with a module costs a module transfer and an interpreter start each time (about 0.3 s
        here); `cat` through the connection costs a few milliseconds, so the watch adds next to nothing
        to a quick run."""
        marker = "--pg_migrate-watch-%s--" % os.getpid()
        command = " ; ".join("%s ; echo %s" % (c, marker) for c in commands)
        answer = self._low_level_execute_command(command, sudoable=True)
        chunks = (answer.get("stdout") or "").split(marker)
        contents = [chunk.strip("\n") for chunk in chunks[: len(commands)]]
        contents += [""] * (len(commands) - len(contents))
        return [None if chunk == "absent" else chunk for chunk in contents]

    def _hand_over_password(self, fifo: str, password: str) -> bool:
        """Write the password into the job's FIFO, once the job has created it; True when delivered.

        `1<>` opens the FIFO read-write, which never blocks, and `test -p` makes sure it is a FIFO, never
        a regular file that would keep the password on disk. The password travels on the connection's
        standard input, never on a command line."""
        command = "test -p %s && cat 1<>%s && echo delivered" % (shlex.quote(fifo), shlex.quote(fifo))
        answer = self._low_level_execute_command(command, sudoable=True, in_data=(password + "\n").encode("utf-8"))
        return "delivered" in (answer.get("stdout") or "")

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        job = self._task.args.get("job") or {}
        if not job.get("ansible_job_id"):
            # Ran in the foreground (check mode): already the result, and its diff was shown with it.
            result.update({key: value for key, value in module_result(job).items() if key != "diff"})
            return result
        results_file = job.get("results_file") or ""
        progress_file = self._task.args.get("progress_file") or "/dev/null"
        every = float(self._task.args.get("every", 15))
        timeout = float(self._task.args.get("timeout", 86400))
        host = task_vars.get("inventory_hostname", "?")
        database = self._task.args.get("database", "?")
        fifo = self._task.args.get("password_handoff") or ""
        password = self._task.args.get("password") or ""
        handed_over = not (fifo and password)

        started, started_epoch = time.monotonic(), time.time()
        controller = os.getppid()
        delay = 0.05
        shown = (None, 0.0)  # (what, when last printed)
        outcome = None
        note = None
        gone_since = None
        while outcome is None:
            pid = str(int(note["pid"])) if note and note.get("pid") else ""
            job_text, progress_text, alive_text, boot = self._peek(
                [
                    cat_or_absent(results_file),
                    cat_or_absent(progress_file),
                    "{ kill -0 %s || test -d /proc/%s; } 2>/dev/null && printf alive || printf dead" % (pid, pid)
                    if pid
                    else "printf absent",
                    cat_or_absent("/proc/sys/kernel/random/boot_id"),
                ]
            )
            outcome = job_state(job_text)
            if outcome is not None:
                break
            note = fresh_progress(progress_text, started_epoch) or note
            if not handed_over:
                handed_over = self._hand_over_password(fifo, password)
            waited = time.monotonic() - started
            gone = job_is_gone(note, None if alive_text is None else alive_text == "alive", boot)
            gone_since = (gone_since or time.monotonic()) if gone else None
            gone_for = time.monotonic() - gone_since if gone else None
            outcome = unfinished_verdict(
                note, job_text, gone_for, waited, timeout, boot, (host, database, results_file)
            )
            # ansible-playbook died: nobody is waiting for the answer.
            if outcome is None and os.getppid() != controller:
                outcome = {"failed": True, "msg": "the controller went away"}
            if outcome is not None:
                if outcome.get("job_lost"):
                    self._low_level_execute_command("rm -f %s" % shlex.quote(results_file), sudoable=True)
                return dict(result, **outcome)  # otherwise the job may still run: leave its results file alone
            # Only runs that last a while are worth a line; the first look comes after one interval.
            if note and not gone_since and waited >= min(every, 5.0) and note.get("state") in ("running", "waiting"):
                now = time.monotonic()
                what = (note.get("state"), note.get("script"))
                if what != shown[0] or now - shown[1] >= every:
                    display.display(note_line(host, database, note, time.time()))
                    shown = (what, now)
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

        self._low_level_execute_command("rm -f %s" % shlex.quote(results_file), sudoable=True)
        if died_without_result(outcome):
            # The killed module could not clear its note: it says what was running when it died.
            [last_note] = self._peek([cat_or_absent(progress_file)])
            note = fresh_progress(last_note, started_epoch) or note
            why = "its module process ended without a result"
            return dict(result, failed=True, job_lost=True, msg=lost_job_message(host, database, note, why))
        result.update(finished_result(outcome))
        return result
