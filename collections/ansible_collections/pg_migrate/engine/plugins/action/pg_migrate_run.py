"""pg_migrate_run: one pg_migrate run against one database, as one task.

phase=start checks the inputs, discovers the change set, then runs the action (preflight, migrate or
rollback or status or verify or seed, verification after a migrate) and writes the reports:
  - execution=controller: in this process, with psycopg on the controller (no module, no copy, no async);
    progress for long steps is printed from here;
  - execution=host: through the pg_migrate module on the managed host, with the change set unpacked there.
    A migrate or rollback that has work to do returns deferred=true instead: the role then runs it as a
    background job (it survives a dropped connection), follows it with pg_migrate_watch, and calls
    phase=finish with the job's result for the reports and the summary.
execution=auto takes the controller when the task's connection is local (the local inventory, or
delegate_to: localhost), the managed host otherwise.
"""

from __future__ import annotations

import uuid

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.pg_migrate.engine.plugins.module_utils.report.summary_lines import lost_job_state
from ansible_collections.pg_migrate.engine.plugins.module_utils.settings.declared import RunSettings
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.conclusion import conclude
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_progress import fleet_turn, timed
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.in_process import (
    ENGINE_ACTION,
    concluded_run,
    execution_path,
)
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.preparation import (
    CONNECTION_OPTIONS,
    Prepared,
    engine_params,
    lint_pending,
    prepare,
)
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.remote import RemoteRun
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.role_settings import (
    connection_from_variables,
    rendered,
    settings_from_argument,
    settings_from_variables,
    validated_role_variables,
)

display = Display()
READ_ONLY = ("status", "verify")


