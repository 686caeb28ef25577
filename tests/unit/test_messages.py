"""The engine's messages hold for any project that installs the collection: none sends the operator to this
repository's playbooks (playbooks/status.yml, migrate.yml, ...), which another project does not have. They name
the role's action instead (pg_migrate_action=status)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

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
