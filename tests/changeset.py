"""The change set under files/ as the tests see it: which scripts exist for which version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The naming and marker rules are the engine's own (collections/ is on sys.path: tests/conftest.py).
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.discovery import scripts_named
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.sql_analysis import NO_TRANSACTION_MARKER
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.sql_analysis import (
    script_is_transactional as is_transactional,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import version_key

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "files" / "migrations"
SEEDS = ROOT / "files" / "seeds"
BACKFILL = ROOT / "files" / "backfill"

__all__ = [
    "BACKFILL",
    "MIGRATIONS",
    "NO_TRANSACTION_MARKER",
    "SEEDS",
    "Change",
    "change",
    "changes",
    "is_transactional",
]


@dataclass(frozen=True)
class Change:
    version: str
    description: str
    deploy: Path
    revert: Path
    verify: Path


def changes() -> list[Change]:
    """Every migration in version order, with its revert and verify scripts."""
    found = [
        Change(
            version=name.version,
            description=name.slug,
            deploy=Path(path),
            revert=MIGRATIONS / f"U{name.version}__{name.slug}.sql",
            verify=MIGRATIONS / f"V{name.version}__{name.slug}.verify.sql",
        )
        for name, path in scripts_named(MIGRATIONS, ("deploy",))
    ]
    return sorted(found, key=lambda change: version_key(change.version))


def change(version: str) -> Change:
    return next(c for c in changes() if c.version == version)