class ActionModule(ActionBase):
    """See the module docstring."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(("phase", "settings", "job", *CONNECTION_OPTIONS))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        host = task_vars.get("inventory_hostname", "?")
        settings = self._settings(task_vars)
        check = bool(self._play_context.check_mode)
        # A report that cannot be written fails the run in its result (conclusion.py), never as an exception:
        # the result still says what the run did.
        if self._task.args.get("phase", "start") == "finish":
            result.update(timed(lambda: self._finish(settings, host, task_vars), stamp=False))
            job = self._task.args.get("job") or {}
            if isinstance(job.get("duration_ms"), (int, float)):
                result["duration_ms"] = job["duration_ms"]  # the background job's run, not this task's
        elif settings.action == "migrate" and not check:
            # In a fleet rollout: this database's turn in the fleet ledger, and once it is finished the
            # in-progress fleet report (and the ledger) say so at once.
            value = self._role_variables(task_vars).get
            result.update(fleet_turn(task_vars, host, value, lambda: self._start(settings, host, check, task_vars)))
        else:
            result.update(timed(lambda: self._start(settings, host, check, task_vars)))
        # Whether the role goes on (a host-path background job, a backfill's batches): the role's tasks read
        # this flag, not an expression over the result - a `when:` on every database is evaluated in
        # Ansible's main process, where compiling a longer template per database was a large share of a
        # fleet's cost.
        result["continues"] = bool(result.get("deferred")) or (settings.action == "backfill" and not result.get("stop"))
        return result

    # --- inputs --------------------------------------------------------------------------------------------
    def _role_variables(self, task_vars: dict) -> dict:
        """The role's variables, validated against its argument spec; each rendered once."""
        if getattr(self, "_validated", None) is None:
            self._validated = validated_role_variables(
                lambda name: rendered(self._templar, task_vars[name]), lambda name: name in task_vars
            )
        return self._validated

    def _settings(self, task_vars: dict) -> RunSettings:
        """The settings argument when given (the host path's finish passes it), else the role's variables."""
        if "settings" in self._task.args:
            return settings_from_argument(dict(self._task.args.get("settings") or {}))
        variables = self._role_variables(task_vars)
        return settings_from_variables(variables.get)

    def _connection_options(self, task_vars: dict) -> dict:
        """The connection options given to the task (module_defaults or explicit), else the role's variables."""
        given = {key: self._task.args[key] for key in CONNECTION_OPTIONS if key in self._task.args}
        if given or "settings" in self._task.args:
            return given
        return connection_from_variables(self._role_variables(task_vars).get)

    # --- the two paths -----------------------------------------------------------------------------------
    def execution(self, settings: RunSettings) -> str:
        try:
            return execution_path(settings.execution, self._connection.transport)
        except ValueError as exc:
            raise AnsibleActionFail(str(exc)) from None

    def _start(self, settings: RunSettings, host: str, check: bool, task_vars: dict) -> dict:
        connection = self._connection_options(task_vars)
        prepared = prepare(settings, connection, host, check, self.execution(settings))
        action = settings.action
        if action == "seed" and not settings.seeds_enabled:
            return {"changed": False, "summary": [seeds_disabled(host, connection.get("login_db"))]}
        if action != "backfill" and self.execution(settings) == "controller":
            diff = bool(self._play_context.diff)
            return concluded_run(settings, connection, host, check, diff, display.display, prepared)
        engine_action = ENGINE_ACTION.get(action, action)
        params = engine_params(settings, connection, prepared.changeset, host, engine_action, documents=prepared)
        if action == "backfill":
            # The batches run on the managed host (pg_migrate_backfill): the scripts go there, checked first.
            return self._stage_backfill(params, prepared, settings, check, task_vars)
        remote = RemoteRun(self, task_vars)
        run = remote.run(params, prepared.bundle, settings, check)
        if run.get("deferred"):
            # Names the job's files beside the scripts (progress note, password FIFO).
            return {
                "changed": bool(run.get("copied")),
                "deferred": True,
                "changeset": prepared.changeset,
                # Validated once, here: the finish task gets them back as they are (no second road).
                "settings": settings.to_dict(),
                "job_token": uuid.uuid4().hex[:12],
                "summary": [],
                "warnings": prepared.warnings,
                "verification_documents": {"expected": prepared.expected, "probes": prepared.probes},
            }
        squawk = lint_pending(run, settings, check) if action == "migrate" else None
        concluded = conclude(run, settings, host, check, squawk)
        # A read-only run (verify) stages the verify scripts on the host; that copy is not a change it reports.
        concluded["changed"] = concluded["changed"] or (bool(run.get("copied")) and action not in READ_ONLY)
        concluded["warnings"] = prepared.warnings + run.get("warnings", [])
        return concluded

    def _stage_backfill(
        self, params: dict, prepared: Prepared, settings: RunSettings, check: bool, task_vars: dict
    ) -> dict:
        """The preflight and the copy of a backfill's scripts; in check mode into a scratch directory that the
        role removes at the end (the batches need them there for more than this task)."""
        params = dict(params, action="plan")
        if check:
            params["scripts_dir"] = "/tmp/pg_migrate-check-%s" % uuid.uuid4().hex[:12]
        run = RemoteRun(self, task_vars).run(params, prepared.bundle, settings, False)
        staged = {
            "changed": bool(run.get("copied")) and not check,
            "changeset": prepared.changeset,
            "settings": settings.to_dict(),
            "warnings": prepared.warnings,
            "scripts_dir": params["scripts_dir"],
            "staging": params["scripts_dir"] if check else "",
        }
        host = task_vars.get("inventory_hostname", "?")
        if run.get("skipped"):
            staged.update(stop=True, summary=[run["skip_reason"]])
        elif run.get("msg"):
            staged.update(
                stop=True,
                summary=["%s %s: backfill did not start" % (host, params["login_db"]), "  FAILED (details below)"],
                msg="%s: %s" % (host, run["msg"]),
            )
        return staged

    def _finish(self, settings: RunSettings, host: str, task_vars: dict) -> dict:
        """The deferred host-path job's result (from pg_migrate_watch): what a lost job left, then the reports."""
        job = dict(self._task.args.get("job") or {})
        if job.get("job_lost"):
            connection = {key: self._task.args[key] for key in CONNECTION_OPTIONS if key in self._task.args}
            if "login_password" not in connection and "pg_migrate_login_password" in task_vars:
                # Not a task argument (a callback that shows task arguments would show it): read here.
                connection["login_password"] = self._templar.template(task_vars["pg_migrate_login_password"])
            # job.yml hands the change set over in the settings argument (combined with the settings).
            changeset = (self._task.args.get("settings") or {}).get("changeset")
            params = engine_params(settings, connection, changeset, host, "plan", preflight=False, verify_schema=False)
            status = RemoteRun(self, task_vars).run(params, None, settings, False)
            job["msg"] = "%s %s" % (job.get("msg", ""), lost_job_state(status, settings.action))
        job.setdefault("action", settings.action)
        job.setdefault("database", self._task.args.get("login_db"))
        concluded = conclude(job, settings, host, bool(self._play_context.check_mode), None)
        concluded["changed"] = False  # the job's task (the watch, the batches) reported the change
        return concluded


def seeds_disabled(host: str, database: str) -> str:
    return (
        "%s %s: seeds are not enabled in this environment (pg_migrate_seeds_enabled is false): nothing to do. "
        "Set it to true in the inventory's group_vars to apply the seed scripts of pg_migrate_seeds_dir here."
        % (host, database)
    )
