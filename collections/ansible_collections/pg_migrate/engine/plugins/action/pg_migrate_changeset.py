"""pg_migrate_changeset: discover and validate the change set on the controller.

Runs entirely on the controller and opens no connection. The rules (names, files, SQL, checksums,
pairing, the bundle) are in module_utils/changeset.py and module_utils/sql_analysis.py; this plugin
reads the task's arguments, reports every problem in one message, and writes the bundle for the copy
step into Ansible's per-run temporary directory.
"""

from __future__ import annotations

import os
import tempfile

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset import (
    build_changeset,
    changeset_problems_message,
    read_backfill,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.bundle import write_bundle
from ansible_collections.pg_migrate.engine.plugins.module_utils.sql_analysis import PGLAST_MISSING, pglast


class ActionModule(ActionBase):
    """Controller-side discovery; see the module docstring."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("migrations_dir", "seeds_dir", "backfill_script", "file_mode", "dir_mode"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if pglast is None:
            raise AnsibleActionFail(PGLAST_MISSING)
        migrations_dir = self._task.args.get("migrations_dir")
        seeds_dir = self._task.args.get("seeds_dir") or None
        if not migrations_dir:
            raise AnsibleActionFail("pg_migrate_migrations_dir is empty: point it at the directory of V*.sql files")
        changeset, problems, warnings = build_changeset(migrations_dir, seeds_dir)
        backfill_script = self._task.args.get("backfill_script") or ""
        if backfill_script:
            changeset["backfill"] = read_backfill(backfill_script, problems)
        if problems:
            raise AnsibleActionFail(changeset_problems_message(problems, migrations_dir))

        # Ansible's per-run local temp dir is removed when ansible-playbook exits, so is the bundle.
        bundle_dir = tempfile.mkdtemp(prefix="pg_migrate-", dir=C.DEFAULT_LOCAL_TMP)
        bundle = os.path.join(bundle_dir, "changeset.tar")
        roots = {"migrations": migrations_dir, "seeds": seeds_dir or "", "backfill": os.path.dirname(backfill_script)}
        write_bundle(
            changeset,
            roots,
            bundle,
            int(str(self._task.args.get("file_mode") or "0640"), 8),
            int(str(self._task.args.get("dir_mode") or "0750"), 8),
        )
        result.update(changed=False, changeset=changeset, warnings=warnings, bundle=bundle)
        return result
