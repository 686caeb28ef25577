"""The change set under files/ as the tests see it: which scripts exist for which version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# The marker rule (first line `-- pg_migrate:no-transaction`) is defined once for the project's tools;
# tools/ is on sys.path for the tests (tests/conftest.py).
from squawk_changeset import NO_TRANSACTION_MARKER, is_transactional  # noqa: F401  (re-exported)

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "files" / "migrations"
SEEDS = ROOT / "files" / "seeds"
BACKFILL = ROOT / "files" / "backfill"


_DEPLOY = re.compile(r"^V(?P<version>\d+)__(?P<description>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Change:
    version: str
    description: str
    deploy: Path
    revert: Path
    verify: Path


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
