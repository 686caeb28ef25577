# pg_migrate: the managed-host path of a run — the change set unpacked there and the pg_migrate module run
# there, in the foreground, inside the pg_migrate_run action (one task, however many module calls).

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import line_of
from ansible_collections.pg_migrate.engine.plugins.module_utils.settings.declared import RunSettings
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.preparation import DIR_MODES

MODULE = "pg_migrate.engine.pg_migrate"


class RemoteRun:
    """The module runs of one pg_migrate_run task on its managed host."""

    def __init__(self, action, task_vars: dict) -> None:
        self.action = action
        self.task_vars = task_vars

    def run(self, params: dict, bundle: str | None, settings: RunSettings, check: bool) -> dict:
        """The module's result for PARAMS; with BUNDLE, the change set is unpacked first (into the scripts
        directory, or in check mode into the task's temporary directory, which goes with it). A migrate or
        rollback outside check mode stops before changing anything when it has work to do (deferred): the
        role runs that as a background job."""
        args = {key: value for key, value in params.items() if key != "script_roots"}
        shell = self.action._connection._shell
        made_tmp = shell.tmpdir is None
        if bundle:
            tmpdir = self.action._make_tmp_path() if made_tmp else shell.tmpdir
            remote_tar = shell.join_path(tmpdir, "changeset.tar")
            self.action._transfer_file(bundle, remote_tar)
            self.action._fixup_perms2((tmpdir, remote_tar), execute=False)
            args.update(
                bundle=remote_tar,
                dir_mode=DIR_MODES.get(str(settings.remote_mode or "0640"), "0750"),
                remote_owner=settings.remote_owner or None,
                remote_group=settings.remote_group or None,
            )
            if check:
                args["scripts_dir"] = shell.join_path(tmpdir, "scripts")
        if not check and params["action"] in ("migrate", "rollback"):
            args["defer_changes"] = True
        try:
            result = self.action._execute_module(module_name=MODULE, module_args=args, task_vars=self.task_vars)
        finally:
            if made_tmp and shell.tmpdir:
                self.action._remove_tmp_path(shell.tmpdir)
        result.pop("invocation", None)  # the module's arguments include the login password
        if result.get("failed") and not result.get("msg"):
            output = result.get("module_stderr") or result.get("module_stdout")
            result["msg"] = "the pg_migrate module failed on the managed host: %s" % line_of(output, -1, "no output")
        return result
