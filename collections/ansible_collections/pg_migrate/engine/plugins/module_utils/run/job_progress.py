# pg_migrate: following a job that runs in the background (the pg_migrate_watch action plugin).
#
# The module writes a progress note (which script, number N of M, since when, its pid and the host's
# boot id) while it runs, and async_wrapper writes the job's results file. These functions read both,
# tell a dead job from a slow one, and word what the operator reads while waiting and after a loss.

from __future__ import annotations

import json

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
# async_wrapper writes the results file shortly after the job starts; on a loaded host that can take
# a few seconds, so a missing file means "gone" only after this long.
ABSENT_GRACE = 30.0
# A job whose process is gone may still be writing its result: it counts as lost only after this long.
GONE_CONFIRM = 5.0
TIMED_OUT_ADVICE = (
    "Run a status (pg_migrate_action=status) to see where the database stands, raise pg_migrate_run_timeout if "
    "the step needs longer, and run again."
)
TIMED_OUT_MESSAGE = (
    "the job ran longer than pg_migrate_run_timeout and Ansible ended it: its open transaction rolled "
    "back (a marked no-transaction script keeps the statements it committed). " + TIMED_OUT_ADVICE
)


def _elapsed(note: dict, now: float) -> float:
    return max(0.0, now - float(note.get("since", now)))


def _waited(note: dict, now: float) -> float:
    """Seconds since the wait began (its waiting_since), not since its latest note."""
    return max(0.0, now - float(note.get("waiting_since") or note.get("since") or now))


def _verb(note: dict) -> str:
    return "reverting" if note.get("action") == "rollback" else "running"


def progress_line(host: str, database: str, progress: dict, now: float) -> str:
    """'host db: running V005__x.sql (5 of 5), 42 s so far'."""
    return "%s %s: %s %s (%s of %s), %.0f s so far" % (
        host,
        database,
        _verb(progress),
        progress.get("script", "?"),
        progress.get("number", "?"),
        progress.get("total", "?"),
        _elapsed(progress, now),
    )


def table_locks_line(host: str, database: str, note: dict, now: float) -> str:
    """A unit waiting for its table locks: without queueing, behind the blockers the look named; or after a lost
    rung of the lock ladder, before the next."""
    if note.get("blockers"):
        return "%s %s: %s waits without queueing for its table locks, %.0f s so far: %s" % (
            host,
            database,
            note.get("script", "?"),
            _waited(note, now),
            "; ".join(note["blockers"]),
        )
    return "%s %s: %s lost its lock request at lock_timeout %s (attempt %s); next attempt in %.2f s" % (
        host,
        database,
        note.get("script", "?"),
        note.get("lock_timeout", "?"),
        note.get("attempt", "?"),
        float(note.get("next_in_s", 0)),
    )


def standby_line(host: str, database: str, note: dict, now: float) -> str:
    """The standby gate's wait (run/standby_lag.waiting_note), counted from its start: each poll writes a note."""
    others = note.get("others") or 0
    return "%s %s: waiting for standby '%s' (%s)%s to replay: %s, limit %s, %.0f s so far" % (
        host,
        database,
        note.get("standby") or "?",
        note.get("client") or "?",
        " and %d more" % others if others else "",
        note.get("behind") or "?",
        note.get("limit") or "?",
        _waited(note, now),
    )


def waiting_line(host: str, database: str, note: dict, now: float) -> str:
    if note.get("lock") == "table locks":
        return table_locks_line(host, database, note, now)
    if note.get("lock") == "standby":
        return standby_line(host, database, note, now)
    if note.get("lock") == "server slot":
        return (
            "%s %s: waiting for a slot on server %s (pg_migrate_fleet_per_server=%s, held by pids %s), %.0f s so far"
            % (
                host,
                database,
                note.get("server") or "?",
                note.get("limit") or "?",
                ", ".join(str(pid) for pid in note.get("holders") or []) or "?",
                _elapsed(note, now),
            )
        )
    return "%s %s: waiting for another pg_migrate run to release the %s lock (held by pid %s), %.0f s so far" % (
        host,
        database,
        note.get("lock", "migration"),
        note.get("holder") or "?",
        _elapsed(note, now),
    )


def note_line(host: str, database: str, note: dict, now: float) -> str:
    """The line for the note's state: running a script, or waiting for the lock."""
    if note.get("state") == "running":
        return progress_line(host, database, note, now)
    return waiting_line(host, database, note, now)


