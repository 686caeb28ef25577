# pg_migrate: the change set's scripts as this run reads them - each checked byte for byte against the
# controller's checksum before anything runs - and executed statement by statement at the controller's offsets.

from __future__ import annotations

import hashlib
import os

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Script
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import (
    RunFailed,
    StatementFailed,
    session_ended,
    sqlstate_of,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.connection import Session


def ahead(entry: Script, number: int, whole_rest: bool) -> list[tuple[str, str]]:
    """What the look before statement NUMBER of ENTRY covers: that statement's tables, or, in a transaction
    (WHOLE_REST), every table the script locks from there on - one look before its first lock, none while it
    holds one (each look then would add to the time the claims wait for the commit)."""
    return [(relation, mode) for at, relation, mode in entry.locks if at == number or (whole_rest and at > number)]


class Scripts:
    """The scripts under SCRIPTS_DIR (the copy on the managed host), or, in the controller process, in the
    project's own directories (SCRIPT_ROOTS: migrations, seeds, backfill), run on SESSION."""

    def __init__(self, session: Session, scripts_dir: str | None, script_roots: dict[str, str] | None = None) -> None:
        self.session = session
        self.scripts_dir = scripts_dir
        self.script_roots = script_roots
        self.texts: dict[str, str] = {}  # path -> checked text: each file is read once

    def path(self, entry: Script) -> str:
        """Where ENTRY is."""
        if self.script_roots:
            top, _slash, rest = entry.path.partition("/")
            return os.path.join(self.script_roots[top], rest)
        return os.path.join(self.scripts_dir or "", entry.path)

    def text(self, entry: Script) -> str:
        """The copied file, checked byte for byte against the controller's sha256 of its bytes (bytes_sha256;
        its checksum hashes the normalised text, for the history). A leading byte-order mark is dropped, as the
        controller dropped it before computing the statement offsets (PostgreSQL would reject it)."""
        path = self.path(entry)
        if path not in self.texts:
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError as exc:
                raise RunFailed(
                    "cannot read %s on this host (%s): the copy step did not place it; run the role "
                    "again without skipping the copy." % (path, exc.strerror)
                ) from None
            checksum = hashlib.sha256(data).hexdigest()
            if checksum != entry.bytes_sha256:
                raise RunFailed(
                    "%s on this host differs from the controller's file (sha256 %s, expected %s): the copy is stale "
                    "or was altered. Nothing was changed; run the role again to copy it."
                    % (path, checksum, entry.bytes_sha256)
                )
            self.texts[path] = data.decode("utf-8-sig")  # utf-8, without one leading BOM
        return self.texts[path]

    def statements(self, entry: Script) -> list[tuple[int, int, str]]:
        """(number, line, text) of each statement of ENTRY, at the controller's offsets."""
        text = self.text(entry)
        return [(number, line, text[start:end]) for number, (start, end, line) in enumerate(entry.statements, start=1)]

    def run(self, entry: Script, first: int = 1) -> list[dict]:
        """Execute the statements of ENTRY from number FIRST on; the rows of the last one."""
        rows: list[dict] = []
        session = self.session
        session.current_script = entry.script
        looked_ahead = False
        for number, line, statement in self.statements(entry)[first - 1 :]:
            session.check_stop()
            targets = ahead(entry, number, whole_rest=False)
            if targets and not looked_ahead:
                looked_ahead = not session.conn.autocommit
                session.look_before_locking((entry.script, number, line, statement), ahead(entry, number, looked_ahead))
            try:
                rows = session.rows(statement)
            except Exception as exc:  # psycopg 2 and 3 errors share no base class we can import here
                if sqlstate_of(exc) is None or session_ended(exc):
                    raise  # not the script's doing: the run broke off (reported with the script it was running)
                failure = StatementFailed(entry.script, number, line, statement, exc)
                failure.locks = targets  # whom to name, should its lock timeout fire on every attempt
                raise failure from exc
        return rows
