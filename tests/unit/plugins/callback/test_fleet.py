"""plugins/callback/fleet.py (the pg_migrate.engine.fleet stdout callback) as Ansible loads it, fed the events of
a fleet rollout built from Ansible's own classes: tasks loaded as a playbook has them (Task.load), hosts, and
task results as the strategy hands them to a callback (_RawTaskResult -> CallbackTaskResult). What it prints is
read from the terminal (capfd)."""

from __future__ import annotations

import pytest
from ansible.executor.task_result import _RawTaskResult
from ansible.inventory.host import Host
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play import Play
from ansible.playbook.task import Task
from ansible.plugins.loader import callback_loader

LOADER = DataLoader()
HALT_CHECK = "(ansible_play_hosts_all | pg_migrate.engine.fleet_halt(hostvars)) | length > 0"
SUMMARY = ["fleet: complete - 3 databases, 2 applied, 1 already current", "  wave 1: db1-a applied"]


def task(name: str, action: str, args: object = None, **keywords: object) -> Task:
    return Task.load({"name": name, action: args if args is not None else {}, **keywords}, loader=LOADER)


class FleetTasks:
    """The tasks of playbooks/fleet.yml, as a copy of it might name them: the callback keys on what they do.
    (Loaded once the collection loader is set up: Task.load resolves the action names.)"""

    def __init__(self) -> None:
        self.preflight = task("Decide, copied", "pg_migrate.engine.pg_migrate_fleet", {"phase": "preflight"})
        self.wave_check = task("Halt? (renamed)", "ansible.builtin.meta", "end_play", when=HALT_CHECK)
        self.run = task("Migrate, renamed", "pg_migrate.engine.pg_migrate_run", {})
        self.wave = task("Wave, renamed", "pg_migrate.engine.pg_migrate_fleet", {"phase": "wave"}, run_once=True)
        self.report = task("Report, renamed", "pg_migrate.engine.pg_migrate_fleet", {"phase": "report"})
        self.show_summary = task("Summary", "ansible.builtin.debug", {"msg": "{{ summary }}"})


@pytest.fixture(scope="module")
def tasks(collection_loader) -> FleetTasks:
    return FleetTasks()


def result(host: str, of: Task, outcome: dict):
    """The result of task OF on HOST as a callback receives it."""
    return _RawTaskResult(Host(host), of, dict(outcome), {}).as_callback_task_result()


def preflight_verdict(hosts: list[str], cut: list[list[str]]) -> dict:
    return {"problems": [], "hosts": hosts, "waves": cut, "serial": [len(w) for w in cut], "changed": False}


def migrated(before: str, after: str | None, ms: float = 310, **extra: object) -> dict:
    applied = [{"version": after}] if after else []
    return {"action": "migrate", "applied": applied, "plan": {"from_version": before}, "duration_ms": ms, **extra}


@pytest.fixture
def callback(collection_loader, monkeypatch: pytest.MonkeyPatch):
    """The callback as Ansible loads it (options from its documentation), at the default verbosity."""
    plugin = callback_loader.get("pg_migrate.engine.fleet")
    plugin.set_options()
    monkeypatch.setattr(plugin._display, "verbosity", 0)
    return plugin


def printed(capfd: pytest.CaptureFixture) -> list[str]:
    return [line for line in capfd.readouterr().out.splitlines() if line.strip()]


def test_ansible_loads_it_as_the_stdout_callback_named_for_the_collection(callback):
    assert callback.CALLBACK_TYPE == "stdout" and callback.CALLBACK_NAME == "pg_migrate.engine.fleet"
    assert callback.get_option("display_skipped_hosts") in (True, False)  # the default callback's options


