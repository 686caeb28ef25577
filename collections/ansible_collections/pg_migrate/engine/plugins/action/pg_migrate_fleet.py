"""pg_migrate_fleet: the fleet-wide steps of the fleet and fleet_status playbooks, run once on the controller.

phase=read reads the status of every database the controller reaches, in this process. phase=preflight says
from those statuses whether the rollout may start, with a line per problem; it also fixes the waves (as the
waves play's serial cuts them) and the failure budget. phase=gate (with a fleet ledger) waits for the earlier
waves. phase=wave migrates a wave's databases that the controller reaches, in this process, as many at once as
Ansible's forks. phase=report writes fleet.json, fleet.junit.xml, fleet.html and the resume file from the runs'
results, whatever happened (also after a halt). phase=status summarises a read-only status of the fleet (how
many databases at each version, which are behind, which drift) into a table and fleet-status.json.
"""

from __future__ import annotations

import datetime
import os
import uuid
from collections import Counter

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.discovery import build_changeset
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import one_line
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import version_key
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.report import (
    build_report,
    database_entry,
    now,
    pending_entry,
    summary_lines,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.rules import (
    DEFAULT_WAVES,
    FLEET_WIDE,
    NOT_ATTEMPTED,
    SKIPPED,
    budget,
    differing_settings,
    halt_reason_of,
    is_standby,
    plan_of,
    preflight_problems,
    serial_of,
    versions_of,
    wave_sizes,
    waves,
)
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_files import (
    json_text,
    paths,
    unfinished_rollout,
    write_atomically,
    write_report,
)
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_ledger import ledger_access, members_of
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_ledger_phases import (
    final_report_inputs,
    gate,
    join_rollout,
    ledger_lines,
    ledger_rollout,
)
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_read import read_statuses
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_wave import run_wave
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.host_variables import HostView

display = Display()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(("phase", "each"))
    PHASES = ("read", "preflight", "gate", "wave", "report", "status")

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        phase = self._task.args.get("phase")
        if phase not in self.PHASES:
            choices = ", ".join(self.PHASES)
            raise AnsibleActionFail("pg_migrate_fleet: phase must be one of %s, not %r" % (choices, phase))
        result.update(getattr(self, "_" + phase)(task_vars))
        result["changed"] = bool(result.get("changed")) and phase == "wave"  # only a wave changes databases
        return result

    # --- inputs ----------------------------------------------------------------------------------------------
    def _var(self, task_vars: dict, name: str, default):
        if name not in task_vars:
            return default
        return self._templar.template(task_vars[name])

    def _variables_of(self, task_vars: dict, hosts: list[str]) -> dict:
        """Each host's variables, looked up once: every hostvars[host] lookup computes all of that host's
        variables again (a fleet's largest cost in this action)."""
        if getattr(self, "_hosts_variables", None) is None:
            self._hosts_variables = {}
        hostvars = task_vars["hostvars"]
        for host in hosts:
            if host not in self._hosts_variables:
                self._hosts_variables[host] = HostView(self._templar, hostvars, host)
        return {host: self._hosts_variables[host] for host in hosts}

    def _host_var(self, variables, name: str, default=None):
        return self._templar.template(variables[name]) if name in variables else default

    def _run_of(self, task_vars: dict, host: str) -> dict | None:
        """HOST's run: its role task's (a migrate, or a status read through its managed host), else the status
        the read phase read for it in this process."""
        variables = self._variables_of(task_vars, [host])[host]
        if "__pg_migrate_run" in variables:
            return variables.get("__pg_migrate_run")
        return ((task_vars.get("__pg_migrate_fleet_read") or {}).get("statuses") or {}).get(host)

    def _reports_dir(self, task_vars: dict) -> str:
        # The role's default (<project directory>/reports) when the report's play has no role to give it.
        project = self._var(task_vars, "pg_migrate_project_dir", task_vars.get("playbook_dir", "."))
        return str(self._var(task_vars, "pg_migrate_reports_dir", os.path.join(str(project), "reports")))

    # --- phases ----------------------------------------------------------------------------------------------
    def _read(self, task_vars: dict) -> dict:
        """Every database's read-only status, in this process where the controller reaches it."""
        each = boolean(self._task.args.get("each", False), strict=False)
        return read_statuses(self._templar, task_vars, bool(self._play_context.check_mode), display.display, each)

    def _preflight(self, task_vars: dict) -> dict:
        """Whether the rollout may start; its waves (the waves play's serial is computed from them, so what
        Ansible runs is what was asked for); the budget; and, outside check mode, the in-progress report."""
        hosts = list(task_vars.get("ansible_play_hosts_all") or [])
        check = bool(self._play_context.check_mode)
        setting = self._var(task_vars, "pg_migrate_fleet_max_failures", 0)
        try:
            sizes = wave_sizes(self._var(task_vars, "pg_migrate_fleet_waves", list(DEFAULT_WAVES)))
            allowed = budget(setting, len(hosts))
        except (TypeError, ValueError) as exc:
            raise AnsibleActionFail("fleet preflight: %s. Nothing was changed." % exc) from None
        variables_of = self._variables_of(task_vars, hosts)
        statuses = {host: self._run_of(task_vars, host) for host in hosts}
        fleet_wide = {
            host: {name: self._host_var(variables, name) for name in FLEET_WIDE if name in variables}
            for host, variables in variables_of.items()
        }
        on_standby = {
            host: str(self._host_var(variables, "pg_migrate_on_standby", "skip"))
            for host, variables in variables_of.items()
        }
        problems = differing_settings(fleet_wide) + preflight_problems(statuses, on_standby.get)
        access, access_problems = self._ledger(task_vars)
        problems += access_problems
        cut = waves(hosts, sizes)
        say_preflight(problems, hosts, cut)
        preflight = {
            "problems": problems,
            "hosts": hosts,
            "waves": cut,
            "serial": serial_of(cut),
            "canaries": cut[0] if cut else [],
            "allowed": allowed,
            "max_failures": str(setting),
            "canary_stops": boolean(self._var(task_vars, "pg_migrate_fleet_canary_stops", True), strict=False),
            "check_mode": check,
            "run_id": "%s-%s" % (datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ"), uuid.uuid4().hex[:8]),
            "started_at": now(),
            "versions": {
                host: {
                    "version": plan_of(status).from_version,
                    "pending": list(plan_of(status).pending_versions),
                    "skipped_standby": is_standby(status) and on_standby[host] == "skip",
                }
                for host, status in statuses.items()
            },
        }
        if access is not None and not check:
            preflight.update(self._join(task_vars, access, hosts, sizes, preflight, problems))
        if not check and not problems:
            # From here on the reports directory describes this rollout: an in-progress report whose resume
            # list is every database not yet finished (each run takes itself off as it finishes).
            self._write(task_vars, preflight, finished=False)
            preflight["reports_dir"] = self._reports_dir(task_vars)
        return preflight

    # --- the fleet ledger (plugin_utils/fleet_ledger.py): one rollout across controllers -------------------
    def _ledger(self, task_vars: dict):
        return ledger_access(lambda name, default: self._var(task_vars, name, default), task_vars)

    def _join(self, task_vars: dict, access, hosts: list[str], sizes: list, preflight: dict, problems: list) -> dict:
        """This controller's part of the ledger's rollout: the whole fleet's waves, its own batches."""
        variables_of = self._variables_of(task_vars, hosts)
        members = members_of(variables_of[hosts[0]], hosts, variables_of)
        cut = waves([member["host"] for member in members], sizes)
        setting = preflight["max_failures"]
        draft = {
            "members": members,
            "waves": cut,
            "canaries": cut[0] if cut else [],
            "allowed": budget(setting, len(members)),
            "canary_stops": preflight["canary_stops"],
            "max_failures": setting,
        }
        project = self._var(task_vars, "pg_migrate_project_dir", task_vars.get("playbook_dir", "."))
        directory = str(self._var(task_vars, "pg_migrate_migrations_dir", os.path.join(str(project), "migrations")))
        changeset, changeset_problems, _warnings = build_changeset(directory, None)
        problems.extend(changeset_problems)
        ready = [pending_entry(host, variables_of[host], 0, preflight["versions"].get(host, {})) for host in hosts]
        try:
            return join_rollout(access, task_vars, draft, ready, changeset.to_dict(), problems)
        except (ConnectionError, RunFailed) as exc:
            raise AnsibleActionFail(
                "fleet preflight: the fleet ledger (%s): %s. Nothing was changed." % (access.where, exc)
            ) from None

    def _gate(self, task_vars: dict) -> dict:
        """At the start of each wave: with a ledger, wait for the earlier waves and read the halt from it."""
        preflight = task_vars.get("__pg_migrate_fleet_preflight") or {}
        access, problems = self._ledger(task_vars)
        if not preflight.get("ledger"):
            return {"halt": ""}  # no ledger: the fleet_halt filter decides from this controller's runs
        if access is None:
            return {"ledger": preflight["ledger"]["rollout_id"], "halt": "; ".join(problems)}
        return gate(access, task_vars, display.display)

    def _wave(self, task_vars: dict) -> dict:
        """This wave's databases that the controller reaches, migrated in this process (plugin_utils/fleet_wave.py)."""
        check, diff = bool(self._play_context.check_mode), bool(self._play_context.diff)
        return run_wave(self._templar, task_vars, check, diff, display.display)

    def _entries(self, task_vars: dict, preflight: dict, finished: bool) -> list[dict]:
        wave_of = {host: number for number, wave in enumerate(preflight["waves"], start=1) for host in wave}
        hostvars = self._variables_of(task_vars, preflight["hosts"])
        check = bool(preflight.get("check_mode"))
        entries = []
        for host in preflight["hosts"]:
            read = preflight["versions"].get(host, {})
            if not finished:
                entries.append(pending_entry(host, hostvars[host], wave_of.get(host, 0), read))
            elif preflight["problems"]:
                # Blocked: nothing ran (a run registered in the preflight play is a status, not an attempt).
                entry = pending_entry(host, hostvars[host], wave_of.get(host, 0), read)
                entry["state"] = SKIPPED if read.get("skipped_standby") else NOT_ATTEMPTED
                entries.append(entry)
            else:
                entries.append(database_entry(host, hostvars[host], wave_of.get(host, 0), read, check))
        return entries

    def _write(self, task_vars: dict, preflight: dict, finished: bool) -> dict:
        databases = self._entries(task_vars, preflight, finished)
        hostvars = self._variables_of(task_vars, preflight["hosts"])
        halt = ""
        if finished:
            halt = halt_reason_of(preflight, {entry["host"]: hostvars[entry["host"]] for entry in databases})
        return self._written(task_vars, preflight, databases, halt, finished)

    def _write_from_ledger(self, task_vars: dict, preflight: dict) -> dict:
        """The whole fleet's report from the ledger, whichever controller writes it."""
        access, problems = self._ledger(task_vars)
        if access is None:
            raise AnsibleActionFail("fleet report: %s" % "; ".join(problems))
        entries, halt, over = final_report_inputs(access, preflight, display.display)
        ledger = {key: preflight["ledger"][key] for key in ("rollout_id", "started_by", "where")}
        return self._written(task_vars, preflight, entries, halt, over, {"ledger": ledger})

    def _written(
        self, task_vars: dict, preflight: dict, databases: list, halt: str, finished: bool, extra: dict | None = None
    ) -> dict:
        """The fleet report of DATABASES (with EXTRA fields), written into the reports directory (its paths under
        "files")."""
        failed = sum(1 for entry in databases if entry["state"] == "failed")
        report = build_report(
            databases,
            preflight["waves"],
            "" if preflight["problems"] else halt,
            preflight["problems"],
            {"allowed": preflight["allowed"], "failed": failed, "setting": preflight["max_failures"]},
            bool(preflight.get("check_mode")),
            {"run_id": preflight.get("run_id"), "started_at": preflight.get("started_at")},
            finished,
        )
        report.update(extra or {})
        directory = self._reports_dir(task_vars)
        try:
            report["files"] = write_report(directory, report)
        except OSError as exc:
            raise AnsibleActionFail(
                "cannot write the fleet report to %s: %s (pg_migrate_reports_dir names where it goes)"
                % (directory, exc.strerror or exc)
            ) from None
        return report

    def _report(self, task_vars: dict) -> dict:
        preflight = task_vars.get("__pg_migrate_fleet_preflight") or {}
        if not preflight.get("hosts"):
            raise AnsibleActionFail("pg_migrate_fleet: no preflight result: run the preflight play first")
        if preflight.get("ledger"):
            report = self._write_from_ledger(task_vars, preflight)
        else:
            report = self._write(task_vars, preflight, finished=True)
        files = report.pop("files")
        reports, resume = (files[:3], files[3]) if len(files) > 3 else (files, None)
        return {
            "verdict": report["verdict"],
            "summary": summary_lines(report, reports, resume),
            "counts": report["counts"],
            "files": files,
            "check_mode": report["check_mode"],
        }

    def _status_row(self, task_vars: dict, host: str) -> tuple[dict, str | None]:
        """HOST's line of the fleet status, and the version its change set leads to."""
        run = self._run_of(task_vars, host) or {}
        plan = plan_of(run)
        before, _after = versions_of(run)
        row = {
            "host": host,
            "database": self._variables_of(task_vars, [host])[host].get("pg_migrate_db"),
            "version": before,
            "pending": list(plan.pending_versions),
            "drift": [item.script for item in plan.drift],
            "error": one_line(run["msg"]) if run.get("msg") else None,
        }
        return row, plan.to_version

    def _status(self, task_vars: dict) -> dict:
        read = [self._status_row(task_vars, host) for host in task_vars.get("ansible_play_hosts_all") or []]
        targets = [target for _row, target in read if target]
        report = status_report([row for row, _target in read], max(targets, key=version_key, default=None))
        directory = self._reports_dir(task_vars)
        unfinished = unfinished_rollout(directory)
        if unfinished:
            report["unfinished_rollout"] = {
                "run_id": unfinished.get("run_id"),
                "started_at": unfinished.get("started_at"),
                "still_to_do": unfinished.get("still_to_do") or [],
            }
        access, _problems = self._ledger(task_vars)
        if access is not None:
            report["ledger_rollout"] = ledger_rollout(access)
        path = os.path.join(directory, "fleet-status.json")
        write_atomically(path, json_text(report))
        lines = status_lines(report) + unfinished_lines(unfinished, paths(directory, False)[3])
        lines += ledger_lines(report.get("ledger_rollout"), access)
        lines.append("  report: %s" % path)
        return {"summary": lines, "behind": report["behind"], "drift": report["drift"], "versions": report["versions"]}


def say_preflight(problems: list[str], hosts: list[str], cut: list[list[str]]) -> None:
    """The preflight's verdict on the terminal: each problem, or the waves."""
    for problem in problems:
        display.display("fleet preflight: %s" % problem)
    if problems:
        display.display("fleet preflight: %d problem(s): no database will be changed" % len(problems))
    else:
        display.display(
            "fleet preflight: %d databases ready; %d wave(s): %s"
            % (len(hosts), len(cut), ", ".join(str(len(wave)) for wave in cut))
        )


def status_report(rows: list[dict], latest: str | None) -> dict:
    """fleet-status.json: how many databases at each version, which are behind, drift or could not be read."""
    return {
        "schema_version": 1,
        "kind": "fleet-status",
        "generated_at": now(),
        "latest": latest,
        "versions": dict(sorted(Counter(row["version"] or "none" for row in rows).items())),
        "behind": [row["host"] for row in rows if row["pending"]],
        "drift": [row["host"] for row in rows if row["drift"]],
        "unreadable": [row["host"] for row in rows if row["error"]],
        "databases": rows,
    }


def status_lines(report: dict) -> list[str]:
    """The fleet status's table: the versions, who is behind, who drifts, who could not be read."""
    lines = ["fleet status: %d databases, latest version %s" % (len(report["databases"]), report["latest"] or "?")]
    lines += ["  at %-8s %d database(s)" % (version, count) for version, count in report["versions"].items()]
    lines.append("  behind: %s" % (", ".join(report["behind"]) if report["behind"] else "none"))
    lines.append("  drift: %s" % (", ".join(report["drift"]) if report["drift"] else "none"))
    if report["unreadable"]:
        lines.append("  unreadable: %s" % ", ".join(report["unreadable"]))
    return lines


def unfinished_lines(unfinished: dict | None, resume: str) -> list[str]:
    """The line about the last rollout when it has not finished (UNFINISHED: its report; RESUME: its resume file)."""
    if not unfinished:
        return []
    return [
        "  last rollout %s (started %s): in progress or interrupted - %d database(s) not finished; "
        "resume with --limit @%s"
        % (unfinished.get("run_id"), unfinished.get("started_at"), len(unfinished.get("still_to_do") or []), resume)
    ]
