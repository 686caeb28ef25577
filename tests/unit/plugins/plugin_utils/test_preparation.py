"""plugin_utils/preparation.py: what the controller prepares before a run. It only reads the settings (a frozen
RunSettings) and returns what it prepared as a Prepared value, which pg_migrate_run reads."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleActionFail

from ansible_collections.pg_migrate.engine.plugins.module_utils.settings.declared import RunSettings
from ansible_collections.pg_migrate.engine.plugins.plugin_utils import preparation, role_settings, run_memo

CONNECTION = {"login_db": "xp", "login_user": "postgres", "login_host": ""}


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The memo and the bundle live in Ansible's per-run temporary directory; here, the test's own."""
    monkeypatch.setattr(run_memo.C, "DEFAULT_LOCAL_TMP", str(tmp_path / "ansible-local"))
    monkeypatch.setattr(preparation.C, "DEFAULT_LOCAL_TMP", str(tmp_path / "ansible-local"))
    os.makedirs(tmp_path / "ansible-local", exist_ok=True)


def project(tmp_path: Path, **given: object) -> RunSettings:
    """The settings of a run of a one-migration project under TMP_PATH (GIVEN: settings by name)."""
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "V001__shelves.sql").write_text("CREATE TABLE shelves (id int PRIMARY KEY);\n")
    (tmp_path / "expected.yml").write_text(yaml.safe_dump({"tables": {"shelves": {"columns": {"id": "integer"}}}}))
    (tmp_path / "probes.yml").write_text(yaml.safe_dump({"probes": [{"name": "one", "sql": "SELECT 1"}]}))
    return role_settings.settings_from_argument(
        {
            "migrations_dir": str(tmp_path / "migrations"),
            "seeds_dir": str(tmp_path / "seeds"),
            "reports_dir": str(tmp_path / "reports"),
            "remote_dir": "/var/lib/pg_migrate/xp",
            **given,
        }
    )


def test_preparation_returns_a_prepared_value_and_leaves_the_settings_as_they_were(tmp_path: Path):
    settings = project(
        tmp_path, action="verify", expected_schema=str(tmp_path / "expected.yml"), probes=str(tmp_path / "probes.yml")
    )
    before = settings.to_dict()
    prepared = preparation.prepare(settings, CONNECTION, "db1", False, "controller")
    assert isinstance(prepared, preparation.Prepared)
    assert settings.to_dict() == before  # nothing was added to or changed in the settings
    assert [entry["version"] for entry in prepared.changeset["migrations"]] == ["001"]
    assert prepared.bundle is None  # the controller's run needs no bundle
    assert prepared.expected == {"tables": {"shelves": {"columns": {"id": "integer"}}}}
    assert prepared.probes == {"probes": [{"name": "one", "sql": "SELECT 1"}]}
    with pytest.raises(dataclasses.FrozenInstanceError):
        prepared.bundle = "elsewhere"  # type: ignore[misc]


def test_a_run_on_the_managed_host_gets_a_bundle_and_no_documents_it_does_not_verify(tmp_path: Path):
    settings = project(
        tmp_path, action="rollback", target_version="000", expected_schema=str(tmp_path / "expected.yml")
    )
    prepared = preparation.prepare(settings, CONNECTION, "db1", False, "host")
    assert prepared.bundle is not None and os.path.isfile(prepared.bundle)
    assert prepared.expected == {} and prepared.probes == {}  # read for a migrate or verify only


def test_the_engine_takes_the_verification_documents_from_what_was_prepared(tmp_path: Path):
    settings = project(tmp_path, expected_schema=str(tmp_path / "expected.yml"), lock_retries=7)
    prepared = preparation.prepare(settings, CONNECTION, "db1", False, "controller")
    params = preparation.engine_params(settings, CONNECTION, prepared.changeset, "db1", "migrate", documents=prepared)
    assert params["expected"] == prepared.expected and params["probes"] == {}
    assert (
        params["lock_retries"] == 7
        and params["verify_schema"] is True
        and params["scripts_dir"] == ("/var/lib/pg_migrate/xp")
    )
    # The lost job's status (phase=finish) has no documents.
    status = preparation.engine_params(
        settings, CONNECTION, prepared.changeset, "db1", "plan", preflight=False, verify_schema=False
    )
    assert status["expected"] == {} and status["probes"] == {} and status["verify_schema"] is False


def test_the_engine_options_are_validated_and_the_documents_handed_over_as_they_are(tmp_path: Path):
    settings = project(tmp_path, expected_schema=str(tmp_path / "expected.yml"))
    prepared = preparation.prepare(settings, CONNECTION, "db1", False, "controller")
    params = preparation.engine_params(settings, CONNECTION, prepared.changeset, "db1", "migrate", documents=prepared)
    # Not copied: the validator saw an empty dict in their place (their options are of type dict, nothing more).
    assert params["changeset"] is prepared.changeset and params["expected"] is prepared.expected
    with pytest.raises(AnsibleActionFail, match="login_port"):
        preparation.engine_params(
            settings, dict(CONNECTION, login_port="not a port"), prepared.changeset, "db1", "plan"
        )
