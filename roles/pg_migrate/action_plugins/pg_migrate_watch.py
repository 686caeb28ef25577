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
# A job whose process is gone may still be writing its result: it counts as lost only after this long.
GONE_CONFIRM = 5.0


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


def cat_or_absent(path: str) -> str:
    """A shell command that prints the file at PATH, or "absent" (which _peek turns into None)."""
    return "cat %s 2>/dev/null || printf absent" % shlex.quote(path)


def died_without_result(outcome: dict) -> bool:
    """A finished job whose result is not the module's: async_wrapper's own note that the module died.

    The pg_migrate module always returns its action and database; a module killed by a signal (kill -9,
    the OOM killer) returns nothing, and async_wrapper then records a Python traceback of its own."""
    return (
        bool(outcome.get("failed")) and "database" not in outcome and "Timeout exceeded" not in str(outcome.get("msg"))
    )


def job_is_gone(note: dict | None, alive: bool | None, boot: str | None) -> bool:
    """Whether the process that the job's latest note names no longer runs (or the host restarted since)."""
    if not note or not note.get("pid"):
        return False
    if note.get("boot_id") and boot and note["boot_id"] != boot:
        return True
    return alive is False


def where_it_was(note: dict | None) -> str:
    if not note:
        return "before it wrote its first note"
    if note.get("state") == "running":
        verb = "reverting" if note.get("action") == "rollback" else "running"
        return "while %s %s (%s of %s)" % (verb, note.get("script"), note.get("number"), note.get("total"))
    if note.get("state") == "waiting":
        return "while waiting for the lock of another run"
    return "before its first script"


def lost_job_message(host: str, database: str, note: dict | None, why: str) -> str:
    return (
        "the pg_migrate job for %s on %s died %s (%s; killed, out of memory, or the host restarted) and left no "
        "result." % (database, host, where_it_was(note), why)
    )


def waiting_line(host: str, database: str, note: dict, now: float) -> str:
    return "%s %s: waiting for another pg_migrate run to release the %s lock (held by pid %s), %.0f s so far" % (
        host,
        database,
        note.get("lock", "migration"),
        note.get("holder") or "?",
        max(0.0, now - float(note.get("since", now))),
    )


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
            # A job whose process is gone may still be writing its result: it is lost only if that does not come.
            gone_since = (gone_since or time.monotonic()) if gone else None
            if gone and time.monotonic() - gone_since > GONE_CONFIRM:
                why = (
                    "the host restarted"
                    if boot and note.get("boot_id") not in (None, boot)
                    else ("its process %s is gone" % note["pid"])
                )
                outcome = {"failed": True, "job_lost": True, "msg": lost_job_message(host, database, note, why)}
            elif note is None and job_text is not None and waited > ABSENT_GRACE:
                outcome = {
                    "failed": True,
                    "job_lost": True,
                    "msg": lost_job_message(host, database, None, "no sign of it for %ds" % ABSENT_GRACE),
                }
            elif job_text is None and waited > ABSENT_GRACE:
                outcome = {"failed": True, "msg": still_running_advice(results_file, "its results file is gone")}
            elif waited > timeout + 60:
                outcome = {
                    "failed": True,
                    "msg": still_running_advice(results_file, "it outlived pg_migrate_run_timeout"),
                }
            elif os.getppid() != controller:  # ansible-playbook died: nobody is waiting for the answer
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
                    line = (
                        progress_line(host, database, note, time.time())
                        if note["state"] == "running"
                        else waiting_line(host, database, note, time.time())
                    )
                    display.display(line)
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
