"""plugins/action/pg_migrate_fleet.py: the ActionModule run as Ansible's task executor runs it, with Ansible's real
objects - the task (Task.load), a PlayContext (check mode on or off), the local connection, a DataLoader and a
Templar - and task_vars whose hostvars are Ansible's HostVars over an inventory of the fleet, holding what the
plays registered (each database's pg_migrate_run result). The reports land in the test's tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.errors import AnsibleActionFail
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import connection_loader
from ansible.template import Templar
from ansible.vars.hostvars import HostVars
from ansible.vars.manager import VariableManager

from tests.unit.plugins import load

ACTION = load("action/pg_migrate_fleet.py", "pg_migrate_fleet_action")
HOSTS = ["s1-a", "s2-c", "s1-b"]  # rollout order, as the fleet inventory adds them


def status(version: str = "001", pending: tuple[str, ...] = ("002", "003"), **extra: object) -> dict:
    """A database's registered read-only status (the preflight play's pg_migrate_run, action status)."""
    plan = {"from_version": version, "pending_versions": list(pending), "to_version": "003", "drift": []}
    plan.update(extra.pop("plan", {}))
    return {"action": "status", "plan": plan, **extra}


def migrated(before: str = "001", after: str | None = "003") -> dict:
    applied = [{"version": after}] if after else []
    return {"action": "migrate", "applied": applied, "plan": {"from_version": before}, "duration_ms": 7}


FAILED = {
    "action": "migrate",
    "failed": True,
    "msg": "V002__b.sql failed at statement 1 (line 1) [SQLSTATE 42P01]: relation x does not exist",
    "failure": {"script": "V002__b.sql", "sqlstate": "42P01"},
    "plan": {"from_version": "001"},
}


class Fleet:
    """A fleet's inventory and what its plays registered, and pg_migrate_fleet run over it."""

    def __init__(self, reports: Path, hosts: list[str] = HOSTS) -> None:
        self.reports = reports
        self.hosts = hosts
        self.loader = DataLoader()
        self.inventory = InventoryManager(self.loader, sources=[",".join(hosts) + ","])
        self.variables = VariableManager(loader=self.loader, inventory=self.inventory)
        for host in hosts:
            server, database = host.split("-", 1)
            self.set(host, pg_migrate_db=database, pg_migrate_fleet_server=server)

    def set(self, host: str, **variables: object) -> None:
        for name, value in variables.items():
            self.variables.set_host_variable(host, name, value)

    def register(self, host: str, run: dict, name: str = "__pg_migrate_run") -> None:
        self.variables.set_nonpersistent_facts(host, {name: run})

    def run(self, phase: object, check: bool = False, **task_vars: object) -> dict:
        play_context = PlayContext()
        play_context.check_mode = check
        task = Task.load({"name": "fleet step", "pg_migrate.engine.pg_migrate_fleet": {}}, loader=self.loader)
        task.args = {"phase": phase}
        action = ACTION.ActionModule(
            task,
            connection_loader.get("local", play_context, "/dev/null"),
            play_context,
            self.loader,
            Templar(loader=self.loader),
            None,
        )
        hostvars = HostVars(inventory=self.inventory, variable_manager=self.variables, loader=self.loader)
        defaults = {"ansible_play_hosts_all": self.hosts, "pg_migrate_reports_dir": str(self.reports)}
        return action.run(task_vars={"hostvars": hostvars, **defaults, **task_vars})

    def report(self, name: str = "fleet.json") -> dict:
        return json.loads((self.reports / name).read_text())


@pytest.fixture
def fleet(tmp_path: Path, collection_loader) -> Fleet:
    """Three databases on two servers, each read at 001 with 002 and 003 pending."""
    made = Fleet(tmp_path / "reports")
    for host in HOSTS:
        made.register(host, status())
    return made


def test_a_phase_it_does_not_know_is_refused_naming_the_phases(fleet: Fleet):
    phases = "read, preflight, gate, wave, report, status"
    with pytest.raises(AnsibleActionFail, match=r"^pg_migrate_fleet: phase must be one of %s, not 'go'$" % phases):
        fleet.run("go")
    with pytest.raises(AnsibleActionFail, match=r"not None$"):
        fleet.run(None)


