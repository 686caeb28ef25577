# pg_migrate: the progress note of a run, for a watcher on the controller: a JSON file on the managed host
# (read by pg_migrate_watch), and the latest note in memory (read by the pg_migrate_run action plugin in the
# controller process, and by a run that has to say where it stopped).

from __future__ import annotations

import contextlib
import json
import os
import time

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.files import write_atomically


def boot_id() -> str | None:
    """This boot of the host (Linux); a pid noted before a reboot means nothing after it."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return None


class ProgressNotes:
    """The notes of one run of ACTION: the latest in memory, and to PATH (the module's progress_file; None writes
    no file)."""

    def __init__(self, action: str, path: str | None = None) -> None:
        self.action = action
        self.path = path
        self.written = False
        self.last: dict | None = None

    def latest(self) -> dict | None:
        """The run's latest note (state, script, number, total, action, since), None before the first."""
        return self.last

    def write_note(self, state: dict) -> None:
        """Write STATE (JSON) to this run's progress file, atomically.

        Every note carries the process's pid and the host's boot id, so the watcher on the controller can
        tell a job that still runs from one whose process died (kill -9, OOM killer, reboot)."""
        self.last = dict(state, action=self.action, since=time.time())
        if not self.path:
            return
        state = dict(state, action=self.action, pid=os.getpid(), boot_id=boot_id(), since=time.time())
        try:
            write_atomically(self.path, json.dumps(state))
            self.written = True
        except OSError:
            pass  # progress is a courtesy: never fail a migration over it

    def note_progress(self, script: str, number: int, total: int) -> None:
        """Which script is running (NUMBER of TOTAL)."""
        self.write_note({"state": "running", "script": script, "number": number, "total": total})

    def clear_progress(self) -> None:
        if self.path and self.written and os.path.exists(self.path):  # each run has its own file
            with contextlib.suppress(OSError):
                os.remove(self.path)
