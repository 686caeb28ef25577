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


def remove(path: str) -> str:
    """A shell command that removes the file at PATH."""
    return "rm -f %s" % shlex.quote(path)


class Watch:
    """One job being followed: its files and arguments, and what the watch has seen of it so far."""

    def __init__(self, args: dict, job: dict, host: str) -> None:
        self.results_file = job.get("results_file") or ""
        self.progress_file = args.get("progress_file") or "/dev/null"
        self.every = float(args.get("every", 15))
        self.timeout = float(args.get("timeout", 86400))
        self.host = host
        self.database = args.get("database", "?")
        self.fifo = args.get("password_handoff") or ""
        self.password = args.get("password") or ""
        self.handed_over = not (self.fifo and self.password)
        self.started, self.started_epoch = time.monotonic(), time.time()
        self.controller = os.getppid()
        self.shown = (None, 0.0)  # (what, when last printed)
        self.note = None
        self.gone_since = None
        self.waited = 0.0

    def commands(self) -> list[str]:
        """What one look reads: the job's results file, its progress note, whether the module's process is
        alive (once the note names it), the host's boot id."""
        pid = str(int(self.note["pid"])) if self.note and self.note.get("pid") else ""
        alive = (
            "{ kill -0 %s || test -d /proc/%s; } 2>/dev/null && printf alive || printf dead" % (pid, pid)
            if pid
            else "printf absent"
        )
        return [
            cat_or_absent(self.results_file),
            cat_or_absent(self.progress_file),
            alive,
            cat_or_absent("/proc/sys/kernel/random/boot_id"),
        ]

    def verdict(self, job_text: str | None, alive_text: str | None, boot: str | None) -> dict | None:
        """The outcome of a job that has written no result (lost, timed out, the controller gone), or None
        while it may still run."""
        self.waited = time.monotonic() - self.started
        gone = job_is_gone(self.note, None if alive_text is None else alive_text == "alive", boot)
        self.gone_since = (self.gone_since or time.monotonic()) if gone else None
        gone_for = time.monotonic() - self.gone_since if gone else None
        where = (self.host, self.database, self.results_file)
        outcome = unfinished_verdict(self.note, job_text, gone_for, self.waited, self.timeout, boot, where)
        # ansible-playbook died: nobody is waiting for the answer.
        if outcome is None and os.getppid() != self.controller:
            outcome = {"failed": True, "msg": "the controller went away"}
        return outcome

    def due_line(self) -> str | None:
        """The progress line to print now, if any: when the running script changes, and every `every` seconds."""
        note = self.note
        # Only runs that last a while are worth a line; the first look comes after one interval.
        if not note or self.gone_since or self.waited < min(self.every, 5.0):
            return None
        if note.get("state") not in ("running", "waiting"):
            return None
        now = time.monotonic()
        what = (note.get("state"), note.get("script"))
        if what == self.shown[0] and now - self.shown[1] < self.every:
            return None
        self.shown = (what, now)
        return note_line(self.host, self.database, note, time.time())


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
        watch = Watch(self._task.args, job, task_vars.get("inventory_hostname", "?"))
        outcome, written = self._follow(watch)
        if not written:
            if outcome.get("job_lost"):
                self._low_level_execute_command(remove(watch.results_file), sudoable=True)
            return dict(result, **outcome)  # otherwise the job may still run: leave its results file alone
        self._low_level_execute_command(remove(watch.results_file), sudoable=True)
        if died_without_result(outcome):
            # The killed module could not clear its note: it says what was running when it died.
            [last_note] = self._peek([cat_or_absent(watch.progress_file)])
            note = fresh_progress(last_note, watch.started_epoch) or watch.note
            why = "its module process ended without a result"
            return dict(result, failed=True, job_lost=True, msg=lost_job_message(watch.host, watch.database, note, why))
        result.update(finished_result(outcome))
        return result

    def _follow(self, watch: Watch) -> tuple[dict, bool]:
        """The job's outcome, looking at it more and more seldom (up to once a second), printing its progress;
        and whether the job wrote it (False: the watch gave up on the job)."""
        delay = 0.05
        while True:
            job_text, progress_text, alive_text, boot = self._peek(watch.commands())
            outcome = job_state(job_text)
            if outcome is not None:
                return outcome, True
            watch.note = fresh_progress(progress_text, watch.started_epoch) or watch.note
            if not watch.handed_over:
                watch.handed_over = self._hand_over_password(watch.fifo, watch.password)
            outcome = watch.verdict(job_text, alive_text, boot)
            if outcome is not None:
                return outcome, False
            line = watch.due_line()
            if line:
                display.display(line)
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
