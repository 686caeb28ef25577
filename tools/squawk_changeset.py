#!/usr/bin/env python3
"""Lint the change set's migrations and reverts with squawk, each as the runner will execute it.

Transactional scripts are linted with --assume-in-transaction (the runner wraps them in one);
scripts whose first line is the no-transaction marker are linted as they run, statement by
statement. Verify scripts are read-only and are not linted. Exit status: squawk's (0 = clean).

    python3 tools/squawk_changeset.py [MIGRATIONS_DIR]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

NO_TRANSACTION_MARKER = "-- pg_migrate:no-transaction"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "files" / "migrations"
PG_VERSION = "15"  # the oldest server the change set supports


def lintable_scripts(directory: Path) -> list[Path]:
    """Deploy (V) and revert (U) scripts; verify scripts are excluded."""
    return sorted(p for p in directory.glob("[VU]*.sql") if not p.name.endswith(".verify.sql"))


def is_transactional(script: Path) -> bool:
    first_line = script.read_text(encoding="utf-8-sig").split("\n", 1)[0].strip()
    return first_line != NO_TRANSACTION_MARKER


def squawk_commands(scripts: list[Path], squawk: str = "squawk") -> list[list[str]]:
    """One squawk call for the transactional scripts, one for the rest (empty groups are skipped)."""
    in_tx = [str(p) for p in scripts if is_transactional(p)]
    no_tx = [str(p) for p in scripts if not is_transactional(p)]
    base = [squawk, "--pg-version", PG_VERSION]
    commands = []
    if in_tx:
        commands.append([*base, "--assume-in-transaction", *in_tx])
    if no_tx:
        commands.append([*base, *no_tx])
    return commands


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
