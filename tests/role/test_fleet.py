"""Fleet rollouts end to end: playbooks/fleet.yml and fleet-status.yml over many databases of the
test server, each an inventory host made by the fleet inventory plugin from a fleet file of the test's own."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.ansible_run import PlaybookRun, run_playbook
from tests.pgdb import Database
from tests.role.conftest import RoleTemplates

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Fleet:
    server: object
    hosts: dict[str, str]  # inventory host -> database
    file: Path
    reports: Path
    anchor: Database  # the test's own database: gives the playbook run its connection environment

    def play(self, playbook: str, *args: str, progress: bool = False) -> PlaybookRun:
        """Run PLAYBOOK over the fleet; PROGRESS: with the fleet's stdout callback (a line per database)."""
        env = {"ANSIBLE_STDOUT_CALLBACK": "pg_migrate.engine.fleet"} if progress else None
        return run_playbook(
            self.anchor,
            playbook,
            "-e",
            f"pg_migrate_reports_dir={self.reports}",
            *args,
            inventory=str(self.file),
            env=env,
            timeout=600,
        )

    def query(self, host: str, sql: str) -> list[tuple]:
        with psycopg.connect(self.server.conninfo(self.hosts[host]), autocommit=True) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def version(self, host: str) -> str | None:
        rows = self.query(
            host, "SELECT max(version) FROM pg_migrate_history WHERE success AND kind IN ('migration', 'baseline')"
        )
        return rows[0][0]

    def report(self) -> dict:
        return json.loads((self.reports / "fleet.json").read_text())


@pytest.fixture
def make_fleet(db: Database, pg_server, role_templates: RoleTemplates, tmp_path: Path):
    """make_fleet({server: count}, at="001") -> a Fleet whose databases are copies of what migrate.yml leaves at
    that version (at=None: empty databases). Dropped after the test."""
    created: list[str] = []

    def make(servers: dict[str, int], at: str | None = "001", settings: dict | None = None) -> Fleet:
        template = role_templates.get(at, False).database.name if at else "template1"
        prefix = f"f{uuid.uuid4().hex[:6]}"
        spec: dict = {"plugin": "pg_migrate.engine.fleet", "vars": FLEET_VARS | (settings or {}), "servers": {}}
        hosts = {}
        with psycopg.connect(pg_server.conninfo(), autocommit=True) as admin:
            for server, count in servers.items():
                names = [f"{prefix}_{server}_{number:02d}" for number in range(1, count + 1)]
                for name in names:
                    admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                    created.append(name)
                    hosts[f"{server}-{name}"] = name
                spec["servers"][server] = {"databases": names}
        file = tmp_path / "fleet.yml"
        file.write_text(yaml.safe_dump(spec))
        return Fleet(pg_server, hosts, file, tmp_path / "reports", db)

    yield make
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as admin:
        for name in created:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


FLEET_VARS = {
    "pg_migrate_login_host": "{{ lookup('ansible.builtin.env', 'PGHOST') }}",
    "pg_migrate_login_port": "{{ lookup('ansible.builtin.env', 'PGPORT') | int }}",
    "pg_migrate_login_user": "{{ lookup('ansible.builtin.env', 'PGUSER') }}",
    "pg_migrate_login_password": "{{ lookup('ansible.builtin.env', 'PGPASSWORD') }}",
    "pg_migrate_ssl_mode": "disable",
}


# Settings that let a fleet run a change set of the test's own (no XP schema to verify, no extension needed).
TINY_CHANGESET_VARS = (
    "-e",
    "pg_migrate_verify_schema=false",
    "-e",
    '{"pg_migrate_required_extensions": []}',
    "-e",
    "pg_migrate_expected_schema=",
    "-e",
    "pg_migrate_probes=",
)


def states(report: dict) -> dict[str, str]:
    return {entry["host"]: entry["state"] for entry in report["databases"]}


