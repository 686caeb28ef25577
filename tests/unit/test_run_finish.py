"""pg_migrate_run's finish phase (the host path's last task, tasks/job.yml): the settings come back as the first task
handed them over (RunSettings.to_dict()) with the change set combined in; a lost job's status read takes the change
set from there, and the settings as RunSettings."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.settings.declared import RunSettings
from ansible_collections.pg_migrate.engine.plugins.plugin_utils import role_settings
from tests.unit.plugins import load

ACTION = load("action/pg_migrate_run.py", "pg_migrate_run_finish")
CHANGESET = {"migrations": [], "repeatables": []}


class StatusRead:
    """The lost job's status read on the managed host (RemoteRun), recorded."""

    calls: ClassVar[list[tuple[dict, RunSettings]]] = []

    def __init__(self, action, task_vars: dict) -> None:
        pass

    def run(self, params: dict, bundle: str | None, settings: RunSettings, check: bool) -> dict:
        StatusRead.calls.append((params, settings))
        return {"msg": "could not connect"}


def finish_action(args: dict) -> object:
    action = object.__new__(ACTION.ActionModule)
    action._task = SimpleNamespace(args=args)
    action._play_context = SimpleNamespace(check_mode=False, diff=False)
    action._templar = SimpleNamespace(template=lambda value: value)
    return action


def test_a_lost_jobs_finish_reads_the_settings_and_the_change_set_it_was_handed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(ACTION, "RemoteRun", StatusRead)
    StatusRead.calls = []
    first = role_settings.settings_from_argument({"reports_dir": str(tmp_path / "reports"), "lock_timeout": "3s"})
    # tasks/job.yml: settings: "{{ __pg_migrate_run.settings | combine({'changeset': __pg_migrate_run.changeset}) }}"
    args = {
        "phase": "finish",
        "settings": {**first.to_dict(), "changeset": CHANGESET},
        "job": {"job_lost": True, "failed": True, "msg": "db1 xp: the job was lost."},
        "login_db": "xp",
        "login_user": "postgres",
    }
    action = finish_action(args)
    settings = action._settings({})
    assert settings == first
    concluded = action._finish(settings, "db1", {"pg_migrate_login_password": "secret"})
    [(params, read_with)] = StatusRead.calls
    assert params["changeset"] == CHANGESET and params["action"] == "plan" and params["lock_timeout"] == "3s"
    assert params["login_password"] == "secret" and params["expected"] == {} and read_with == first
    assert "Where the database stands could not be read (could not connect)" in concluded["msg"]
    assert concluded["changed"] is False and concluded["action"] == "migrate"
