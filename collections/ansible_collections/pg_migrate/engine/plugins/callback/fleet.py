# pg_migrate: the fleet's terminal output - a line per wave and per finished database instead of Ansible's
# task log for every host; with -v the default output, unchanged.

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet
type: stdout
short_description: Progress of a fleet rollout - a line per wave and per finished database
description:
  - For the playbooks C(pg_migrate.engine.fleet) and C(pg_migrate.engine.fleet_status) over many databases -
    C(ANSIBLE_STDOUT_CALLBACK=pg_migrate.engine.fleet).
  - Prints the preflight's verdict, C(wave 2/4 - 3 databases), one line per finished database with the running
    totals (C(wave 2/4 - eu-xp_003 applied 001 -> 005 in 310 ms (4/40 done, 0 failed))), the fleet summary
    table and the recap; a failure that ends a host, and every warning, are printed as Ansible prints them.
  - With C(-v) or more, the output is Ansible's default output.
extends_documentation_fragment:
  - ansible.builtin.default_callback
  - ansible.builtin.result_format_callback
requirements:
  - set as the stdout callback (ANSIBLE_STDOUT_CALLBACK or stdout_callback in ansible.cfg)
"""

from ansible.plugins.callback.default import CallbackModule as DefaultCallback

from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.report import progress_line
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.rules import FAILED, attempted, state_of

# Keyed on what tasks do, never on their names (a copied or renamed playbook keeps its progress lines).
RUN_ACTIONS = ("pg_migrate.engine.pg_migrate_run", "pg_migrate_run")
FLEET_ACTIONS = ("pg_migrate.engine.pg_migrate_fleet", "pg_migrate_fleet")
META_ACTIONS = ("ansible.builtin.meta", "meta")
DEBUG_ACTIONS = ("ansible.builtin.debug", "debug")
HALT_FILTER = "fleet_halt"


def starts_a_wave(task) -> bool:
    """The waves play's first task: the meta end_play that asks the fleet_halt filter whether to go on."""
    return task.action in META_ACTIONS and any(HALT_FILTER in str(condition) for condition in task.when or [])


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "pg_migrate.engine.fleet"

    def __init__(self) -> None:
        super().__init__()
        self.wave = 0
        self.waves = 0
        self.total = 0
        self.done = 0
        self.failed = 0
        self.summary: list | None = None  # the fleet summary, printed once (the debug task shows it again)

    def _quiet(self) -> bool:
        return self._display.verbosity < 1

    # --- progress -------------------------------------------------------------------------------------------
    def v2_playbook_on_play_start(self, play):
        if not self._quiet():
            return super().v2_playbook_on_play_start(play)
        self._display.display("== %s" % play.get_name().strip())

    def v2_playbook_on_task_start(self, task, is_conditional):
        if starts_a_wave(task):
            self.wave += 1
            if self._quiet():
                self._display.display("wave %d/%d" % (self.wave, self.waves or self.wave))
        if not self._quiet():
            super().v2_playbook_on_task_start(task, is_conditional)

    def _a_migrate(self, outcome: dict, failed: bool) -> bool:
        """Whether OUTCOME is a database's migrate, as the fleet report counts it (fleet.rules.attempted): a
        failure of the run's task that left no action in its result counts too, once the waves have begun
        (before them the run is the preflight's read-only status)."""
        # The result a callback gets does not say "failed" (the event does): handed to the rule here.
        return outcome.get("action") == "migrate" or (self.wave > 0 and attempted(dict(outcome, failed=failed)))

    def _finished(self, result, failed: bool) -> bool:
        """A database's line when RESULT is its migrate run; True when it was one."""
        outcome = result._result
        if result._task.action not in RUN_ACTIONS or not self._a_migrate(outcome, failed):
            return False
        self.done += 1
        self.failed += int(state_of(dict(outcome, failed=failed), True) == FAILED)  # as the wave's tally counts
        name = result._host.get_name()
        wave, waves = self.wave, self.waves or self.wave
        self._display.display(progress_line(name, outcome, wave, waves, self.done, self.total, self.failed))
        return True

    def _summary(self, result) -> bool:
        """The fleet summary (the report's or the status's table) when RESULT carries it: printed once; the
        task that shows it again (its debug) prints nothing more. True when RESULT was one of the two."""
        outcome = result._result
        if result._task.action in FLEET_ACTIONS and isinstance(outcome.get("summary"), list):
            self.summary = outcome["summary"]
            for line in self.summary:
                self._display.display(str(line))
            return True
        return result._task.action in DEBUG_ACTIONS and self.summary is not None and outcome.get("msg") == self.summary

    def v2_runner_on_ok(self, result):
        outcome = result._result
        if "waves" in outcome and "problems" in outcome:  # the preflight's verdict
            self.waves, self.total = len(outcome["waves"]), len(outcome.get("hosts") or [])
        if result._task.action in FLEET_ACTIONS and isinstance(outcome.get("tally"), dict):
            # A wave's one task printed each of its databases' lines as they finished (with these totals): the
            # databases that follow through their managed hosts count on from here.
            self.done = int(outcome["tally"].get("done", self.done))
            self.failed = int(outcome["tally"].get("failed", self.failed))
        if not self._quiet():
            return super().v2_runner_on_ok(result)
        self._finished(result, False) or self._summary(result)
        self._handle_warnings(outcome)  # a run's warnings are never kept from the operator
        return None

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not self._quiet():
            return super().v2_runner_on_failed(result, ignore_errors)
        if self._finished(result, True) or ignore_errors or self._summary(result):
            self._handle_warnings(result._result)
            return None
        return super().v2_runner_on_failed(result, ignore_errors)

    def v2_runner_on_skipped(self, result):
        if not self._quiet():
            super().v2_runner_on_skipped(result)

    def v2_runner_on_start(self, host, task):
        if not self._quiet():
            super().v2_runner_on_start(host, task)

    def v2_playbook_on_include(self, included_file):
        if not self._quiet():
            super().v2_playbook_on_include(included_file)

    def v2_playbook_on_no_hosts_remaining(self):
        if not self._quiet():
            super().v2_playbook_on_no_hosts_remaining()
