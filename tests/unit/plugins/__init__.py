"""The collection's plugins loaded by file, for tests that need a plugin itself (not its module_utils).

Tests of the logic import module_utils directly (from ansible_collections.pg_migrate.engine.plugins.module_utils
import ...); tests/conftest.py puts collections/ on sys.path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[3] / "collections"
PLUGINS = COLLECTIONS / "ansible_collections" / "pg_migrate" / "engine" / "plugins"
# ansible_collections is a namespace package: the repository's collections/ joins the installed ones
# (community.postgresql), so the plugins' own imports resolve as they do under Ansible.
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))


def load(relative: str, name: str):
    spec = importlib.util.spec_from_file_location(name, PLUGINS / relative)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


backfill = load("action/pg_migrate_backfill.py", "pg_migrate_backfill")