def test_a_rollout_prints_the_play_a_line_per_wave_and_per_database_with_running_totals(tasks, callback, capfd):
    hosts = ["db1-a", "db2-b", "db1-c"]
    callback.v2_playbook_on_play_start(Play.load({"name": "  Fleet rollout - waves  ", "hosts": "all"}, loader=LOADER))
    callback.v2_runner_on_ok(
        result("db1-a", tasks.preflight, preflight_verdict(hosts, [["db1-a"], ["db2-b", "db1-c"]]))
    )
    callback.v2_playbook_on_task_start(tasks.wave_check, False)
    callback.v2_runner_on_ok(result("db1-a", tasks.run, migrated("001", "005")))
    callback.v2_playbook_on_task_start(tasks.wave_check, False)
    callback.v2_runner_on_ok(result("db2-b", tasks.run, migrated("005", None, ms=12.4)))
    callback.v2_runner_on_failed(
        result("db1-c", tasks.run, {"action": "migrate", "failed": True, "msg": "V002__x.sql failed\n  at statement 3"})
    )
    assert printed(capfd) == [
        "== Fleet rollout - waves",
        "wave 1/2",
        "wave 1/2 - db1-a applied 001 -> 005 in 310 ms (1/3 done, 0 failed)",
        "wave 2/2",
        "wave 2/2 - db2-b already current at 005 in 12 ms (2/3 done, 0 failed)",
        "wave 2/2 - db1-c FAILED: V002__x.sql failed at statement 3 in 0 ms (3/3 done, 1 failed)",
    ]


def test_a_wave_run_in_one_task_prints_nothing_more_and_the_databases_after_it_count_on(tasks, callback, capfd):
    # The wave's task printed each of its databases' lines as they finished (plugin_utils/fleet_wave.py); a
    # database of the wave that goes through its managed host follows with the totals counted on from the wave's.
    hosts = ["db1-a", "db2-b", "db1-c", "db2-d"]
    callback.v2_runner_on_ok(result("db1-a", tasks.preflight, preflight_verdict(hosts, [hosts[:1], hosts[1:]])))
    callback.v2_playbook_on_task_start(tasks.wave_check, False)
    callback.v2_playbook_on_task_start(tasks.wave_check, False)
    wave = {"runs": {"db2-b": migrated("001", "005"), "db1-c": migrated("001", None, msg="x")}, "on_hosts": ["db2-d"]}
    callback.v2_runner_on_ok(result("db2-b", tasks.wave, dict(wave, tally={"done": 3, "failed": 1})))
    callback.v2_runner_on_ok(result("db2-d", tasks.run, migrated("001", "005")))
    assert printed(capfd) == [
        "wave 1/2",
        "wave 2/2",
        "wave 2/2 - db2-d applied 001 -> 005 in 310 ms (4/4 done, 1 failed)",
    ]


def test_a_run_that_reports_a_message_without_failing_its_host_counts_as_failed(tasks, callback, capfd):
    # pg_migrate_fail_host: false - the run's result carries the message, the host goes on.
    callback.v2_runner_on_ok(result("db1-a", tasks.run, migrated("001", None, msg="lock wait: " + "x" * 400)))
    line = printed(capfd)[0]
    assert line.startswith("wave 0/0 - db1-a FAILED: lock wait: xxx") and line.endswith("(1/1 done, 1 failed)")
    assert len(line.split("FAILED: ")[1].split(" in 310 ms")[0]) == 200  # the message is cut at 200 characters


def test_a_run_task_that_failed_without_a_result_of_its_own_counts_as_a_failed_database_in_a_wave(
    tasks, callback, capfd
):
    # An Ansible-level failure of the run's task (a bad variable, a lost connection): no action in the result.
    # The fleet report counts it failed (fleet.rules.attempted): so do the running totals.
    broken = {"failed": True, "msg": "the field 'vars' has an invalid value"}
    callback.v2_runner_on_failed(result("db1-a", tasks.run, broken))  # the preflight's status run: not a database
    callback.v2_playbook_on_task_start(tasks.wave_check, False)
    callback.v2_runner_on_failed(result("db1-b", tasks.run, broken))
    lines = printed(capfd)
    assert lines[-1].startswith("wave 1/1 - db1-b FAILED: the field 'vars' has an invalid value")
    assert lines[-1].endswith("(1/1 done, 1 failed)")
    assert not any("db1-a" in line and "done" in line for line in lines)


