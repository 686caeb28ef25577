"""Import the role's Python plugins by file (they live in role folders, not in a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROLE = Path(__file__).resolve().parents[2] / "roles" / "pg_migrate"


def load(relative: str, name: str):
    spec = importlib.util.spec_from_file_location(name, ROLE / relative)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


changeset = load("action_plugins/pg_migrate_changeset.py", "pg_migrate_changeset")
plan = load("module_utils/pg_migrate_plan.py", "pg_migrate_plan")
filters = load("filter_plugins/pg_migrate.py", "pg_migrate_filters")
backfill = load("action_plugins/pg_migrate_backfill.py", "pg_migrate_backfill")
watch = load("action_plugins/pg_migrate_watch.py", "pg_migrate_watch")
inputs = load("action_plugins/pg_migrate_inputs.py", "pg_migrate_inputs")
