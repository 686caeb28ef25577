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
    defaults = yaml.safe_load((ROOT / "roles/pg_migrate/defaults/main.yml").read_text())
    spec = yaml.safe_load((ROOT / "roles/pg_migrate/meta/argument_specs.yml").read_text())
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
