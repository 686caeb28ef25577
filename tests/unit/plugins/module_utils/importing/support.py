"""The importer's unit tests: a source directory as a dict, planned in memory (no disk, no database)."""

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.sql_analysis import (
    NO_TRANSACTION_MARKER as MARKER,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.plan import ImportPlan, plan_import

__all__ = ["MARKER", "planned"]


def planned(tool: str, files: dict[str, str | None]) -> ImportPlan:
    return plan_import(tool, files)
