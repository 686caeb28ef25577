"""A broken fleet file fails the fleet playbooks, end to end: `ansible-playbook -i <fleet file>
playbooks/fleet.yml` as an operator runs it. With the repository's ansible.cfg ([inventory] unparsed_is_failed)
Ansible stops on the fleet inventory plugin's own message; in a project without that setting the playbook's first
play fails on the empty group pg_migrate_targets. Never rc 0 with "no hosts matched" and no report."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.ansible_run import run_playbook
from tests.pgdb import Database

BROKEN = {
    # A canary that names a database the file does not list.
    "unknown canary": (
        {"servers": {"db1": {"databases": ["xp_eu_1", "xp_eu_2"]}}, "canary": ["db1-xp_eu_9"]},
        "canary db1-xp_eu_9: no database of this file has that name",
    ),
    # An empty fleet: the count comes from the environment, and it is 0.
    "empty fleet": (
        {"servers": {"local": {"database_range": {"prefix": "xp_shard_", "count": 50, "count_env": "FLEET_N"}}}},
        "server local: database_range count is 0 (from count_env: FLEET_N=0): a server needs at least one database",
    ),
}
GUARD = "fleet: no databases to roll out to - the group pg_migrate_targets is empty"
GUARD_STATUS = "fleet: no databases to read - the group pg_migrate_targets is empty"


@pytest.mark.parametrize("setting", ["ansible.cfg", "unset"])
@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_fleet_file_fails_the_rollout_with_the_plugin_message(
    case: str, setting: str, db: Database, tmp_path: Path
):
    spec, message = BROKEN[case]
    fleet = tmp_path / "fleet.yml"
    fleet.write_text(yaml.safe_dump({"plugin": "pg_migrate.engine.fleet", **spec}))
    reports = tmp_path / "reports"
    env = {"FLEET_N": "0"}
    if setting == "unset":  # a project whose ansible.cfg lacks [inventory] unparsed_is_failed
        env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "false"
    run = run_playbook(
        db, "fleet.yml", "-e", f"pg_migrate_reports_dir={reports}", inventory=str(fleet), env=env
    ).assert_failed()

    assert f"fleet file {fleet}: {message}" in run.output, run.raw[-4000:]
    if setting == "ansible.cfg":
        # Stopped while reading the inventory: no play started.
        assert "No inventory was parsed" in run.output and "PLAY [" not in run.raw, run.raw[-4000:]
    else:
        # Ansible only warned; the guard play failed, and no other play ran.
        assert GUARD in run.output, run.raw[-4000:]
        assert "PLAY [Fleet preflight" not in run.raw and "PLAY [Fleet report" not in run.raw
    assert not reports.exists()


def test_fleet_status_refuses_an_empty_fleet_without_the_setting_too(db: Database, tmp_path: Path):
    spec, message = BROKEN["empty fleet"]
    fleet = tmp_path / "fleet.yml"
    fleet.write_text(yaml.safe_dump({"plugin": "pg_migrate.engine.fleet", **spec}))
    env = {"FLEET_N": "0", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "false"}
    run = run_playbook(
        db, "fleet-status.yml", "-e", f"pg_migrate_reports_dir={tmp_path / 'reports'}", inventory=str(fleet), env=env
    ).assert_failed()
    assert GUARD_STATUS in run.output and f"fleet file {fleet}: {message}" in run.output, run.raw[-4000:]
    assert "PLAY [Fleet status]" not in run.raw
