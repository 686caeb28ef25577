# pg_migrate: the fleet report's files in pg_migrate_reports_dir - written whole at the start of a rollout (an
# "in progress" report, so that nothing there claims to describe the rollout before it does), kept current as
# each database finishes (fleet.json's entry and fleet.resume, under a lock: the runs are parallel forked
# workers), and written whole again at its end. A checked rollout writes fleet.check.* instead and leaves the
# last real run's files alone. Used by the pg_migrate_fleet and pg_migrate_run action plugins.

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.files import write_atomically as write_file
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.page import html_page
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.report import (
    IN_PROGRESS,
    counts_of,
    junit,
    still_to_do_of,
)

REAL = ("fleet.json", "fleet.junit.xml", "fleet.html", "fleet.resume")
CHECKED = ("fleet.check.json", "fleet.check.junit.xml", "fleet.check.html")
LOCK = ".fleet.lock"


def write_atomically(path: str, text: str) -> None:
    """module_utils.files.write_atomically, creating the reports directory first."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_file(path, text)


def json_text(report: dict, compact: bool = False) -> str:
    """A report as the fleet's JSON files lay it out; COMPACT: on one line, as the in-progress report is rewritten
    after every database (Python's JSON encoder is its fast C one only without indentation: the indented text
    of a 1,000-database report took tens of milliseconds per database)."""
    if compact:
        return json.dumps(report, sort_keys=True) + "\n"
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


@contextlib.contextmanager
def locked(directory: str) -> Iterator[None]:
    """The reports directory's fleet lock: one writer of fleet.json and fleet.resume at a time."""
    os.makedirs(directory, exist_ok=True)
    handle = os.open(os.path.join(directory, LOCK), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def paths(directory: str, check: bool) -> list[str]:
    return [os.path.join(directory, name) for name in (CHECKED if check else REAL)]


def resume_text(report: dict) -> str:
    return "".join("%s\n" % host for host in report["still_to_do"])


def write_report(directory: str, report: dict) -> list[str]:
    """Every file of REPORT (check mode: fleet.check.*, no resume list); the paths written."""
    files = paths(directory, bool(report.get("check_mode")))
    with locked(directory):
        write_atomically(files[0], json_text(report))
        write_atomically(files[1], junit(report))
        write_atomically(files[2], html_page(report))
        if len(files) > 3:
            write_atomically(files[3], resume_text(report))
    return files


def recount(report: dict) -> None:
    """Counts and the resume list of REPORT after an entry changed (an in-progress report)."""
    report["counts"] = counts_of(report["databases"])
    report["still_to_do"] = still_to_do_of(report["databases"])


def record_finished(directory: str, run_id: str, host: str, entry_of: Callable[[dict], dict]) -> bool:
    """Put HOST's outcome into the in-progress fleet.json of rollout RUN_ID and drop it from fleet.resume when
    it is done. ENTRY_OF(its in-progress entry) gives the finished entry. False when the files belong to
    another rollout (a later one started meanwhile) or are gone: then nothing is written."""
    path = os.path.join(directory, REAL[0])
    with locked(directory):
        try:
            with open(path, encoding="utf-8") as handle:
                report = json.load(handle)
        except (OSError, ValueError):
            return False
        if report.get("run_id") != run_id or report.get("verdict") != IN_PROGRESS:
            return False
        for index, entry in enumerate(report["databases"]):
            if entry["host"] == host:
                report["databases"][index] = entry_of(entry)
        recount(report)
        write_atomically(path, json_text(report, compact=True))
        write_atomically(os.path.join(directory, REAL[3]), resume_text(report))
    return True


def unfinished_rollout(directory: str) -> dict | None:
    """The last real rollout's report when it says it has not finished (running, or interrupted)."""
    try:
        with open(os.path.join(directory, REAL[0]), encoding="utf-8") as handle:
            report = json.load(handle)
    except (OSError, ValueError):
        return None
    return report if report.get("verdict") == IN_PROGRESS else None