def test_a_clean_preflight_cuts_the_waves_and_the_budget_and_starts_the_in_progress_report(fleet: Fleet, capfd):
    verdict = fleet.run("preflight", pg_migrate_fleet_waves="1,100%", pg_migrate_fleet_max_failures="50%")
    assert verdict["problems"] == [] and verdict["changed"] is False
    assert verdict["waves"] == [["s1-a"], ["s2-c", "s1-b"]] and verdict["serial"] == [1, 2]
    assert verdict["canaries"] == ["s1-a"] and verdict["allowed"] == 1 and verdict["max_failures"] == "50%"
    assert verdict["check_mode"] is False and verdict["canary_stops"] is True
    assert verdict["versions"]["s2-c"] == {"version": "001", "pending": ["002", "003"], "skipped_standby": False}
    assert verdict["reports_dir"] == str(fleet.reports)
    assert "fleet preflight: 3 databases ready; 2 wave(s): 1, 2" in capfd.readouterr().out

    in_progress = fleet.report()
    assert in_progress["run_id"] == verdict["run_id"] and in_progress["verdict"] == "in progress"
    assert [entry["state"] for entry in in_progress["databases"]] == ["pending"] * 3
    assert (fleet.reports / "fleet.resume").read_text().split() == HOSTS  # nothing finished yet


def test_the_default_waves_are_one_canary_then_shares_of_the_fleet(tmp_path: Path, collection_loader):
    hosts = ["s%d-db" % number for number in range(1, 41)]
    fleet = Fleet(tmp_path, hosts)
    for host in hosts:
        fleet.register(host, status())
    verdict = fleet.run("preflight", check=True)
    assert verdict["serial"] == [1, 2, 10, 27] and verdict["allowed"] == 0


def test_a_preflight_lists_every_problem_and_starts_nothing(fleet: Fleet, capfd):
    fleet.register("s1-a", status(plan={"drift": [{"script": "V001__a.sql"}]}))
    fleet.register("s2-c", status(server={"in_recovery": True}))
    fleet.set("s2-c", pg_migrate_on_standby="fail")
    for host in ("s1-a", "s2-c"):  # the fleet file's top-level vars ...
        fleet.set(host, pg_migrate_fleet_waves="1,100%")
    fleet.set("s1-b", pg_migrate_fleet_waves=[2])  # ... and a server's own: not one value for the whole rollout
    verdict = fleet.run("preflight")
    problems = verdict["problems"]
    assert len(problems) == 3, problems
    assert problems[0].startswith(
        "pg_migrate_fleet_waves differs between databases ('1,100%' on s1-a, s2-c; [2] on s1-b)"
    )
    assert "set it once, in extra vars, group_vars/all or the fleet file's top-level vars" in problems[0]
    assert problems[1] == (
        "s1-a: drift in V001__a.sql: run a status on it (pg_migrate_action=status), then repair or restore the files"
    )
    assert problems[2].startswith("s2-c: a hot standby (pg_migrate_on_standby: fail): run against the primary")
    out = capfd.readouterr().out
    assert "fleet preflight: s1-a: drift in V001__a.sql" in out
    assert "fleet preflight: 3 problem(s): no database will be changed" in out
    assert not fleet.reports.exists() and "reports_dir" not in verdict  # no in-progress report for a blocked run


def test_a_database_that_could_not_be_read_is_a_problem_not_an_error(fleet: Fleet):
    fleet.register("s1-b", {"action": "status", "failed": True, "msg": "Cannot connect to PostgreSQL:\n  refused"})
    assert fleet.run("preflight")["problems"] == ["s1-b: Cannot connect to PostgreSQL: refused"]


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("pg_migrate_fleet_waves", "0", "pg_migrate_fleet_waves: '0': a wave has at least 1 database"),
        ("pg_migrate_fleet_waves", [], "pg_migrate_fleet_waves: [] is empty: give a list of wave sizes"),
        ("pg_migrate_fleet_max_failures", "some", "pg_migrate_fleet_max_failures: 'some' is neither a count"),
    ],
)
def test_a_setting_it_cannot_read_is_refused_before_anything_is_changed(fleet: Fleet, setting, value, said):
    with pytest.raises(AnsibleActionFail) as refused:
        fleet.run("preflight", **{setting: value})
    message = str(refused.value.message)
    assert message.startswith("fleet preflight: " + said) and message.endswith(". Nothing was changed.")
    assert not fleet.reports.exists()


def test_a_check_mode_preflight_writes_no_report(fleet: Fleet):
    verdict = fleet.run("preflight", check=True)
    assert verdict["check_mode"] is True and verdict["problems"] == []
    assert not fleet.reports.exists() and "reports_dir" not in verdict


