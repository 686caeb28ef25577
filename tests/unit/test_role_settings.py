"""plugin_utils/role_settings.py: the role's variables as pg_migrate_run reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleActionFail

from ansible_collections.pg_migrate.engine.plugins.plugin_utils import role_settings, run_memo
from tests.unit.plugins import COLLECTIONS

ROLE = COLLECTIONS / "ansible_collections/pg_migrate/engine/roles/pg_migrate"


@pytest.fixture(autouse=True)
def private_memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The memo lives in Ansible's per-run temporary directory; here, the test's own."""
    monkeypatch.setattr(run_memo.C, "DEFAULT_LOCAL_TMP", str(tmp_path / "ansible-local"))


def test_the_action_reads_the_same_settings_the_role_passes_to_its_job_tasks():
    """vars/main.yml builds __pg_migrate_settings for the host path's finish; the action reads the same names."""
    passed = yaml.safe_load((ROLE / "vars/main.yml").read_text())["__pg_migrate_settings"]
    assert list(passed) == list(role_settings.NAMES)
    for name, template in passed.items():
        assert f"pg_migrate_{name}" in template
        assert ("| bool" in template) == (name in role_settings.BOOLEANS), name
        assert ("| string" in template) == (name in role_settings.TEXTS), name


def test_every_setting_and_connection_variable_is_in_the_argument_spec():
    options = role_settings.role_options()
    assert Path(role_settings.ARGUMENT_SPECS) == ROLE / "meta/argument_specs.yml"
    variables = [role_settings.PREFIX + name for name in role_settings.NAMES]
    variables += list(role_settings.CONNECTION_VARIABLES.values())
    missing = [name for name in variables if name not in options]
    assert missing == []


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
