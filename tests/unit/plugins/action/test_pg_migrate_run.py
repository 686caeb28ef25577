"""plugins/action/pg_migrate_run.py: the start phase as the role's first task runs it (the role's variables in
task_vars, Ansible's Task, PlayContext, local connection and Templar) on the controller path against a real
PostgreSQL database with the engine tests' neutral change set; and the finish phase (the host path's last task,
tasks/job.yml): the settings come back as the first task handed them over (RunSettings.to_dict()) with the change
set combined in; a lost job's status read takes the change set from there, and the settings as RunSettings."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest
from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import action_loader, connection_loader
from ansible.template import Templar

from ansible_collections.pg_migrate.engine.plugins.module_utils.settings.declared import RunSettings
from ansible_collections.pg_migrate.engine.plugins.plugin_utils import role_settings
from tests.pgdb import Database
from tests.unit.plugins import load

ACTION = load("action/pg_migrate_run.py", "pg_migrate_run_finish")
CHANGESET = {"migrations": [], "repeatables": []}
LIBRARY = Path(__file__).resolve().parents[3] / "engine" / "changeset" / "migrations"


def start(variables: dict, check: bool = False) -> dict:
    """The role's first task (pg_migrate_run, no arguments) on a host named db1 with the role's VARIABLES."""
    loader = DataLoader()
    play_context = PlayContext()
    play_context.check_mode = check
    task = Task.load({"name": "Run pg_migrate", "pg_migrate.engine.pg_migrate_run": {}}, loader=loader)
    connection = connection_loader.get("local", play_context, "/dev/null")
    # As Ansible loads it (the collection loader's copy of the plugin and of module_utils: the change set it
    # remembers between workers is pickled by that class).
    action = action_loader.get(
        "pg_migrate.engine.pg_migrate_run",
        task=task,
        connection=connection,
        play_context=play_context,
        loader=loader,
        templar=Templar(loader=loader),
        shared_loader_obj=None,
    )
    return action.run(task_vars={"inventory_hostname": "db1", "playbook_dir": "/nonexistent", **variables})


def role_variables(db: Database, tmp_path: Path, **settings: object) -> dict:
    return {
        "pg_migrate_db": db.name,
        **{"pg_migrate_login_" + key: getattr(db.server, key) for key in ("host", "port", "user", "password")},
        "pg_migrate_ssl_mode": "disable",
        "pg_migrate_execution": "controller",
        "pg_migrate_migrations_dir": str(LIBRARY),
        "pg_migrate_reports_dir": str(tmp_path / "reports"),
        "pg_migrate_verify_schema": False,
        "pg_migrate_lint": False,
        **{"pg_migrate_" + name: value for name, value in settings.items()},
    }


@pytest.mark.usefixtures("collection_loader")
def test_the_role_s_first_task_migrates_on_the_controller_and_reports_it(db: Database, tmp_path: Path):
    variables = role_variables(db, tmp_path)
    rehearsal = start(variables, check=True)
    assert rehearsal["changed"] is True and not rehearsal.get("failed"), rehearsal
    assert db.scalar("SELECT to_regclass('shelves') IS NULL")  # check mode changed nothing
    applied = start(variables)
    assert not applied.get("failed"), applied
    assert [item["version"] for item in applied["applied"]] == ["001", "002", "003"]
    assert db.scalar("SELECT count(*) FROM pg_migrate_history WHERE success") == 3
    assert (tmp_path / "reports" / "db1" / "migrate.json").is_file()
    again = start(variables)
    assert again["changed"] is False and again["applied"] == []


@pytest.mark.usefixtures("collection_loader")
def test_bad_settings_are_refused_with_their_names_before_anything_connects(db: Database, tmp_path: Path):
    variables = role_variables(db, tmp_path, lock_timeout="soon", lock_retries=-1, login_port=1)
    with pytest.raises(AnsibleActionFail) as refused:  # the task executor makes it the task's failure
        start(variables)
    message = str(refused.value)
    assert message.startswith("The inputs for db1 have 2 problem(s); nothing was changed:")
    assert "pg_migrate_lock_timeout ('soon') is not a PostgreSQL duration" in message
    assert "pg_migrate_lock_retries (-1) must be at least 0" in message
    assert db.scalar("SELECT to_regclass('pg_migrate_history') IS NULL")


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


def test_the_host_paths_finish_keeps_the_jobs_own_start_and_end(tmp_path: Path):
    settings = role_settings.settings_from_argument({"reports_dir": str(tmp_path / "reports")})
    job = {
        "action": "migrate",
        "database": "xp",
        "plan": {"from_version": "001", "to_version": "001"},
        "started_at": "2024-05-01T12:00:03.250Z",
        "finished_at": "2024-05-01T12:00:04.000Z",
    }
    action = finish_action({"phase": "finish", "settings": settings.to_dict(), "job": job, "login_db": "xp"})
    concluded = action._finish(settings, "db1", {})
    # The fleet page's timeline places the run where it ran, not where the finish task read it.
    assert (concluded["started_at"], concluded["finished_at"]) == (job["started_at"], job["finished_at"])
