# pg_migrate: the pieces of one run against one database, each with one job: the server session
# (connection.py), the progress notes (progress_notes.py), the advisory lock (advisory_lock.py), the history
# table (history.py) and the scripts (scripts.py). The actions take this bundle and use the pieces they need.
#
# No AnsibleModule here: the caller passes the module's parameters as a plain dict, and callbacks to warn
# and log; failures are exceptions (errors.RunFailed, errors.StatementFailed).

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Changeset
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.advisory_lock import AdvisoryLock
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.connection import Session, Timeouts, ignore
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.history import History
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.progress_notes import ProgressNotes
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.scripts import Scripts


class Runner:
    """One run against one database.

    PARAMS: the module's parameters (login_db, history_schema, history_table, action, scripts_dir, the
    timeouts and retry settings, progress_file). CONN: an open DB-API connection, or None until the run
    connects. RECONNECT, CONNECT_FOR_CHECK: see connection.Session. CHANGESET: the change set of
    params["changeset"] (its JSON form, the module option), read once here; the run reads this one."""

    def __init__(
        self,
        params: dict,
        conn: Any = None,
        warn: Callable[[str], None] = ignore,
        log: Callable[[str], None] = ignore,
        reconnect: Callable[[], Any] | None = None,
        connect_for_check: Callable[[], Any] | None = None,
    ) -> None:
        self.params = params
        self.changeset = Changeset.from_dict(params.get("changeset") or {})
        self.warn = warn
        self.session = Session(conn, Timeouts.of(params), log, reconnect, connect_for_check)
        self.notes = ProgressNotes(params["action"], params.get("progress_file"))
        self.session.note_waiting = self.notes.write_note  # a wait for table locks is a progress note too
        self.session.maintenance_workers = int(params.get("parallel_maintenance_workers", -1))
        self.history = History(self.session, params["history_schema"], params["history_table"])
        # Backfills exclude each other, not migrations: a long backfill must not hold up a rollout.
        self.lock = AdvisoryLock(
            self.session,
            params["login_db"],
            self.history.name,
            "backfill" if params["action"] == "backfill" else "migration",
            params["advisory_lock_wait"],
            self.notes,
            warn,
        )
        self.scripts = Scripts(self.session, params.get("scripts_dir"), params.get("script_roots"))

    def note_progress(self, label: str, number: int, total: int) -> None:
        """LABEL (a script, or the scripts of one transaction) runs now, NUMBER of TOTAL: for the watcher, and
        for the message should the run break off before its first statement."""
        self.session.current_script = label
        self.notes.note_progress(label, number, total)

    def release_quietly(self) -> None:
        """At the end of a run, failed or not: no progress note, no open transaction, no lock."""
        self.notes.clear_progress()
        try:
            self.session.conn.rollback()
            self.lock.release()
        except Exception:  # the session is going away anyway; closing it releases the lock
            pass
