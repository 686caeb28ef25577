"""The collection's code stays in pieces a reader takes in at once: no function of plugins/ is over
60 lines, no Python file there over 400. A failure names every offender with its size."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.unit.plugins import PLUGINS

MAX_FUNCTION_LINES = 60
MAX_FILE_LINES = 400


def function_lengths(path: Path) -> list[tuple[str, int, int]]:
    """(qualified name, first line, lines) of every function and method in the file at PATH, nested ones too; a
    function's lines run from its `def` (or first decorator) to its last line."""
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([child.lineno] + [decorator.lineno for decorator in child.decorator_list])
                found.append((prefix + child.name, first, child.end_lineno - first + 1))
                visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text(encoding="utf-8")), "")
    return found


def python_files() -> list[Path]:
    return sorted(PLUGINS.rglob("*.py"))


def test_no_function_of_the_collection_is_over_60_lines():
    offenders = [
        "%s:%d %s: %d lines" % (path.relative_to(PLUGINS), line, name, length)
        for path in python_files()
        for name, line, length in function_lengths(path)
        if length > MAX_FUNCTION_LINES
    ]
    assert offenders == [], "functions over %d lines:\n%s" % (MAX_FUNCTION_LINES, "\n".join(offenders))


def test_no_file_of_the_collection_is_over_400_lines():
    offenders = [
        "%s: %d lines" % (path.relative_to(PLUGINS), length)
        for path in python_files()
        if (length := len(path.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    ]
    assert offenders == [], "files over %d lines:\n%s" % (MAX_FILE_LINES, "\n".join(offenders))


def test_the_measure_counts_methods_nested_functions_and_decorators(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import functools\n"
        "class A:\n"
        "    @functools.cache\n"
        "    def method(self):\n"
        "        def inner():\n"
        "            return 1\n"
        "        return inner()\n"
        "async def coroutine():\n"
        "    pass\n"
    )
    assert function_lengths(sample) == [("A.method", 3, 5), ("A.method.inner", 5, 2), ("coroutine", 8, 2)]
