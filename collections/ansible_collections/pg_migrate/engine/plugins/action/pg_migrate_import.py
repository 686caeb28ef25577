"""pg_migrate_import: another tool's migrations (golang-migrate, goose, dbmate, Flyway, diesel, EF Core) converted
into the engine's files, on the controller (playbooks/import.yml). Every problem stops it before the first file is
written; check mode writes nothing and shows each file it would write (--diff)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.pg_migrate.engine.plugins.plugin_utils.import_files import run_import


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(("tool", "source", "dest"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        tool, source, dest = (str(args.get(name) or "") for name in ("tool", "source", "dest"))
        result.update(run_import(tool, source, dest, check=bool(self._play_context.check_mode)))
        if not self._play_context.diff:
            result.pop("diff", None)
        return result
