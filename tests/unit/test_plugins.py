"""The plugins are glue: every plugin the role names exists, and the action plugins load."""

from __future__ import annotations

import re

import pytest

from tests.unit.plugins import PLUGINS, load


def test_the_role_names_only_plugins_the_collection_has():
    tasks = PLUGINS.parent / "roles" / "pg_migrate" / "tasks"
    used = {name for path in tasks.glob("*.yml") for name in re.findall(r"pg_migrate\.engine\.(\w+)", path.read_text())}
    modules_and_actions = {path.stem for path in (PLUGINS / "modules").glob("*.py")}
    modules_and_actions |= {path.stem for path in (PLUGINS / "action").glob("*.py")}
    action_groups = {"all"}  # group/pg_migrate.engine.all in module_defaults
    assert {"pg_migrate", "pg_migrate_run", "pg_migrate_watch", "pg_migrate_backfill"} <= used
    assert used <= modules_and_actions | action_groups


@pytest.mark.parametrize("name", ["pg_migrate_run", "pg_migrate_watch", "pg_migrate_backfill", "pg_migrate_import"])
def test_the_action_plugins_load(name):
    assert load("action/%s.py" % name, "test_%s" % name).ActionModule.run