def test_the_report_of_a_halted_rollout_names_states_versions_the_failure_and_what_to_resume(fleet: Fleet):
    preflight = fleet.run("preflight", pg_migrate_fleet_waves=[1, "100%"])
    fleet.register("s1-a", migrated())
    fleet.register("s2-c", FAILED)
    fleet.register("s1-b", migrated("003", None))
    result = fleet.run("report", __pg_migrate_fleet_preflight=preflight)

    assert result["verdict"] == "halted" and result["changed"] is False
    assert result["counts"]["applied"] == 1 and result["counts"]["already current"] == 1
    assert result["counts"]["failed"] == 1
    assert result["summary"][0] == "fleet: halted - 3 databases: 1 applied, 1 already current, 1 failed"
    assert any("the failure budget is exhausted: 1 failed, 0 allowed (s2-c)" in line for line in result["summary"])
    assert "  resume with: --limit @%s" % (fleet.reports / "fleet.resume") in result["summary"]
    assert result["files"] == [
        str(fleet.reports / name) for name in ("fleet.json", "fleet.junit.xml", "fleet.html")
    ] + [str(fleet.reports / "fleet.resume")]

    report = fleet.report()
    assert report["run_id"] == preflight["run_id"] and report["verdict"] == "halted"
    by_host = {entry["host"]: entry for entry in report["databases"]}
    assert (by_host["s1-a"]["state"], by_host["s1-a"]["version_after"], by_host["s1-a"]["wave"]) == (
        "applied",
        "003",
        1,
    )
    assert by_host["s1-b"]["state"] == "already current" and by_host["s1-b"]["server"] == "s1"
    assert by_host["s2-c"]["state"] == "failed" and by_host["s2-c"]["failure"]["sqlstate"] == "42P01"
    assert report["still_to_do"] == ["s2-c"] and (fleet.reports / "fleet.resume").read_text().split() == ["s2-c"]
    assert 'failures="1"' in (fleet.reports / "fleet.junit.xml").read_text()


def test_a_rollout_the_preflight_blocked_reports_every_database_not_attempted(fleet: Fleet):
    fleet.register("s1-a", status(plan={"drift": ["V001__a.sql"]}))
    preflight = fleet.run("preflight")
    result = fleet.run("report", __pg_migrate_fleet_preflight=preflight)
    assert result["counts"]["halted-not-attempted"] == 3 and result["counts"]["applied"] == 0
    assert fleet.report()["preflight_problems"] == preflight["problems"]
    assert result["verdict"] != "complete"


def test_a_report_without_a_preflight_result_is_refused(fleet: Fleet):
    with pytest.raises(AnsibleActionFail, match="no preflight result: run the preflight play first"):
        fleet.run("report")
    with pytest.raises(AnsibleActionFail, match="no preflight result"):
        fleet.run("report", __pg_migrate_fleet_preflight={"problems": [], "hosts": []})


def test_a_reports_dir_it_cannot_write_is_named_with_its_setting(fleet: Fleet, tmp_path: Path):
    (tmp_path / "a-file").write_text("")
    unwritable = tmp_path / "a-file" / "reports"
    with pytest.raises(AnsibleActionFail) as refused:
        fleet.run("preflight", pg_migrate_reports_dir=str(unwritable))
    message = str(refused.value.message)
    assert message.startswith("cannot write the fleet report to %s: " % unwritable)
    assert "(pg_migrate_reports_dir names where it goes)" in message


def test_the_status_counts_versions_and_names_who_is_behind_drifts_or_cannot_be_read(fleet: Fleet):
    fleet.register("s1-a", status("003", ()))
    fleet.register("s2-c", status("002", ("003",), plan={"drift": [{"script": "V002__b.sql"}]}))
    fleet.register("s1-b", {"action": "status", "msg": "could not connect\nto server"})
    result = fleet.run("status")
    path = fleet.reports / "fleet-status.json"
    assert result["summary"] == [
        "fleet status: 3 databases, latest version 003",
        "  at 002      1 database(s)",
        "  at 003      1 database(s)",
        "  at none     1 database(s)",
        "  behind: s2-c",
        "  drift: s2-c",
        "  unreadable: s1-b",
        "  report: %s" % path,
    ]
    written = fleet.report("fleet-status.json")
    assert written["kind"] == "fleet-status" and written["versions"] == {"002": 1, "003": 1, "none": 1}
    rows = {row["host"]: row for row in written["databases"]}
    assert rows["s1-b"]["error"] == "could not connect to server" and rows["s2-c"]["database"] == "c"
    assert (result["behind"], result["drift"]) == (["s2-c"], ["s2-c"])


def test_the_status_names_an_unfinished_rollout_and_how_to_resume_it(fleet: Fleet):
    preflight = fleet.run("preflight")  # a rollout that started and never wrote its final report
    summary = fleet.run("status")["summary"]
    resume = fleet.reports / "fleet.resume"
    assert (
        "  last rollout %s (started %s): in progress or interrupted - 3 database(s) not finished; "
        "resume with --limit @%s" % (preflight["run_id"], preflight["started_at"], resume)
    ) in summary
    assert fleet.report("fleet-status.json")["unfinished_rollout"]["still_to_do"] == HOSTS
