"""A test database on the disposable server, with the operations the change-set tests need."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from tests.changeset import BACKFILL, SEEDS, Change, changes, is_transactional

SEED_SCRIPT = SEEDS / "R__default_policy.sql"
BACKFILL_SCRIPT = BACKFILL / "awards_policy_version.sql"

# pg_dump >= 15.14 writes a random key in \restrict / \unrestrict lines; it differs on every dump.
_VOLATILE_DUMP_LINE = re.compile(r"^\\(un)?restrict .*$", re.MULTILINE)

# Everything a claim is, in a stable text form: equal digests mean byte-for-byte identical claims.
AWARDS_DIGEST_SQL = """
SELECT count(*), md5(coalesce(string_agg(
         concat_ws('|', award_id, player_id, amount, reason, idempotency_key,
                   awarded_at AT TIME ZONE 'UTC', created_at AT TIME ZONE 'UTC'),
         E'\\n' ORDER BY award_id), ''))
  FROM xp_awards
 WHERE award_id <= %s
"""

# A realistic, deterministic claims history (players, reasons and times spread over weeks): the
# same generator the Molecule scenarios load, so both suites test the same data.
LOAD_CLAIMS_SQL = (Path(__file__).resolve().parent.parent / "molecule" / "shared" / "claims.sql").read_text()

CLAIM_SQL = """
INSERT INTO xp_awards (player_id, amount, reason, idempotency_key)
VALUES (%s, %s, %s, %s)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING award_id
"""


class ScriptFailed(AssertionError):
    def __init__(self, script: Path, stderr: str) -> None:
        super().__init__(f"{script.name} failed:\n{stderr}")
        self.script = script
        self.stderr = stderr


class Database:
    def __init__(self, server: Any, name: str) -> None:
        self.server = server
        self.name = name
        self._conn: psycopg.Connection | None = None
        self.version = "000"  # newest change applied through deploy()/revert() below

    # --- plain SQL -------------------------------------------------------------------------------
    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.server.conninfo(self.name), autocommit=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def connect(self, **kwargs: Any) -> psycopg.Connection:
        return psycopg.connect(self.server.conninfo(self.name), **kwargs)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        return self.query(sql, params)[0][0]

    def sqlstate(self, sql: str, params: Sequence[Any] | None = None, setup: str | None = None) -> str | None:
        """Run SQL in a transaction that is always rolled back; the SQLSTATE it failed with, or None."""
        with self.connect() as conn:
            try:
                if setup:
                    conn.execute(setup)
                conn.execute(sql, params)
                return None
            except psycopg.Error as exc:
                return exc.sqlstate
            finally:
                conn.rollback()

    # --- psql, the way an operator runs the scripts --------------------------------------------------
    def env(self) -> dict[str, str]:
        return {**os.environ, **self.server.libpq_env(self.name)}

    def psql(self, script: Path, *extra: str, options: str = "") -> str:
        """Run a script with psql -v ON_ERROR_STOP=1, in one transaction unless it is marked otherwise."""
        cmd = [self.server.program("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", *extra, "-f", str(script)]
        if is_transactional(script):
            cmd.insert(1, "--single-transaction")
        env = {**self.env(), "PGOPTIONS": options} if options else self.env()
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ScriptFailed(script, result.stderr)
        return result.stdout

    def schema_dump(self) -> str:
        result = subprocess.run(
            [self.server.program("pg_dump"), "--schema-only", "--no-owner", self.name],
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
        )
        return _VOLATILE_DUMP_LINE.sub("", result.stdout)

    # --- the change set ----------------------------------------------------------------------------
    def deploy(self, change: Change) -> None:
        self.psql(change.deploy)
        self.version = change.version

    def revert(self, change: Change) -> None:
        self.psql(change.revert)
        self.version = f"{int(change.version) - 1:03d}"

    def verify(self, change: Change) -> None:
        self.psql(change.verify)

    def migrate(self, up_to: str | None = None) -> None:
        """Deploy the pending changes in order, up to and including UP_TO (default: all)."""
        for change in changes():
            if int(change.version) <= int(self.version):
                continue
            if up_to is not None and int(change.version) > int(up_to):
                return
            self.deploy(change)

    def revert_to(self, version: str) -> None:
        """Revert newest first until VERSION is the newest applied (000: revert everything)."""
        for change in reversed(changes()):
            if int(change.version) > int(version):
                self.revert(change)

    # --- seed and backfill, as an operator runs them with psql ----------------------------------------
    def seed(self) -> None:
        self.psql(SEED_SCRIPT)

    def backfill_batch(self, batch_size: int, after: int = 0, options: str = "") -> tuple[int, int | None, int]:
        """One run of the backfill script (docs/backfill.md): (done, last_key, blocked)."""
        out = self.psql(
            BACKFILL_SCRIPT,
            "-A",
            "-t",
            "-F",
            ",",
            options=f"-c pg_migrate.batch_size={batch_size} -c pg_migrate.after={after} {options}",
        )
        done, last, blocked = out.strip().split(",")
        return int(done), (int(last) if last else None), int(blocked)

    def backfill_until_done(self, batch_size: int, options: str = "", cursor: int = 0) -> list[int]:
        """The documented loop: batches along the keyset cursor, then a sweep from 0; rows linked per batch."""
        batches = []
        while True:
            linked, last, blocked = self.backfill_batch(batch_size, cursor, options)
            if blocked and not linked:
                raise AssertionError("backfill: no default policy version; apply the seed first")
            if linked:
                batches.append(linked)
                cursor = last
            elif cursor:
                cursor = 0
            else:
                return batches

    # --- claims ----------------------------------------------------------------------------------------
    def awards_digest(self, up_to_award_id: int = 2**62) -> tuple[int, str]:
        """(count, md5) over every V001 column of the awards up to UP_TO_AWARD_ID."""
        return self.query(AWARDS_DIGEST_SQL, (up_to_award_id,))[0]

    def load_claims(self, count: int) -> int:
        """Insert COUNT historical claims; returns the highest award_id."""
        self.query(LOAD_CLAIMS_SQL, {"claims": count})
        return self.scalar("SELECT max(award_id) FROM xp_awards")

    def claim(self, player_id: str, amount: int, idempotency_key: str, reason: str = "quest") -> int | None:
        """The application's claim path: the award id, or None when the key was already granted."""
        rows = self.query(CLAIM_SQL, (player_id, amount, reason, idempotency_key))
        return rows[0][0] if rows else None
