"""plugin_utils/role_settings.py: the role's variables as pg_migrate_run reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleActionFail

from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet import rules as fleet
from ansible_collections.pg_migrate.engine.plugins.plugin_utils import role_settings, run_memo
from tests.unit.plugins import COLLECTIONS

ROLE = COLLECTIONS / "ansible_collections/pg_migrate/engine/roles/pg_migrate"


@pytest.fixture(autouse=True)
def private_memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The memo lives in Ansible's per-run temporary directory; here, the test's own."""
    monkeypatch.setattr(run_memo.C, "DEFAULT_LOCAL_TMP", str(tmp_path / "ansible-local"))


def test_every_setting_is_declared_once_in_the_argument_spec_with_its_default_beside_it():
    """meta/argument_specs.yml declares every setting (type, default, choices, description); the run's
    settings are read from it, and defaults/main.yml only repeats each default (Ansible needs the file)."""
    options = role_settings.role_options()
    assert Path(role_settings.ARGUMENT_SPECS) == ROLE / "meta/argument_specs.yml"
    names = role_settings.setting_names()
    connection = set(role_settings.CONNECTION_VARIABLES.values())
    assert {role_settings.PREFIX + name for name in names} | connection | {"pg_migrate_fail_host"} == set(options)
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    assert set(defaults) == set(options)
    # A default that is a template is declared as it reads ("<playbook directory>/migrations").
    readable = {"{{ playbook_dir }}": "<playbook directory>", "{{ pg_migrate_db }}": "<pg_migrate_db>"}
    for name, option in options.items():
        if not option.get("required"):
            default = defaults[name]
            for template, words in readable.items():
                default = default.replace(template, words) if isinstance(default, str) else default
            assert default == option.get("default"), name
    # The fleet's default waves are the declaration's, not a copy of their own.
    assert list(fleet.DEFAULT_WAVES) == options["pg_migrate_fleet_waves"]["default"]
    settings = role_settings.settings_from_variables({name: options[name].get("default") for name in options}.get)
    assert list(settings) == names and settings["fleet_canary_stops"] is True and settings["verify"] is True


def test_a_new_setting_is_one_declaration_plus_its_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A setting added to the argument spec is validated, defaulted and handed to the run with no other list
    to extend."""
    spec = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())
    spec["argument_specs"]["main"]["options"]["pg_migrate_example_limit"] = {
        "description": "An example.",
        "type": "int",
        "default": 7,
    }
    path = tmp_path / "argument_specs.yml"
    path.write_text(yaml.safe_dump(spec))
    monkeypatch.setattr(role_settings, "ARGUMENT_SPECS", str(path))
    monkeypatch.setattr(role_settings.role_options, "__defaults__", (str(path),))
    given = {"pg_migrate_db": "xp"}
    validated = role_settings.validated_role_variables(given.get, given.__contains__)
    assert role_settings.settings_from_variables(validated.get)["example_limit"] == 7
    given["pg_migrate_example_limit"] = "nine"
    with pytest.raises(AnsibleActionFail, match="pg_migrate_example_limit"):
        role_settings.validated_role_variables(given.get, given.__contains__)


def test_settings_are_normalised_as_the_role_does():
    values = {"pg_migrate_verify": "no", "pg_migrate_target_version": 3, "pg_migrate_lock_timeout": "5s"}
    settings = role_settings.settings_from_variables(values.get)
    assert settings["verify"] is False
    assert settings["target_version"] == "3"
    assert settings["baseline_version"] == ""  # None, as `| string` of an empty default
    assert settings["lock_timeout"] == "5s"
    assert settings["approved"] is False


def test_the_connection_leaves_out_an_empty_ca_certificate_and_reads_the_port_as_a_number():
    values = {"pg_migrate_db": "xp", "pg_migrate_login_port": "6432", "pg_migrate_ca_cert": ""}
    connection = role_settings.connection_from_variables(values.get)
    assert connection["login_db"] == "xp" and connection["login_port"] == 6432
    assert "ca_cert" not in connection


def test_validation_names_every_wrong_variable_in_one_message():
    given = {"pg_migrate_db": "xp", "pg_migrate_on_standby": "maybe", "pg_migrate_lock_retries": "abc"}
    with pytest.raises(AnsibleActionFail) as failure:
        role_settings.validated_role_variables(given.get, given.__contains__)
    message = str(failure.value)
    assert message.startswith("Validation of arguments failed:")
    assert "pg_migrate_on_standby must be one of: skip, fail, got: maybe" in message
    assert "pg_migrate_lock_retries" in message


def test_validation_applies_the_spec_defaults_and_types():
    given = {"pg_migrate_db": "xp", "pg_migrate_login_port": "6432"}
    validated = role_settings.validated_role_variables(given.get, given.__contains__)
    assert validated["pg_migrate_login_port"] == 6432
    assert validated["pg_migrate_action"] == "migrate"