def test_only_the_halt_check_starts_a_wave_whatever_the_tasks_are_named(tasks, callback, capfd):
    callback.v2_playbook_on_task_start(task("wave 1", "ansible.builtin.meta", "end_play"), False)
    callback.v2_playbook_on_task_start(task("Start the next wave", "ansible.builtin.debug", {"msg": "x"}), False)
    callback.v2_playbook_on_task_start(task("x", "ansible.builtin.meta", "end_play", when="other | length"), False)
    assert callback.wave == 0 and printed(capfd) == []
    callback.v2_playbook_on_task_start(tasks.wave_check, False)
    assert printed(capfd) == ["wave 1/1"]  # no preflight verdict seen: the waves so far


def test_other_results_print_nothing_at_the_default_verbosity(tasks, callback, capfd):
    callback.v2_runner_on_ok(result("db1-a", tasks.run, {"action": "status", "plan": {"from_version": "001"}}))
    callback.v2_runner_on_ok(result("db1-a", task("Copy", "ansible.builtin.debug", {"msg": "x"}), {"msg": "x"}))
    callback.v2_runner_on_skipped(result("db1-a", tasks.run, {"skipped": True}))
    callback.v2_runner_on_start(Host("db1-a"), tasks.run)
    assert printed(capfd) == [] and callback.done == 0


def test_the_fleet_summary_is_printed_once_and_its_debug_task_prints_nothing_more(tasks, callback, capfd):
    callback.v2_runner_on_ok(result("db1-a", tasks.report, {"verdict": "complete", "summary": SUMMARY}))
    callback.v2_runner_on_ok(result("db1-a", tasks.show_summary, {"msg": SUMMARY}))
    assert printed(capfd) == SUMMARY
    # The debug task fails the play when the verdict is not complete: still only the one table.
    callback.v2_runner_on_failed(result("db1-a", tasks.show_summary, {"msg": SUMMARY, "failed": True}))
    assert printed(capfd) == []


def test_the_fleet_status_summary_is_printed_too(callback, capfd):
    status = task("Status, renamed", "pg_migrate.engine.pg_migrate_fleet", {"phase": "status"})
    lines = ["fleet status: 2 databases, latest version 005", "  behind: db2-b"]
    callback.v2_runner_on_ok(result("db1-a", status, {"summary": lines, "behind": ["db2-b"]}))
    assert printed(capfd) == lines


def test_a_failure_of_another_task_is_printed_as_ansible_prints_it(callback, capfd):
    broken = task("Copy the scripts", "ansible.builtin.debug", {"msg": "x"})
    callback.v2_runner_on_failed(result("db1-a", broken, {"failed": True, "msg": "the copy failed: no space left"}))
    out = " ".join(capfd.readouterr().out.split()) + " ".join(capfd.readouterr().err.split())
    assert "fatal: [db1-a]: FAILED!" in out and "the copy failed: no space left" in out
    callback.v2_runner_on_failed(result("db1-a", broken, {"failed": True, "msg": "ignored"}), ignore_errors=True)
    assert "ignored" not in capfd.readouterr().out


def test_with_v_the_output_is_ansibles_default(tasks, callback, capfd, monkeypatch):
    monkeypatch.setattr(callback._display, "verbosity", 1)
    callback.v2_playbook_on_play_start(Play.load({"name": "Fleet rollout - waves", "hosts": "all"}, loader=LOADER))
    callback.v2_playbook_on_task_start(tasks.wave_check, False)
    callback.v2_runner_on_ok(result("db1-a", tasks.run, migrated("001", "005")))
    out = capfd.readouterr().out
    assert "PLAY [Fleet rollout - waves]" in out and "TASK [Halt? (renamed)]" in out
    assert "ok: [db1-a]" in out
    assert "wave 1/1" not in out and "applied 001 -> 005" not in out
    assert callback.wave == 1  # still counted, for a later quiet line
