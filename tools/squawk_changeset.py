#!/usr/bin/env python3
"""Lint the change set's migrations and reverts with squawk, each as the runner will execute it.

Transactional scripts are linted with --assume-in-transaction (the runner wraps them in one);
scripts whose first line is the no-transaction marker are linted as they run, statement by
statement. Verify scripts are read-only and are not linted. Exit status: squawk's (0 = clean).
The naming, the marker and the grouping are the collection's (module_utils changeset, sql_analysis, lint).

    python3 tools/squawk_changeset.py [MIGRATIONS_DIR]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The collection's Python code imports itself as ansible_collections.pg_migrate.engine...
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.discovery import scripts_named  # noqa: E402
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.lint import squawk_argv, transaction_groups  # noqa: E402
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.sql_analysis import (  # noqa: E402
    script_is_transactional,
)

DEFAULT_DIR = ROOT / "files" / "migrations"
PG_VERSION = "15"  # the oldest server the change set supports


def lintable_scripts(directory: Path) -> list[Path]:
    """Deploy (V) and revert (U) scripts; verify scripts are excluded."""
    if not directory.is_dir():
        return []
    return sorted(Path(path) for _name, path in scripts_named(directory, ("deploy", "revert")))


def squawk_commands(scripts: list[Path], squawk: str = "squawk") -> list[list[str]]:
    """One squawk call for the transactional scripts, one for the rest (empty groups are skipped)."""
    groups = transaction_groups([(str(p), script_is_transactional(p)) for p in scripts])
    return [squawk_argv(group, PG_VERSION, squawk) for group in groups]


def squawk_executable() -> str:
    beside_python = Path(sys.executable).parent / "squawk"
    return str(beside_python) if beside_python.exists() else (shutil.which("squawk") or "squawk")


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else DEFAULT_DIR
    scripts = lintable_scripts(directory)
    if not scripts:
        print(f"squawk_changeset: no V*/U* scripts in {directory}", file=sys.stderr)
        return 2
    status = 0
    for command in squawk_commands(scripts, squawk_executable()):
        status = max(status, subprocess.run(command, check=False).returncode)
    if status == 0:
        print(f"squawk: {len(scripts)} scripts clean")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
