"""Per-environment inventories and the guards that come before any connection."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.ansible_run import BIN, ROOT, environment_overrides
from tests.pgdb import Database
from tests.role.conftest import history

ENVIRONMENTS = ["local", "dev", "staging", "prod"]


def _inventory(env: str) -> dict:
    out = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(ROOT / "inventories" / env), "--list"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return json.loads(out)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_inventory_targets_hosts_and_keeps_no_secret(env: str):
    inventory = _inventory(env)
    assert inventory["pg_migrate_targets"], env
    text = "\n".join(
        p.read_text()
        for p in (ROOT / "inventories" / env).rglob("*")
        if p.is_file() and not p.name.endswith(".example")
    )
    assert "pg_migrate_login_password" in text
    for line in text.splitlines():
        if line.startswith("pg_migrate_login_password"):
            assert "lookup(" in line or "vault_" in line or line.rstrip().endswith(">-"), line


def test_prod_changes_hosts_one_at_a_time_and_needs_approval():
    inventory = _inventory("prod")
    assert sorted(inventory["pg_migrate_one_at_a_time"]["hosts"]) == ["xp-db-prod-eu-1", "xp-db-prod-us-1"]
    variables = inventory["_meta"]["hostvars"]["xp-db-prod-eu-1"]
    assert variables["pg_migrate_require_approval"] is True


def _prod_args(tmp_path: Path, db: Database) -> list[str]:
    """The prod inventory's two hosts, pointed at the test database, without the seed."""
    return [*environment_overrides(db, tmp_path), "-e", "pg_migrate_seeds_enabled=false"]


def test_prod_refuses_to_apply_without_approval_but_check_mode_needs_none(db: Database, tmp_path: Path):
    from tests.ansible_run import run_playbook

    env = {"PG_MIGRATE_PASSWORD": db.server.password}
    refused = run_playbook(db, "migrate.yml", *_prod_args(tmp_path, db), inventory="prod", env=env).assert_failed()
    assert "This environment requires approval before anything is changed" in refused.output
    assert history(db) == [] and db.scalar("SELECT to_regclass('xp_awards')") is None

    checked = run_playbook(db, "migrate.yml", "--check", *_prod_args(tmp_path, db), inventory="prod", env=env)
    checked.assert_ok()
    assert "(check mode: would apply 5)" in checked.output

    approved = run_playbook(
        db, "migrate.yml", "-e", "pg_migrate_approved=true", *_prod_args(tmp_path, db), inventory="prod", env=env
    ).assert_ok()
    assert [row[0] for row in history(db)] == ["001", "002", "003", "004", "005"]
    # serial: 1 -> one batch (a PLAY banner and a recap line each) per host, in inventory order.
    assert approved.raw.count("PLAY [One host at a time: pg_migrate migrate]") == 2
    eu, us = approved.raw.index("xp-db-prod-eu-1 "), approved.raw.index("xp-db-prod-us-1 ")
    assert eu < us
    assert "nothing pending: already at 005" in approved.output  # the second host found the work done


def test_staging_seeds_and_backfills_and_prod_gates_the_data_steps_too(db: Database, migrated, tmp_path: Path):
    from tests.ansible_run import run_playbook

    env = {"PG_MIGRATE_PASSWORD": db.server.password}
    staging = environment_overrides(db, tmp_path)  # staging seeds (pg_migrate_seeds_enabled: true)
    migrated("005")  # the schema first (without the seed), the data steps below
    db.load_claims(500)

    prod = [*environment_overrides(db, tmp_path), "-e", "pg_migrate_seeds_enabled=true"]
    refused = run_playbook(db, "seed.yml", *prod, inventory="prod", env=env).assert_failed()
    assert "requires approval" in refused.output
    counted = run_playbook(db, "backfill.yml", "--check", *prod, inventory="prod", env=env).assert_ok()
    assert "would link 0 of 500 unlinked awards" in counted.output  # no seed yet: nothing to link to
    assert "apply the seed first (playbooks/seed.yml)" in counted.output
    assert db.scalar("SELECT count(*) FROM xp_policies") == 0

    run_playbook(db, "seed.yml", *staging, inventory="staging", env=env).assert_ok()
    done = run_playbook(db, "backfill.yml", *staging, inventory="staging", env=env).assert_ok()
    assert "linked 500 awards" in done.output and "every award is linked" in done.output
    assert db.scalar("SELECT count(*) FROM xp_awards WHERE policy_version_id IS NULL") == 0


def test_a_bad_change_set_fails_before_any_connection(db: Database, play, tmp_path: Path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "V001__ok.sql").write_text("CREATE TABLE a (id int);\n")
    (bad / "V1__same.sql").write_text("CREATE TABLE b (id int);\n")
    (bad / "V002_bad_name.sql").write_text("SELECT 1;\n")
    # Port 1: nothing listens there, so any connection attempt would fail differently.
    result = play("migrate.yml", "-e", f"pg_migrate_migrations_dir={bad}", "-e", "pg_migrate_login_port=1")
    result.assert_failed()
    assert "has 2 problem(s); nothing was changed on any host" in result.output
    assert "ambiguous version: V001__ok.sql and V1__same.sql are both version 1" in result.output
    # The refusal says what is wrong in the name and the name to rename it to.
    assert (
        "V002_bad_name.sql: malformed name: two underscores separate the version from the description: rename it "
        "to V002__bad_name.sql" in result.output
    )
    assert "Cannot connect" not in result.output and "unable to connect" not in result.output


def test_a_wrong_variable_fails_at_the_start_with_the_argument_spec(db: Database, play):
    result = play("migrate.yml", "-e", "pg_migrate_on_standby=maybe").assert_failed()
    assert "pg_migrate_on_standby" in result.output and "skip, fail" in result.output
    assert history(db) == []


def test_unreachable_server_is_reported_readably(db: Database, play):
    result = play("migrate.yml", "-e", "pg_migrate_login_port=1").assert_failed()
    assert "Cannot connect to PostgreSQL from localhost" in result.output
    assert "pg_migrate_login_" in result.output


def test_a_hot_standby_is_skipped_with_a_message_or_fails_by_setting_and_its_status_is_read(
    db: Database, play, standby
):
    port = ("-e", f"pg_migrate_login_port={standby.port}")
    status = play("status.yml", *port).assert_ok()  # status only reads: it works on a standby
    assert f"localhost {db.name}: 000 -> 005 (status: 5 pending)" in status.output
    assert "Skipped." not in status.output
    skipped = play("migrate.yml", *port).assert_ok()
    assert "is a hot standby (pg_is_in_recovery() is true)" in skipped.output and "Skipped." in skipped.output
    failed = play("migrate.yml", *port, "-e", "pg_migrate_on_standby=fail").assert_failed()
    assert "it is a hot standby: run against the primary" in failed.output
    assert history(db) == []
