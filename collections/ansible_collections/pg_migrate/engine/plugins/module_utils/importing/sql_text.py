# pg_migrate: the SQL edits every importer shares, made with PostgreSQL's own parser (pglast) as the engine's
# discovery reads the result: find the statements of a script, drop some of them (a wrapping BEGIN/COMMIT, a
# tool's bookkeeping), and tell which statements cannot run inside a transaction.

from __future__ import annotations

import re
from collections.abc import Callable

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.sql_analysis import (
    NO_TRANSACTION_MARKER,
    statements_outside_transaction,
)

try:
    import pglast
    from pglast import ast as pg_ast
except ImportError:  # discovery reports it with the fix (sql_analysis.PGLAST_MISSING)
    pglast = None
    pg_ast = None

_BEGIN = {"TRANS_STMT_BEGIN", "TRANS_STMT_START"}
_COMMIT = {"TRANS_STMT_COMMIT"}


def statements(text: str) -> list[tuple[object, int, int]]:
    """(statement node, start, end) of each statement of TEXT; raises pglast's ParseError when it does not parse."""
    nodes = [raw.stmt for raw in pglast.parse_sql(text)]
    spans = [(piece.start, piece.stop) for piece in pglast.split(text, with_parser=True, only_slices=True)]
    return [(node, start, end) for node, (start, end) in zip(nodes, spans, strict=True)]


def parse_problem(source: str, text: str) -> str | None:
    """Why TEXT (from SOURCE) cannot be read as PostgreSQL's SQL; None when it parses."""
    try:
        pglast.parse_sql(text)
    except pglast.parser.ParseError as exc:
        return "%s: SQL does not parse (%s): fix it in the source, then import again" % (source, exc.args[0])
    return None


def _remove(text: str, spans: list[tuple[int, int]]) -> str:
    """TEXT without the statements at SPANS, each with its `;` and, when nothing else is on them, its lines."""
    for start, end in sorted(spans, reverse=True):
        tail = re.compile(r"[ \t]*;?[ \t]*(\r?\n)?").match(text, end)
        end = tail.end()
        line_start = text.rfind("\n", 0, start) + 1
        if not text[line_start:start].strip():
            start = line_start
        text = text[:start] + text[end:]
    return text


def drop_statements(text: str, unwanted: Callable[[object], bool]) -> tuple[str, int]:
    """TEXT without the statements for which UNWANTED(node) is true, and how many went."""
    spans = [(start, end) for node, start, end in statements(text) if unwanted(node)]
    return (_remove(text, spans) if spans else text), len(spans)


def _transaction_kind(node: object) -> str | None:
    if isinstance(node, pg_ast.TransactionStmt):
        return node.kind.name
    return None


def strip_wrapping_transaction(text: str) -> tuple[str, bool]:
    """TEXT without a BEGIN (or START TRANSACTION) as its first statement and COMMIT as its last: the engine
    runs each script in its own transaction. Anything else stays, for discovery to judge."""
    found = statements(text)
    if len(found) < 2 or _transaction_kind(found[0][0]) not in _BEGIN or _transaction_kind(found[-1][0]) not in _COMMIT:
        return text, False
    return _remove(text, [found[0][1:], found[-1][1:]]), True


def is_transaction_control(node: object) -> bool:
    return _transaction_kind(node) in _BEGIN | _COMMIT


def needs_outside_transaction(text: str) -> list[str]:
    """The kinds of TEXT's statements that cannot run inside a transaction block (CREATE INDEX CONCURRENTLY, ...),
    as the engine's discovery judges them."""
    return statements_outside_transaction(text)


def adds_enum_values(text: str) -> bool:
    """Whether TEXT adds a value to an enum type (ALTER TYPE ... ADD VALUE), which PostgreSQL before 12 refuses
    inside a transaction block."""
    return any(
        isinstance(node, pg_ast.AlterEnumStmt) and node.newVal is not None and node.oldVal is None
        for node, _start, _end in statements(text)
    )


def is_comment_only(text: str) -> bool:
    """Whether TEXT holds no statement at all (blank, or comments only: diesel's generated down.sql)."""
    try:
        return not pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return False


def with_marker(text: str) -> str:
    """TEXT with the no-transaction marker as its first line (once)."""
    if text.split("\n", 1)[0].rstrip() == NO_TRANSACTION_MARKER:
        return text
    return "%s\n%s" % (NO_TRANSACTION_MARKER, text)


def tidy(text: str) -> str:
    """TEXT without leading blank lines and with exactly one newline at its end."""
    return text.lstrip("\r\n").rstrip() + "\n"