def test_a_broken_database_in_a_wave_halts_the_fleet_at_the_budget_and_the_resume_file_completes_it(make_fleet):
    fleet = make_fleet({"eu": 20, "us": 20})
    waves = ("-e", '{"pg_migrate_fleet_waves": [1, 3, 10, "100%"], "pg_migrate_fleet_max_failures": 0}')
    # Rollout order alternates the two servers: the canary, then wave 2 (3), wave 3 (10), wave 4 (the rest).
    hosts = list(fleet.hosts)
    eu = [host for host in hosts if host.startswith("eu-")]
    us = [host for host in hosts if host.startswith("us-")]
    rollout = [host for pair in zip(eu, us, strict=True) for host in pair]
    assert rollout[0] == eu[0] and rollout[1] == us[0]  # spread: one of each server in turn
    broken = rollout[6]  # in wave 3 (hosts 5-14)
    fleet.query(broken, "INSERT INTO xp_rules (rule_key, xp_amount) VALUES ('legacy', 10)")

    run = fleet.play("fleet.yml", *waves, progress=True).assert_failed()
    report = fleet.report()
    # The terminal shows a line per wave and per finished database, not a task log per host.
    assert "TASK [" not in run.output and "wave 3/4" in run.output, run.output[-3000:]
    assert re.search(rf"wave 1/4 - {rollout[0]} applied 001 -> 005 in \d+ ms \(1/40 done, 0 failed\)", run.output)
    assert re.search(rf"wave 3/4 - {broken} FAILED: .*V002__policy_as_data.sql", run.output)
    found = states(report)
    assert report["verdict"] == "halted" and "failure budget is exhausted: 1 failed, 0 allowed" in report["halt_reason"]
    assert [wave["databases"] for wave in report["waves"]] == [1, 3, 10, 26]
    assert {found[host] for host in rollout[:4]} == {"applied"}  # the canary and wave 2
    assert {fleet.version(host) for host in rollout[:4]} == {"005"}
    assert found[broken] == "failed" and fleet.version(broken) == "001"  # V002 refused, atomically
    failure = next(entry for entry in report["databases"] if entry["host"] == broken)["failure"]
    assert failure["script"] == "V002__policy_as_data.sql" and failure["sqlstate"], failure
    assert {found[host] for host in rollout[4:14] if host != broken} == {"applied"}  # the rest of wave 3 ran
    assert {found[host] for host in rollout[14:]} == {"halted-not-attempted"}
    assert {fleet.version(host) for host in rollout[14:]} == {"001"}
    assert [wave["status"] for wave in report["waves"]] == ["complete", "complete", "stopped", "not started"]
    assert report["budget"] == {"allowed": 0, "failed": 1, "setting": "0"}
    # Every database has a verified run: the verification summary is part of each applied run.
    assert "fleet: halted - 40 databases: 13 applied, 1 failed, 26 halted-not-attempted" in run.output

    suite = ET.parse(fleet.reports / "fleet.junit.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("40", "1", "26")
    failed_case = next(case for case in suite.iter("testcase") if case.get("name") == broken)
    assert failed_case.find("failure") is not None
    page = (fleet.reports / "fleet.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page  # self-contained
    assert f'data-host="{broken}" data-state="failed"' in page
    # The page at fleet scale: a grid cell per database, the failure on top, a timeline bar per run - each run
    # placed by the start and end the engine recorded (fleet.json's started_at, finished_at).
    ran = [entry for entry in report["databases"] if entry["state"] in ("applied", "failed")]
    assert len(ran) == 14 and all(entry["started_at"] < entry["finished_at"] for entry in ran), ran
    assert {entry["started_at"] for entry in report["databases"] if entry not in ran} == {None}
    assert page.count('<a href="#d') == 1 + 40 + 14  # the failure on top, the grid's cells, the timeline's bars
    assert page.index('id="failures"') < page.index('id="servers"') < page.index('id="timeline"')
    resume = (fleet.reports / "fleet.resume").read_text().split()
    assert sorted(resume) == sorted([broken, *rollout[14:]])
    if CHROMIUM or os.environ.get("CI"):  # CI installs chromium: there the check never silently goes away
        text = rendered_text(fleet.reports / "fleet.html", fleet.reports)
        assert "Verdict: halted" in text and "halted-not-attempted" in text and "V002__policy_as_data.sql" in text
        assert "Failures (1)" in text and "wave 3" in text

    fleet.query(broken, "DELETE FROM xp_rules")
    resumed = fleet.play("fleet.yml", *waves, "--limit", f"@{fleet.reports / 'fleet.resume'}").assert_ok()
    assert "fleet: complete - 27 databases: 27 applied" in resumed.output
    assert fleet.report()["still_to_do"] == []
    status = fleet.play("fleet-status.yml").assert_ok()
    assert "at 005 40 database(s)" in status.output and "behind: none" in status.output
    summary = json.loads((fleet.reports / "fleet-status.json").read_text())
    assert summary["versions"] == {"005": 40} and summary["behind"] == [] and summary["drift"] == []


def rendered_text(page: Path, scratch: Path) -> str:
    """The page as a real headless browser renders it (its text, as the DOM holds it after rendering)."""
    profile = scratch / "chromium-profile"
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return re.sub(r"<[^>]+>", " ", result.stdout)


def test_a_failing_health_gate_halts_the_rollout(make_fleet):
    fleet = make_fleet({"eu": 6}, settings={"pg_migrate_fleet_health_max": 0})
    gate = ("-e", '{"pg_migrate_fleet_waves": [1, 2, "100%"], "pg_migrate_fleet_max_failures": "50%"}')
    order = list(fleet.hosts)
    # The second wave's first database reports a claims error rate above the threshold, the others none.
    signal = f"SELECT CASE WHEN current_database() = '{fleet.hosts[order[1]]}' THEN 0.2 ELSE 0 END"
    query = ("-e", json.dumps({"pg_migrate_fleet_health_query": signal}))
    run = fleet.play("fleet.yml", *gate, *query).assert_failed()
    report = fleet.report()
    found = states(report)
    assert report["verdict"] == "halted" and report["halt_reason"] == f"the health gate failed on {order[1]}"
    assert found[order[0]] == "applied" and found[order[1]] == "failed"
    assert {found[host] for host in order[3:]} == {"halted-not-attempted"}
    gated = next(entry for entry in report["databases"] if entry["host"] == order[1])
    assert gated["health"]["passed"] is False and gated["health"]["value"] == 0.2
    assert "health gate failed: 0.2 > 0" in run.output


def test_no_more_than_k_databases_of_one_server_are_migrated_at_once(make_fleet, tmp_path: Path):
    migrations = tmp_path / "slow"
    migrations.mkdir()
    (migrations / "V001__table.sql").write_text("CREATE TABLE slot_probe (id int);\n")
    (migrations / "V002__slow.sql").write_text("SELECT pg_sleep(0.6);\n")
    fleet = make_fleet({"a": 5, "b": 5}, at=None, settings={"pg_migrate_fleet_per_server": 2})
    server_of = {database: host.split("-", 1)[0] for host, database in fleet.hosts.items()}
    seen: list[dict[str, int]] = []
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(fleet.server.conninfo(), autocommit=True) as conn:
            while not stop.is_set():
                running = conn.execute(
                    "SELECT datname FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(0.6)%' AND state = 'active'"
                ).fetchall()
                counts: dict[str, int] = {}
                for (database,) in running:
                    if database in server_of:
                        counts[server_of[database]] = counts.get(server_of[database], 0) + 1
                seen.append(counts)
                time.sleep(0.03)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fleet.play(
            "fleet.yml",
            "-f",
            "10",
            "-e",
            '{"pg_migrate_fleet_waves": ["100%"]}',
            "-e",
            f"pg_migrate_migrations_dir={migrations}",
            *TINY_CHANGESET_VARS,
        ).assert_ok()
    finally:
        stop.set()
        sampler.join(10)
    peak = {server: max(counts.get(server, 0) for counts in seen) for server in ("a", "b")}
    assert peak == {"a": 2, "b": 2}, peak  # never more than 2, and the limit was actually reached
