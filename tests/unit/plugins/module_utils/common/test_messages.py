"""The engine's messages hold for any project that installs the collection: none sends the operator to this
repository's playbooks (playbooks/status.yml, migrate.yml, ...), which another project does not have. They name
the role's action instead (pg_migrate_action=status)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import (
    EXCERPT_CHARS,
    describe_db_error,
    excerpt,
    unexpected_failure_message,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import clip, joined, line_of, one_line
from tests.unit.plugins import PLUGINS

# This repository's playbooks, by path or by name (fleet.yml is also the suffix of a fleet inventory file).
PROJECT_PLAYBOOK = re.compile(r"playbooks/|\b(?:migrate|status|rollback|verify|seed|backfill|fleet-status)\.yml\b")
# Module documentation (ansible-doc) describes; it is not a message an operator gets from a run.
DOC_NAMES = {"DOCUMENTATION", "EXAMPLES", "RETURN"}


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of the docstring nodes of the module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _documentation(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) in DOC_NAMES for t in node.targets):
            found.update(id(child) for child in ast.walk(node.value))
    return found


def message_texts(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string in the Python file at PATH that is not a docstring or module documentation."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree) | _documentation(tree)
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    )


def test_no_message_of_the_engine_names_this_repositorys_playbooks():
    offenders = [
        "%s:%d: %r" % (path.relative_to(PLUGINS), line, text)
        for path in sorted(PLUGINS.rglob("*.py"))
        for line, text in message_texts(path)
        if PROJECT_PLAYBOOK.search(text)
    ]
    assert offenders == [], "\n".join(offenders)


def test_the_scan_sees_messages_and_skips_documentation(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Run playbooks/status.yml (a docstring)."""\n'
        'DOCUMENTATION = "see playbooks/fleet.yml"\n'
        "def f():\n"
        '    """Docstring: status.yml."""\n'
        '    return "run playbooks/status.yml " "to see where it stands"\n'
        'MESSAGE = "then run migrate.yml"\n'
    )
    found = [text for _line, text in message_texts(sample) if PROJECT_PLAYBOOK.search(text)]
    assert found == ["run playbooks/status.yml to see where it stands", "then run migrate.yml"]


# --- common/messages.py: the one way a text is folded into a message ------------------------------------------


def test_one_line_folds_every_run_of_white_space():
    assert one_line("relation x\n  does not exist\t ") == "relation x does not exist"
    assert one_line(ValueError("a\nb")) == "a b"
    assert one_line("") == ""


def test_one_line_cuts_after_folding():
    assert one_line("a  b  c", 3) == "a b"
    assert one_line("abcdef", 5, "...") == "ab..."
    assert one_line("abcde", 5, "...") == "abcde"


def test_clip_keeps_a_short_text_and_ends_a_cut_one_with_the_ellipsis():
    assert clip("x" * 100, 100) == "x" * 100
    assert clip("x" * 101, 100) == "x" * 100
    assert clip("a\nb", 10) == "a\nb"  # cut only, not folded
    assert clip("abcdefgh", 6, "...") == "abc..."
    assert clip("abc", None) == "abc"


def test_line_of_takes_a_line_of_the_stripped_text():
    output = "\nTraceback (most recent call last):\n  File x\nModuleNotFoundError: psycopg\n\n"
    assert line_of(output) == "Traceback (most recent call last):"
    assert line_of(output, -1) == "ModuleNotFoundError: psycopg"
    assert line_of("  \n", -1, "no output") == "no output"
    assert line_of(None, 0, "rc 2") == "rc 2"


def test_joined_puts_each_part_on_one_line():
    assert joined(["a\n b", "c"]) == "a b; c"
    assert joined(["x", "y"], " | ") == "x | y"
    assert joined([]) == ""


def test_the_engine_messages_fold_with_the_helper():
    """The server's error, a statement's excerpt and a broken run's reason are folded as before the helper."""
    assert excerpt("\n-- why\nSELECT   1;\nSELECT 2;") == "SELECT   1;"
    long = "UPDATE t SET " + "x" * 200
    assert excerpt(long) == long[:157] + "..." and len(excerpt(long)) == EXCERPT_CHARS
    assert describe_db_error(RuntimeError("first\nLINE 1: select")) == "first"
    assert "broke off: RuntimeError: a b. " in unexpected_failure_message("verify", "db", RuntimeError(" a\n b "))


def test_fold_keeps_a_short_list_whole_and_a_long_one_to_its_ends():
    from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import (
        fold,
        problem_list,
        some_words,
    )

    more = lambda n: f"+{n}"  # noqa: E731
    assert fold(list("abcd"), 2, 1, more) == list("abcd")  # one left out would say no more than the item
    assert fold(list("abcdefg"), 2, 1, more) == ["a", "b", "+4", "g"]
    assert (
        some_words(["%03d" % n for n in range(1, 171)]) == "001 002 003 004 005 006 007 008 ... (159 more) 168 169 170"
    )
    listed = problem_list(["p%d" % n for n in range(20)], "see the report", shown=2)
    assert listed == "  - p0\n  - p1\n  - ... and 18 more: see the report"
