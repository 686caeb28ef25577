"""Helpers for the scenarios' testinfra tests: look at the real database inside the instance."""

from __future__ import annotations

import json
import os
from pathlib import Path

# In the container: the postgres superuser over the local socket, no password needed.
PSQL = "runuser -u postgres -- psql"
SNAPSHOTS = "/var/lib/pg_migrate/snapshots"
LATEST = ["001", "002", "003", "004", "005"]


def psql(host, sql: str, database: str = "xp") -> str:
    """Run SQL as the superuser and return its output."""
    return host.check_output(PSQL + " -X -tA -v ON_ERROR_STOP=1 -d %s -c %s", database, sql)


def psql_error(host, sql: str, database: str = "xp") -> str:
    """Run SQL that must fail; return psql's verbose error (it carries the SQLSTATE)."""
    result = host.run(PSQL + " -X -tA -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d %s -c %s", database, sql)
    assert result.rc != 0, f"expected an error from: {sql}\n{result.stdout}"
    return result.stderr


def history(host) -> list[tuple[str, ...]]:
    out = psql(host, "SELECT version, script, kind, success FROM pg_migrate_history ORDER BY installed_rank")
    return [tuple(line.split("|")) for line in out.splitlines() if line]


def applied_versions(host) -> list[str]:
    return [row[0] for row in history(host) if row[3] == "t" and row[2] in ("migration", "baseline")]


def claims_digest(host) -> str:
    return host.check_output(PSQL + " -X -tA -d xp < %s/claims_digest.sql", SNAPSHOTS)


def snapshot(host, name: str) -> str:
    return host.file(f"{SNAPSHOTS}/{name}.txt").content_string


def digest_in_snapshot(host, name: str) -> str:
    return snapshot(host, name).strip().splitlines()[-1]


def reports(kind: str) -> list[dict]:
    """The role's JSON reports of this scenario (written on the controller)."""
    base = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "reports"
    return [json.loads(p.read_text()) for p in sorted(base.glob(f"*/{kind}.json"))]
