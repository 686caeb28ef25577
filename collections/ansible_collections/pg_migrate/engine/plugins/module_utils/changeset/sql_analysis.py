# pg_migrate: what a script's SQL may do, read with PostgreSQL's own parser (pglast).
#
# The transaction rule lives here, once: a script runs in one transaction with its history row unless
# its first line is the no-transaction marker; transaction control is never allowed, and a statement
# PostgreSQL refuses inside a transaction block needs the marker. The controller checks it before any
# connection (pg_migrate_changeset); tools/ lint and apply scripts by the same marker.

from __future__ import annotations

from pathlib import Path

try:
    import pglast
    from pglast import ast as pg_ast
except ImportError:  # the changeset action reports it with the fix; the marker rule needs no parser
    pglast = None
    pg_ast = None

NO_TRANSACTION_MARKER = "-- pg_migrate:no-transaction"
PGLAST_MISSING = (
    "pg_migrate needs the Python package pglast on the controller to parse migrations: "
    "pip install pglast (it is in this project's requirements.txt)"
)

_TRANSACTION_CONTROL = {
    "TRANS_STMT_BEGIN",
    "TRANS_STMT_START",
    "TRANS_STMT_COMMIT",
    "TRANS_STMT_ROLLBACK",
    "TRANS_STMT_PREPARE",
    "TRANS_STMT_COMMIT_PREPARED",
    "TRANS_STMT_ROLLBACK_PREPARED",
}


def is_transactional(text: str) -> bool:
    """Whether the script TEXT runs in a transaction: unless its first line is exactly the marker."""
    return text.split("\n", 1)[0].rstrip("\r\n\t ") != NO_TRANSACTION_MARKER


def script_is_transactional(path: str | Path) -> bool:
    """is_transactional for the script file at PATH (UTF-8, one leading byte-order mark ignored)."""
    return is_transactional(Path(path).read_text(encoding="utf-8-sig"))


def line_of(text: str, offset: int) -> int:
    """The line number (from 1) of the character at OFFSET."""
    return text.count("\n", 0, offset) + 1


def holds_sql(text: str) -> bool:
    """Whether TEXT holds a statement: False when it is empty, blank or comments only. A text that does not
    parse holds one (analyse_sql then says what is wrong with it)."""
    if not text.strip():
        return False
    if pglast is None:
        return True
    try:
        return bool(pglast.parse_sql(text))
    except pglast.parser.ParseError:
        return True


def _needs_no_transaction(stmt) -> str | None:
    """The statement kind when it cannot run inside a transaction block, else None."""
    if isinstance(stmt, pg_ast.IndexStmt) and stmt.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if isinstance(stmt, pg_ast.DropStmt) and stmt.concurrent:
        return "DROP INDEX CONCURRENTLY"
    if isinstance(stmt, pg_ast.ReindexStmt) and any(
        getattr(param, "defname", None) == "concurrently" for param in (stmt.params or ())
    ):
        return "REINDEX CONCURRENTLY"
    if isinstance(stmt, pg_ast.VacuumStmt) and stmt.is_vacuumcmd:
        return "VACUUM"
    for node, label in (
        (pg_ast.CreatedbStmt, "CREATE DATABASE"),
        (pg_ast.DropdbStmt, "DROP DATABASE"),
        (pg_ast.AlterSystemStmt, "ALTER SYSTEM"),
        (pg_ast.CreateTableSpaceStmt, "CREATE TABLESPACE"),
        (pg_ast.DropTableSpaceStmt, "DROP TABLESPACE"),
    ):
        if isinstance(stmt, node):
            return label
    return None


def statements_outside_transaction(text: str) -> list[str]:
    """The kinds of the statements of TEXT that cannot run inside a transaction block, in order (the importers
    add the marker for them); TEXT must parse."""
    return [kind for raw in pglast.parse_sql(text) if (kind := _needs_no_transaction(raw.stmt))]


def analyse_sql(name: str, text: str, transactional: bool) -> tuple[list[list[int]], list[str]]:
    """Statement boundaries [start, end, line] (character offsets) and the problems of one script."""
    problems = []
    try:
        raw_statements = pglast.parse_sql(text)
    except pglast.parser.ParseError as exc:
        message, location = (*exc.args, None)[:2]
        where = " (line %d)" % line_of(text, location) if isinstance(location, int) else ""
        return [], ["%s: SQL does not parse%s: %s" % (name, where, message)]
    if not raw_statements:
        return [], ["%s: holds no SQL statement (only comments or blank): remove it or add the SQL" % name]

    spans = [
        [piece.start, piece.stop, line_of(text, piece.start)]
        for piece in pglast.split(text, with_parser=True, only_slices=True)
    ]
    for raw, (start, _end, line) in zip(raw_statements, spans, strict=True):
        stmt = raw.stmt
        if isinstance(stmt, pg_ast.TransactionStmt) and stmt.kind.name in _TRANSACTION_CONTROL:
            problems.append(
                "%s line %d: transaction control (%s) is not allowed: pg_migrate runs each migration in its own "
                "transaction (or none, with `%s` as the first line)"
                % (name, line, text[start : start + 20].split()[0].rstrip(";").upper(), NO_TRANSACTION_MARKER)
            )
        needs = _needs_no_transaction(stmt)
        if needs and transactional:
            problems.append(
                "%s line %d: %s cannot run inside a transaction: put `%s` on the first line of the file "
                "(and make the script safe to re-run)" % (name, line, needs, NO_TRANSACTION_MARKER)
            )
    for number, line_text in enumerate(text.split("\n")[1:], start=2):
        if line_text.strip() == NO_TRANSACTION_MARKER:
            problems.append("%s line %d: `%s` only counts on the first line" % (name, number, NO_TRANSACTION_MARKER))
    return spans, problems
