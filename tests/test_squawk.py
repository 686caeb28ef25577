"""squawk lints every migration and revert; every finding is fixed or justified in the file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.changeset import MIGRATIONS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import squawk_changeset


def _findings(command: list[str]) -> list[dict]:
    result = subprocess.run([*command, "--reporter", "json"], capture_output=True, text=True, check=False)
    return json.loads(result.stdout or "[]")


def test_every_migration_and_revert_is_squawk_clean():
    scripts = squawk_changeset.lintable_scripts(MIGRATIONS)
    assert len(scripts) == 10
    commands = squawk_changeset.squawk_commands(scripts, squawk_changeset.squawk_executable())
    findings = [f for command in commands for f in _findings(command)]
    assert findings == [], "\n".join(f"{f['file']}:{f['line']} {f['rule_name']}: {f['message']}" for f in findings)


def test_squawk_is_really_run_and_catches_a_blocking_index(tmp_path: Path):
    bad = tmp_path / "V900__blocking_index.sql"
    bad.write_text("CREATE INDEX xp_awards_amount_idx ON xp_awards (amount);\n")
    commands = squawk_changeset.squawk_commands([bad], squawk_changeset.squawk_executable())
    rules = {f["rule_name"] for command in commands for f in _findings(command)}
    assert "require-concurrent-index-creation" in rules


def test_marked_scripts_are_linted_outside_a_transaction(tmp_path: Path):
    marked = tmp_path / "V901__x.sql"
    marked.write_text("-- pg_migrate:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (c);\n")
    plain = tmp_path / "V902__y.sql"
    plain.write_text("SELECT 1;\n")
    commands = squawk_changeset.squawk_commands([marked, plain], "squawk")
    # The rules the engine satisfies itself (it sets both timeouts) are left out, as the role's lint does.
    excluded = ["--exclude", "require-lock-timeout,require-statement-timeout"]
    assert commands == [
        ["squawk", *excluded, "--pg-version", "15", "--assume-in-transaction", str(plain)],
        ["squawk", *excluded, "--pg-version", "15", str(marked)],
    ]


@pytest.mark.parametrize("script", squawk_changeset.lintable_scripts(MIGRATIONS), ids=lambda p: p.name)
def test_every_squawk_ignore_is_justified_on_the_line_above(script: Path):
    lines = script.read_text().split("\n")
    for number, line in enumerate(lines):
        if re.match(r"--\s*squawk-ignore", line):
            above = lines[number - 1] if number else ""
            assert above.startswith("-- ") and "squawk-ignore" not in above, (
                f"{script.name}:{number + 1}: '{line}' needs a justification comment on the line above"
            )
