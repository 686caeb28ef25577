"""pg_migrate_fleet: the fleet-wide steps of playbooks/fleet.yml and fleet-status.yml, run once on the controller.

phase=preflight reads every database's read-only status (registered by the role) and says whether the rollout
may start, with a line per problem; it also fixes the waves (as the waves play's serial cuts them) and the
failure budget. phase=report writes fleet.json, fleet.junit.xml, fleet.html and the resume file from the
runs' results, whatever happened (also after a halt). phase=status summarises a read-only status of the fleet
(how many databases at each version, which are behind, which drift) into a table and fleet-status.json.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet import (
    budget,
    halt_reason_of,
    parse_count,
    preflight_problems,
    versions_of,
    waves,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet_report import (
    build_report,
    database_entry,
    html_page,
    junit,
    summary_lines,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.versions import version_key

display = Display()
DEFAULT_WAVES = [1, "5%", "25%", "100%"]


def write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=directory, prefix=".fleet-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(scratch, 0o644)
    os.replace(scratch, path)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(("phase",))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        phase = self._task.args.get("phase")
        if phase not in ("preflight", "report", "status"):
            raise AnsibleActionFail("pg_migrate_fleet: phase must be preflight, report or status, not %r" % phase)
        result.update(getattr(self, "_" + phase)(task_vars))
        result["changed"] = False
        return result

    # --- inputs ----------------------------------------------------------------------------------------------
    def _var(self, task_vars: dict, name: str, default):
        if name not in task_vars:
            return default
        return self._templar.template(task_vars[name])

    def _run_of(self, task_vars: dict, host: str) -> dict | None:
        variables = task_vars["hostvars"][host]
        return variables.get("__pg_migrate_run") if "__pg_migrate_run" in variables else None

    def _reports_dir(self, task_vars: dict) -> str:
        return str(
            self._var(task_vars, "pg_migrate_reports_dir", os.path.join(task_vars.get("playbook_dir", "."), "reports"))
        )

    # --- phases ----------------------------------------------------------------------------------------------
    def _preflight(self, task_vars: dict) -> dict:
        hosts = list(task_vars.get("ansible_play_hosts_all") or [])
        sizes = self._var(task_vars, "pg_migrate_fleet_waves", DEFAULT_WAVES)
        setting = self._var(task_vars, "pg_migrate_fleet_max_failures", 0)
        try:
            for size in sizes:
                parse_count(size, "pg_migrate_fleet_waves")
            allowed = budget(setting, len(hosts))
        except (TypeError, ValueError) as exc:
            raise AnsibleActionFail(str(exc)) from None
        statuses = {host: self._run_of(task_vars, host) for host in hosts}
        problems = preflight_problems(statuses, str(self._var(task_vars, "pg_migrate_on_standby", "skip")))
        cut = waves(hosts, sizes)
        for problem in problems:
            display.display("fleet preflight: %s" % problem)
        if problems:
            display.display("fleet preflight: %d problem(s): no database will be changed" % len(problems))
        else:
            display.display(
                "fleet preflight: %d databases ready; %d wave(s): %s"
                % (len(hosts), len(cut), ", ".join(str(len(wave)) for wave in cut))
            )
        return {
            "problems": problems,
            "hosts": hosts,
            "waves": cut,
            "canaries": cut[0] if cut else [],
            "allowed": allowed,
            "max_failures": str(setting),
            "canary_stops": boolean(self._var(task_vars, "pg_migrate_fleet_canary_stops", True), strict=False),
            "versions": {
                host: {
                    "version": ((status or {}).get("plan") or {}).get("from_version"),
                    "skipped_standby": bool((status or {}).get("skipped_standby")),
                }
                for host, status in statuses.items()
            },
        }

    def _report(self, task_vars: dict) -> dict:
        preflight = task_vars.get("__pg_migrate_fleet_preflight") or {}
        if not preflight.get("hosts"):
            raise AnsibleActionFail("pg_migrate_fleet: no preflight result: run the preflight play first")
        wave_of = {host: number for number, wave in enumerate(preflight["waves"], start=1) for host in wave}
        hostvars = task_vars["hostvars"]
        databases = [
            database_entry(host, hostvars[host], wave_of.get(host, 0), preflight["versions"].get(host, {}))
            for host in preflight["hosts"]
        ]
        halt = halt_reason_of(preflight, {entry["host"]: hostvars[entry["host"]] for entry in databases})
        failed = sum(1 for entry in databases if entry["state"] == "failed")
        report = build_report(
            databases,
            preflight["waves"],
            halt,
            preflight["problems"],
            {"allowed": preflight["allowed"], "failed": failed, "setting": preflight["max_failures"]},
            bool(self._play_context.check_mode),
        )
        directory = self._reports_dir(task_vars)
        files = [os.path.join(directory, name) for name in ("fleet.json", "fleet.junit.xml", "fleet.html")]
        resume = os.path.join(directory, "fleet.resume")
        write_atomically(files[0], json.dumps(report, indent=2, sort_keys=True) + "\n")
        write_atomically(files[1], junit(report))
        write_atomically(files[2], html_page(report))
        write_atomically(resume, "".join("%s\n" % host for host in report["still_to_do"]))
        return {
            "verdict": report["verdict"],
            "summary": summary_lines(report, [*files, resume]),
            "counts": report["counts"],
            "files": [*files, resume],
        }

    def _status(self, task_vars: dict) -> dict:
        hosts = list(task_vars.get("ansible_play_hosts_all") or [])
        rows, versions, latest = [], {}, None
        for host in hosts:
            run = self._run_of(task_vars, host) or {}
            plan = run.get("plan") or {}
            before, _after = versions_of(run)
            target = plan.get("to_version")
            if target and (latest is None or version_key(target) > version_key(latest)):
                latest = target
            row = {
                "host": host,
                "database": task_vars["hostvars"][host].get("pg_migrate_db"),
                "version": before,
                "pending": list(plan.get("pending_versions") or []),
                "drift": [
                    str(item.get("script", item)) if isinstance(item, dict) else str(item)
                    for item in plan.get("drift") or []
                ],
                "error": " ".join(str(run["msg"]).split()) if run.get("msg") else None,
            }
            rows.append(row)
            versions[before or "none"] = versions.get(before or "none", 0) + 1
        behind = [row["host"] for row in rows if row["pending"]]
        drifting = [row["host"] for row in rows if row["drift"]]
        failing = [row["host"] for row in rows if row["error"]]
        report = {
            "schema_version": 1,
            "kind": "fleet-status",
            "generated_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "latest": latest,
            "versions": dict(sorted(versions.items())),
            "behind": behind,
            "drift": drifting,
            "unreadable": failing,
            "databases": rows,
        }
        path = os.path.join(self._reports_dir(task_vars), "fleet-status.json")
        write_atomically(path, json.dumps(report, indent=2, sort_keys=True) + "\n")
        lines = ["fleet status: %d databases, latest version %s" % (len(rows), latest or "?")]
        lines += ["  at %-8s %d database(s)" % (version, count) for version, count in report["versions"].items()]
        lines.append("  behind: %s" % (", ".join(behind) if behind else "none"))
        lines.append("  drift: %s" % (", ".join(drifting) if drifting else "none"))
        if failing:
            lines.append("  unreadable: %s" % ", ".join(failing))
        lines.append("  report: %s" % path)
        return {"summary": lines, "behind": behind, "drift": drifting, "versions": report["versions"]}