def module_result(status: dict) -> dict:
    """The module's result out of a finished async_status answer."""
    return {key: value for key, value in status.items() if key not in ASYNC_KEYS}


def still_running_advice(results_file: str, why: str) -> str:
    return (
        "lost track of the pg_migrate job (%s: %s). It may still be running on the managed host: look for "
        "application_name = 'pg_migrate' in pg_stat_activity, wait for it to end (it holds the migration lock), then "
        "run a status (pg_migrate_action=status) to see where the database stands." % (why, results_file)
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


def why_gone(note: dict, boot: str | None) -> str:
    """Why job_is_gone said so: the host restarted, or the note's process ended."""
    if boot and note.get("boot_id") not in (None, boot):
        return "the host restarted"
    return "its process %s is gone" % note["pid"]


def where_it_was(note: dict | None) -> str:
    if not note:
        return "before it wrote its first note"
    if note.get("state") == "running":
        return "while %s %s (%s of %s)" % (_verb(note), note.get("script"), note.get("number"), note.get("total"))
    if note.get("state") == "waiting" and note.get("lock") == "table locks":
        return "while %s waited for its table locks" % note.get("script")
    if note.get("state") == "waiting" and note.get("lock") == "standby":
        return "while waiting for the server's standbys to replay"
    if note.get("state") == "waiting":
        return "while waiting for the lock of another run"
    return "before its first script"


def stopped_run_message(limit: float, note: dict | None) -> str:
    """The controller path's run that outlived pg_migrate_run_timeout (LIMIT seconds), stopped where NOTE (its
    latest progress note) says."""
    return (
        "the run ran longer than pg_migrate_run_timeout (%d s) and was stopped %s: its statement was cancelled "
        "on the server and its open transaction rolled back (a marked no-transaction script keeps the "
        "statements it committed). %s" % (limit, where_it_was(note), TIMED_OUT_ADVICE)
    )


def lost_job_message(host: str, database: str, note: dict | None, why: str) -> str:
    return (
        "the pg_migrate job for %s on %s died %s (%s; killed, out of memory, or the host restarted) and left no "
        "result." % (database, host, where_it_was(note), why)
    )


def finished_result(outcome: dict) -> dict:
    """The module's result out of a finished job, with a message an operator can act on when it failed."""
    result = {key: value for key, value in module_result(outcome).items() if not key.startswith("_ansible")}
    if outcome.get("failed") and not outcome.get("msg"):
        exception = outcome.get("exception") if isinstance(outcome.get("exception"), dict) else {}
        result["msg"] = (exception.get("event") or {}).get("msg") or "the pg_migrate job ended without a result: %s" % (
            outcome.get("module_stderr") or outcome.get("stderr") or outcome.get("data") or "no output"
        )
    if "Timeout exceeded" in str(outcome.get("msg", "")):
        result["msg"] = TIMED_OUT_MESSAGE
    return result


def unfinished_verdict(
    note: dict | None,
    job_text: str | None,
    gone_for: float | None,
    waited: float,
    timeout: float,
    boot: str | None,
    where: tuple[str, str, str],
) -> dict | None:
    """What the watch concludes about a job without a result yet: None to keep waiting, else the failure.

    NOTE is the job's latest progress note, JOB_TEXT its results file (None: absent), GONE_FOR how long
    job_is_gone has held (None: it does not), WAITED the seconds since the watch began, TIMEOUT the job's
    pg_migrate_run_timeout, BOOT the host's boot id, WHERE (host, database, results file). A verdict with
    "job_lost" means the job is dead; any other means it may still run."""
    host, database, results_file = where
    # A job whose process is gone may still be writing its result: it is lost only if that does not come.
    if gone_for is not None and gone_for > GONE_CONFIRM:
        return {"failed": True, "job_lost": True, "msg": lost_job_message(host, database, note, why_gone(note, boot))}
    if note is None and job_text is not None and waited > ABSENT_GRACE:
        why = "no sign of it for %ds" % ABSENT_GRACE
        return {"failed": True, "job_lost": True, "msg": lost_job_message(host, database, None, why)}
    if job_text is None and waited > ABSENT_GRACE:
        return {"failed": True, "msg": still_running_advice(results_file, "its results file is gone")}
    if waited > timeout + 60:
        return {"failed": True, "msg": still_running_advice(results_file, "it outlived pg_migrate_run_timeout")}
    return None
