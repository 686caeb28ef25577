"""Someone else's project rolls a change out to a fleet with the collection's own playbooks.

The collection is built into a tarball and installed into a scratch project that has only its ansible.cfg, a
fleet file (the fleet inventory plugin's format) and the blog's migrations: no playbook of its own. From the
project's directory: `ansible-playbook pg_migrate.engine.fleet -i blog.fleet.yml` over three databases of the
test server, one of them broken (a `posts` table already there, so V002 fails): the canary passes, the broken
database fails, the rollout halts before the last wave and exits non-zero with the report saying so. The
database is fixed, the rollout resumed with the report's resume list, and it completes; then
`pg_migrate.engine.fleet_status` reads the fleet. Reports go to the project's reports/, nowhere else.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.ansible_run import ROOT, PlaybookRun
from tests.collection import readme
from tests.pgdb import Database

ENGINE = ROOT / "collections/ansible_collections/pg_migrate/engine"
BLOG = Path(__file__).parent / "blog" / "migrations"
SERVER = "blog"  # the fleet file's server: hosts are blog-<database>

ANSIBLE_CFG = """\
[defaults]
collections_path = collections

[inventory]
unparsed_is_failed = true

[connection]
pipelining = true
"""


@pytest.fixture
def databases(pg_server) -> Iterator[list[Database]]:
    """Three new, empty databases on the session's server, dropped after the test."""
    prefix = f"fb_{uuid.uuid4().hex[:8]}"
    made: list[Database] = []
    try:
        with psycopg.connect(pg_server.conninfo(), autocommit=True) as admin:
            for number in (1, 2, 3):
                name = f"{prefix}_{number}"
                admin.execute(f'CREATE DATABASE "{name}"')
                made.append(Database(pg_server, name))
        yield made
    finally:
        for database in made:
            database.close()
        with psycopg.connect(pg_server.conninfo(), autocommit=True) as admin:
            for database in made:
                admin.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')


def _fleet_file(databases: list[Database]) -> dict:
    return {
        "plugin": "pg_migrate.engine.fleet",
        "vars": {
            "pg_migrate_login_host": "{{ lookup('ansible.builtin.env', 'PGHOST') }}",
            "pg_migrate_login_port": "{{ lookup('ansible.builtin.env', 'PGPORT') | int }}",
            "pg_migrate_login_user": "{{ lookup('ansible.builtin.env', 'PGUSER') }}",
            "pg_migrate_login_password": "{{ lookup('ansible.builtin.env', 'PGPASSWORD') }}",
            "pg_migrate_ssl_mode": "disable",
            # The canary, then one database per wave: the broken second one halts the rollout before the third.
            "pg_migrate_fleet_waves": [1, 1, "100%"],
        },
        "servers": {SERVER: {"databases": [database.name for database in databases]}},
    }


def _run(command: str, cwd: Path, env: dict[str, str]) -> PlaybookRun:
    return readme.run(["bash", "-euo", "pipefail", "-c", command], cwd, env, timeout=600)


def _version(database: Database) -> str | None:
    if not database.scalar("SELECT to_regclass('pg_migrate_history') IS NOT NULL"):
        return None
    return database.scalar("SELECT max(version) FROM pg_migrate_history WHERE success")


def test_a_foreign_project_rolls_out_to_a_fleet_with_the_collection_playbooks(
    pg_server, databases: list[Database], tmp_path: Path
):
    project = tmp_path / "blog"
    project.mkdir()
    (project / "ansible.cfg").write_text(ANSIBLE_CFG)
    (project / "blog.fleet.yml").write_text(yaml.safe_dump(_fleet_file(databases), sort_keys=False))
    (project / "migrations").mkdir()
    for script in BLOG.iterdir():
        (project / "migrations" / script.name).write_text(script.read_text())
    env = readme.operator_shell(tmp_path, **pg_server.libpq_env())
    dist = tmp_path / "dist"
    _run(f"ansible-galaxy collection build {ENGINE} --output-path {dist}", ROOT, env).assert_ok()
    install = f"ansible-galaxy collection install {dist}/pg_migrate-engine-*.tar.gz -p collections"
    _run(install, project, env).assert_ok()
    installed = project / "collections/ansible_collections/pg_migrate/engine"
    for playbook in ("fleet.yml", "fleet_status.yml", "migrate.yml", "_rollout.yml"):
        assert (installed / "playbooks" / playbook).is_file(), playbook

    canary, broken, last = databases
    broken.query("CREATE TABLE posts (post_id bigint)")  # V002__posts.sql cannot create it
    hosts = [f"{SERVER}-{database.name}" for database in databases]

    # The rollout: the canary applies, the broken database fails, the last wave is not attempted.
    halted = _run("ansible-playbook pg_migrate.engine.fleet -i blog.fleet.yml", project, env).assert_failed()
    assert "halted" in halted.output
    report = json.loads((project / "reports" / "fleet.json").read_text())
    assert report["verdict"] == "halted", report
    states = {entry["host"]: entry["state"] for entry in report["databases"]}
    assert states == {hosts[0]: "applied", hosts[1]: "failed", hosts[2]: "halted-not-attempted"}, states
    assert [_version(database) for database in databases] == ["003", "001", None]
    resume = (project / "reports" / "fleet.resume").read_text().split()
    assert sorted(resume) == sorted(hosts[1:]), resume
    # Each database's own reports sit beside the fleet's, in the project.
    assert (project / "reports" / hosts[0] / "migrate.json").is_file()

    # Fixed, then resumed with the report's resume list: the rollout completes.
    broken.query("DROP TABLE posts")
    _run(
        "ansible-playbook pg_migrate.engine.fleet -i blog.fleet.yml --limit @reports/fleet.resume", project, env
    ).assert_ok()
    report = json.loads((project / "reports" / "fleet.json").read_text())
    assert report["verdict"] == "complete", report
    assert {entry["host"]: entry["state"] for entry in report["databases"]} == {
        hosts[1]: "applied",
        hosts[2]: "applied",
    }
    assert [_version(database) for database in databases] == ["003", "003", "003"]

    # The fleet's status, read-only: every database at 003.
    status = _run("ansible-playbook pg_migrate.engine.fleet_status -i blog.fleet.yml", project, env).assert_ok()
    assert status.changed == 0
    fleet_status = json.loads((project / "reports" / "fleet-status.json").read_text())
    assert json.dumps(fleet_status).count('"003"') >= 1
    assert canary.name in status.output and last.name in status.output

    # Nothing was written into the installed collection or this repository.
    assert not (installed / "playbooks" / "reports").exists()
    assert not (installed / "playbooks" / ".pg_migrate").exists()
    assert not any((ROOT / "reports").glob(f"{SERVER}-{canary.name}*"))
