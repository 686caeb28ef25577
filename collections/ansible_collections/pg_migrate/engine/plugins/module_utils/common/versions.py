# pg_migrate: what a version is and which versions a history table says are applied.
#
# Every other part (planner, changeset discovery, apply, verify, reports, tools) asks here, so that
# "002" and "2" are the same version everywhere and "applied" means one thing.

from __future__ import annotations

import re

VERSION_PATTERN = re.compile(r"^\d+(\.\d+)*$")
NO_VERSION = "000"  # how "nothing applied yet" is shown
APPLIED_KINDS = ("migration", "baseline")  # history rows that move the schema version


def version_key(version: str) -> tuple[int, ...]:
    """'002' and '2' are the same version; '1.10' sorts after '1.9'; '1.0' is '1'."""
    if version is None or not VERSION_PATTERN.match(str(version)):
        raise ValueError("not a version: %r (expected digits, optionally dotted, e.g. 002 or 1.2)" % (version,))
    parts = [int(part) for part in str(version).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def is_applied(row: dict) -> bool:
    """Whether a history row records a version in force (a successful migration or baseline)."""
    return row.get("kind") in APPLIED_KINDS and bool(row.get("success", True))


def applied_versions(history: list[dict]) -> list[str]:
    """The versions the history says are applied, lowest first."""
    return sorted((row["version"] for row in history if is_applied(row)), key=version_key)


def current_version(history: list[dict]) -> str:
    """The highest applied version, or NO_VERSION."""
    applied = applied_versions(history)
    return applied[-1] if applied else NO_VERSION


def highest_applied_below(history: list[dict], version: str) -> str:
    """The highest applied version below VERSION (where a rollback of VERSION leaves the database)."""
    below = [applied for applied in applied_versions(history) if version_key(applied) < version_key(version)]
    return below[-1] if below else NO_VERSION
