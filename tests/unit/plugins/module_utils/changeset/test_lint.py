"""squawk as the role runs it: which scripts in which group, and what it found."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset import lint


def test_lint_groups_split_by_transaction_and_skip_empty():
    pending = [("V002__a.sql", True), ("V005__idx.sql", False)]
    assert lint.lint_groups(pending, [("R__seed.sql", True)], "/m", "/s") == [
        {"in_transaction": True, "files": ["/m/V002__a.sql", "/s/R__seed.sql"]},
        {"in_transaction": False, "files": ["/m/V005__idx.sql"]},
    ]
    assert lint.lint_groups([], [], "/m") == []


def test_squawk_findings_are_parsed_and_lines_count_from_one():
    stdout = json.dumps([{"file": "/m/V002__a.sql", "line": 4, "rule_name": "ban-drop-table", "message": "Drop!"}])
    findings, problems = lint.squawk_findings([{"rc": 1, "stdout": stdout}, {"skipped": True}])
    assert findings == [{"file": "V002__a.sql", "line": 5, "rule": "ban-drop-table", "message": "Drop!"}]
    assert problems == []


def test_squawk_that_cannot_run_is_reported_with_the_fix():
    _, problems = lint.squawk_findings([{"rc": 2, "msg": "[Errno 2] No such file or directory: b'squawk'"}])
    assert "pip install squawk-cli" in problems[0]


def test_transaction_groups_keep_the_order_and_put_the_transactional_group_first():
    scripts = [("/m/V005__idx.sql", False), ("/m/V002__a.sql", True), ("/m/U005__idx.sql", False)]
    assert lint.transaction_groups(scripts) == [
        {"in_transaction": True, "files": ["/m/V002__a.sql"]},
        {"in_transaction": False, "files": ["/m/V005__idx.sql", "/m/U005__idx.sql"]},
    ]
    assert lint.transaction_groups([]) == []


def test_squawk_argv_assumes_a_transaction_only_for_the_transactional_group():
    in_tx = {"in_transaction": True, "files": ["a.sql"]}
    assert lint.squawk_argv(in_tx, 15, "/bin/squawk", exclude=()) == [
        "/bin/squawk",
        "--pg-version",
        "15",
        "--assume-in-transaction",
        "a.sql",
    ]
    assert lint.squawk_argv(dict(in_tx, in_transaction=False), "16", exclude=[]) == [
        "squawk",
        "--pg-version",
        "16",
        "a.sql",
    ]


def test_squawk_argv_leaves_out_the_rules_the_engine_satisfies_unless_told_otherwise():
    group = {"in_transaction": True, "files": ["a.sql"]}
    assert lint.squawk_argv(group, "15")[1:3] == ["--exclude", "require-lock-timeout,require-statement-timeout"]
    assert lint.squawk_argv(group, "15", exclude=["ban-drop-table"])[1:3] == ["--exclude", "ban-drop-table"]


SQUAWK = Path(sys.executable).parent / "squawk"


@pytest.mark.skipif(not SQUAWK.exists(), reason="squawk-cli is installed with the project's requirements")
def test_the_real_squawk_fires_the_timeout_rules_only_when_they_are_not_left_out(tmp_path: Path):
    script = tmp_path / "V002__add_column.sql"
    script.write_text("ALTER TABLE t ADD COLUMN c bigint;\n")
    groups = lint.transaction_groups([(str(script), True)])

    def rules(exclude):
        return {f["rule"] for f in lint.squawk_findings(lint.run_squawk(groups, "15", str(SQUAWK), exclude))[0]}

    assert {"require-lock-timeout", "require-statement-timeout"} <= rules([])
    assert rules(lint.ENGINE_SATISFIED_RULES).isdisjoint({"require-lock-timeout", "require-statement-timeout"})
    _, problems = lint.squawk_findings(lint.run_squawk(groups, "15", str(SQUAWK), ["no-such-rule"]))
    assert problems and problems[0].startswith("squawk refused pg_migrate_squawk_exclude (")


def test_the_project_tool_lints_scripts_in_the_groups_the_role_uses(tmp_path):
    import squawk_changeset

    (tmp_path / "V001__a.sql").write_text("SELECT 1;\n")
    (tmp_path / "V001__a.verify.sql").write_text("SELECT 1;\n")
    (tmp_path / "U002__b.sql").write_text("\ufeff-- pg_migrate:no-transaction\r\nSELECT 2;\n")
    (tmp_path / "V1__not_a_name.sql.txt").write_text("SELECT 3;\n")
    scripts = squawk_changeset.lintable_scripts(tmp_path)
    assert [p.name for p in scripts] == ["U002__b.sql", "V001__a.sql"]  # verify scripts are read-only: not linted
    groups = lint.lint_groups([("U002__b.sql", False), ("V001__a.sql", True)], [], str(tmp_path))
    assert squawk_changeset.squawk_commands(scripts) == [lint.squawk_argv(g, "15") for g in groups]
    assert squawk_changeset.lintable_scripts(tmp_path / "absent") == []


def test_findings_lines_count_show_the_first_twenty_and_the_problems():
    many = [{"file": "/m/V%03d__a.sql" % n, "line": 0, "rule_name": "r", "message": "m"} for n in range(25)]
    lines = lint.findings_lines([{"rc": 1, "stdout": json.dumps(many)}, {"rc": 2, "stderr": "boom\nmore"}])
    assert lines[0] == "  squawk: 25 finding(s)"
    assert lines[1] == "    V000__a.sql:1 r: m" and len(lines) == 1 + 20 + 1 + 1
    assert lines[-2:] == [
        "    ... and 5 more",
        "  squawk: squawk could not run (boom); install it on the controller (pip install squawk-cli) or set "
        "pg_migrate_lint=false",
    ]
    assert lint.findings_lines([{"skipped": True}]) == []  # lint switched off: not a word
