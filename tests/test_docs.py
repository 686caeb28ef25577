"""The README tells the truth: the variable table is the argument spec's, every playbook is documented."""

from __future__ import annotations

from pathlib import Path

import yaml

import gen_variables_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_variable_table_is_generated_from_the_argument_spec():
    table = gen_variables_table.render()
    assert gen_variables_table.replace_in(README, table) == README, "run: python3 tools/gen_variables_table.py --write"


def test_every_role_variable_is_in_the_argument_spec_and_the_readme():
    defaults = yaml.safe_load(
        (ROOT / "collections/ansible_collections/pg_migrate/engine/roles/pg_migrate/defaults/main.yml").read_text()
    )
    spec = yaml.safe_load(
        (
            ROOT / "collections/ansible_collections/pg_migrate/engine/roles/pg_migrate/meta/argument_specs.yml"
        ).read_text()
    )
    options = spec["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    for name in options:
        assert f"`{name}`" in README


def test_every_playbook_is_documented():
    playbooks = [p.name for p in (ROOT / "playbooks").glob("*.yml") if not p.name.startswith("_")]
    assert playbooks
    for name in playbooks:
        assert f"playbooks/{name}" in README, name


def test_the_two_quick_start_commands_are_the_ones_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make demo   #" in README and "make test   #" in README
    assert "\nmake demo\n" in ci and "\nmake test\n" in ci


COLLECTION = ROOT / "collections/ansible_collections/pg_migrate/engine"


def test_the_collection_readme_documents_every_module_and_action_plugin():
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    text = (COLLECTION / galaxy["readme"]).read_text()
    plugins = [p.stem for kind in ("modules", "action") for p in (COLLECTION / "plugins" / kind).glob("*.py")]
    assert plugins
    for name in plugins:
        assert f"`{name}`" in text or f"`pg_migrate.engine.{name}`" in text, name


def test_the_engine_defaults_point_at_nothing_outside_the_project():
    """Paths default to the project's directory or to nothing; no extension is required. The XP change set's
    settings live in the project (the playbooks/ wrappers), not in the collection."""
    defaults = yaml.safe_load((COLLECTION / "roles/pg_migrate/defaults/main.yml").read_text())
    assert defaults["pg_migrate_project_dir"] == "{{ playbook_dir }}"
    assert defaults["pg_migrate_migrations_dir"] == "{{ pg_migrate_project_dir }}/migrations"
    assert defaults["pg_migrate_seeds_dir"] == "{{ pg_migrate_project_dir }}/seeds"
    assert defaults["pg_migrate_reports_dir"] == "{{ pg_migrate_project_dir }}/reports"
    for name in ("pg_migrate_expected_schema", "pg_migrate_probes", "pg_migrate_backfill_script"):
        assert defaults[name] == "", name
    assert defaults["pg_migrate_required_extensions"] == []
    spec = yaml.safe_load((COLLECTION / "roles/pg_migrate/meta/argument_specs.yml").read_text())
    documented = spec["argument_specs"]["main"]["options"]
    for name in ("pg_migrate_migrations_dir", "pg_migrate_seeds_dir", "pg_migrate_reports_dir"):
        expected = defaults[name].replace("{{ pg_migrate_project_dir }}", "<project directory>")
        assert documented[name]["default"] == expected, name
    for name in ("pg_migrate_expected_schema", "pg_migrate_probes", "pg_migrate_backfill_script"):
        assert documented[name]["default"] == "", name
    assert documented["pg_migrate_required_extensions"]["default"] == []


def test_the_readme_knows_the_engine_is_a_collection():
    for gone in ("roles/pg_migrate/library", "roles/pg_migrate/meta", "roles/pg_migrate/files", "(`roles/pg_migrate`)"):
        assert gone not in README, gone
    assert "## Use it in your own project" in README
