"""The plugins are glue: the filter names the role uses map to module_utils, and the action plugins load."""

from __future__ import annotations

import re

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils import catalog, lint, report
from tests.unit.plugins import PLUGINS, filters, load


def test_every_filter_the_role_uses_is_the_module_utils_function():
    assert filters.FilterModule().filters() == {
        "lint_groups": lint.lint_groups,
        "squawk_findings": lint.squawk_findings,
        "summary": report.summary,
        "lost_job_state": report.lost_job_state,
        "verify_catalog": catalog.verify_catalog,
        "probe_checks": catalog.probe_checks,
        "verification_summary": catalog.verification_summary,
        "junit": report.junit_xml,
        "run_junit": report.run_junit,
    }


def test_the_role_uses_only_filters_the_plugin_has():
    tasks = PLUGINS.parent / "roles" / "pg_migrate" / "tasks"
    used = {name for path in tasks.glob("*.yml") for name in re.findall(r"pg_migrate\.engine\.(\w+)", path.read_text())}
    modules_and_actions = {path.stem for path in (PLUGINS / "modules").glob("*.py")}
    modules_and_actions |= {path.stem for path in (PLUGINS / "action").glob("*.py")}
    action_groups = {"all"}  # group/pg_migrate.engine.all in module_defaults
    assert (
        {"summary", "run_junit", "verify_catalog"}
        <= used - modules_and_actions - action_groups
        <= set(filters.FilterModule().filters())
    )


@pytest.mark.parametrize("name", ["pg_migrate_changeset", "pg_migrate_inputs", "pg_migrate_watch"])
def test_the_action_plugins_load(name):
    assert load("action/%s.py" % name, "test_%s" % name).ActionModule.run
