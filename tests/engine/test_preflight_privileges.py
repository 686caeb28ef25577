"""The preflight's privilege checks against a real server, as a login role that holds only what each test grants
it: the GRANT that is missing is named before anything is created, and nothing more than the schemas the run
writes is needed (tests/role/test_field_trials_engine.py has the playbook's side)."""

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.engine import preflight
from ansible_collections.pg_migrate.engine.plugins.module_utils.run import apply
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.session import Runner
from tests.engine.conftest import run, write_changeset
from tests.pgdb import Database

V001 = {"V001__items.sql": "CREATE TABLE items (id bigint PRIMARY KEY);\n"}


def _refusal(runner: Runner) -> str:
    refusal = preflight(runner).refusal
    assert refusal is not None
    return refusal


def test_create_on_the_schemas_is_enough_to_create_the_history_and_migrate(
    db: Database, role: str, runner_as, tmp_path
):
    db.query("CREATE SCHEMA app")
    db.query(f"GRANT USAGE, CREATE ON SCHEMA app TO {role}")
    db.query(f"ALTER ROLE {role} SET search_path = app")
    runner = runner_as(write_changeset(tmp_path, V001), action="migrate", history_schema="app")
    assert preflight(runner).refusal is None
    result = run(runner, apply.run_migrate, check=False, diff=False)
    assert [item["version"] for item in result["applied"]] == ["001"]
    assert db.scalar("SELECT count(*) FROM app.pg_migrate_history WHERE success") == 1
    # The check-mode rehearsal creates the history table too (and rolls it back) on a fresh schema.
    db.query("CREATE SCHEMA app2")
    db.query(f"GRANT USAGE, CREATE ON SCHEMA app2 TO {role}")
    db.query(f"ALTER ROLE {role} SET search_path = app2")
    rehearsal = runner_as(write_changeset(tmp_path, V001), action="migrate", history_schema="app2", rehearse=True)
    rehearsed = run(rehearsal, apply.run_migrate, check=True, diff=False)
    assert rehearsed["rehearsal"]["rolled_back"] and db.scalar("SELECT to_regclass('app2.pg_migrate_history')") is None


def test_a_history_table_the_role_may_not_write_is_named_with_its_grant(db: Database, role: str, runner_as, tmp_path):
    db.query("CREATE SCHEMA app")
    db.query("CREATE TABLE app.pg_migrate_history (id int)")  # made by another role (the DBA)
    db.query(f"GRANT USAGE, CREATE ON SCHEMA app TO {role}")
    db.query(f"ALTER ROLE {role} SET search_path = app")
    db.query(f"GRANT SELECT ON app.pg_migrate_history TO {role}")
    changeset = write_changeset(tmp_path, V001)
    assert preflight(runner_as(changeset, action="plan", history_schema="app")).refusal is None  # status reads: enough
    message = _refusal(runner_as(changeset, action="migrate", history_schema="app"))
    assert (
        f"may not write the history table app.pg_migrate_history: GRANT INSERT ON app.pg_migrate_history TO {role};"
        in (message)
    )
    message = _refusal(runner_as(changeset, action="rollback", history_schema="app", target_version="0"))
    assert f"GRANT DELETE ON app.pg_migrate_history TO {role};" in message


def test_a_history_schema_the_role_may_not_reach_is_named_with_its_grant(db: Database, role: str, runner_as, tmp_path):
    db.query(f"GRANT CREATE ON SCHEMA public TO {role}")
    db.query('CREATE SCHEMA "Audit"')  # a name that must be quoted in the GRANT
    message = _refusal(runner_as(write_changeset(tmp_path, V001), action="migrate", history_schema="Audit"))
    assert 'may not create the history table "Audit".pg_migrate_history in schema Audit: ' in message
    assert f'GRANT USAGE, CREATE ON SCHEMA "Audit" TO {role};' in message
    assert message.endswith("Nothing was changed.")


def test_the_current_schema_check_names_its_grant(db: Database, role: str, runner_as, tmp_path):
    message = _refusal(runner_as(write_changeset(tmp_path, V001), action="migrate"))
    assert f"role {role} may not create objects in schema public" in message
    assert f"GRANT CREATE ON SCHEMA public TO {role};" in message
    assert "history" not in message  # the public schema exists; creating the history table needs the same grant
