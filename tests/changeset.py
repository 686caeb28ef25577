"""The change set under files/ as the tests see it: which scripts exist for which version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "files" / "migrations"
SEEDS = ROOT / "files" / "seeds"
BACKFILL = ROOT / "files" / "backfill"

# The marker a migration puts on its first line to run outside a transaction (docs/data_model.md).
NO_TRANSACTION_MARKER = "-- pg_migrate:no-transaction"

_DEPLOY = re.compile(r"^V(?P<version>\d+)__(?P<description>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Change:
    version: str
    description: str
    deploy: Path
    revert: Path
    verify: Path


def is_transactional(script: Path) -> bool:
    first_line = script.read_text(encoding="utf-8").split("\n", 1)[0].strip()
    return first_line != NO_TRANSACTION_MARKER


def changes() -> list[Change]:
    """Every migration in version order, with its revert and verify scripts."""
    found = []
    for path in MIGRATIONS.glob("V*.sql"):
        match = _DEPLOY.match(path.name)
        if not match:
            continue  # verify scripts: V<version>__<description>.verify.sql
        version, description = match["version"], match["description"]
        found.append(
            Change(
                version=version,
                description=description,
                deploy=path,
                revert=MIGRATIONS / f"U{version}__{description}.sql",
                verify=MIGRATIONS / f"V{version}__{description}.verify.sql",
            )
        )
    return sorted(found, key=lambda change: int(change.version))


def change(version: str) -> Change:
    return next(c for c in changes() if c.version == version)
