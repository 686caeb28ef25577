# pg_migrate: which existing tables a script's statements lock, and in which mode, read with PostgreSQL's own
# parser (pglast) on the controller. The run looks at pg_locks for sessions holding or awaiting a conflicting
# lock on exactly these before each statement (run/table_locks.py), instead of queueing behind them.
#
# Only the statements that lock a table the application uses are listed, in the mode PostgreSQL's
# documentation gives (explicit-locking.html): DDL on a table, a plain CREATE INDEX, triggers, policies,
# rules, TRUNCATE, LOCK, CLUSTER, and the referenced table of a new foreign key. DML takes ROW EXCLUSIVE,
# which conflicts with none of the application's own writes, and is left out.

from __future__ import annotations

try:
    import pglast
    from pglast import ast as pg_ast
    from pglast.enums import AlterTableType, ConstrType, ObjectType
except ImportError:  # discovery reports it (sql_analysis.PGLAST_MISSING)
    pglast = None

ACCESS_EXCLUSIVE = "AccessExclusiveLock"
EXCLUSIVE = "ExclusiveLock"
SHARE_ROW_EXCLUSIVE = "ShareRowExclusiveLock"
SHARE = "ShareLock"
SHARE_UPDATE_EXCLUSIVE = "ShareUpdateExclusiveLock"
ROW_EXCLUSIVE = "RowExclusiveLock"
ROW_SHARE = "RowShareLock"
ACCESS_SHARE = "AccessShareLock"
# pg_locks' names in LOCK TABLE's numbering (lockdefs.h: 1 AccessShareLock ... 8 AccessExclusiveLock).
MODES = (
    ACCESS_SHARE,
    ROW_SHARE,
    ROW_EXCLUSIVE,
    SHARE_UPDATE_EXCLUSIVE,
    SHARE,
    SHARE_ROW_EXCLUSIVE,
    EXCLUSIVE,
    ACCESS_EXCLUSIVE,
)


def quoted(schema: str | None, name: str) -> str:
    """A relation's name as to_regclass() takes it back exactly (the parser already folded the case)."""
    parts = [schema, name] if schema else [name]
    return ".".join('"%s"' % part.replace('"', '""') for part in parts)


def range_name(relation) -> str:
    return quoted(relation.schemaname, relation.relname)


def foreign_key_tables(constraints) -> list[str]:
    """The referenced tables of the FOREIGN KEY constraints among CONSTRAINTS (SHARE ROW EXCLUSIVE on each)."""
    return [
        range_name(constraint.pktable)
        for constraint in constraints or ()
        if isinstance(constraint, pg_ast.Constraint) and constraint.contype == ConstrType.CONSTR_FOREIGN
    ]


# ALTER TABLE subcommands that take less than ACCESS EXCLUSIVE (the rest take it).
_WEAKER_SUBCOMMANDS = {
    "AT_ValidateConstraint": SHARE_UPDATE_EXCLUSIVE,
    "AT_SetStatistics": SHARE_UPDATE_EXCLUSIVE,
    "AT_ClusterOn": SHARE_UPDATE_EXCLUSIVE,
    "AT_DropCluster": SHARE_UPDATE_EXCLUSIVE,
    "AT_EnableTrig": SHARE_ROW_EXCLUSIVE,
    "AT_DisableTrig": SHARE_ROW_EXCLUSIVE,
    "AT_EnableTrigAll": SHARE_ROW_EXCLUSIVE,
    "AT_DisableTrigAll": SHARE_ROW_EXCLUSIVE,
    "AT_EnableTrigUser": SHARE_ROW_EXCLUSIVE,
    "AT_DisableTrigUser": SHARE_ROW_EXCLUSIVE,
}


def strongest(modes: list[str]) -> str:
    return max(modes, key=MODES.index)


def alter_table_locks(stmt) -> list[tuple[str, str]]:
    """ALTER TABLE: the table in its subcommands' strongest mode; a new foreign key's referenced table too."""
    if stmt.objtype != ObjectType.OBJECT_TABLE:
        return []  # ALTER INDEX, VIEW, SEQUENCE ...: not a table the application writes
    modes, referenced = [], []
    for command in stmt.cmds or ():
        kind = AlterTableType(command.subtype).name
        definition = getattr(command, "def_", None)
        if kind == "AT_AddConstraint" and foreign_key_tables([definition]):
            modes.append(SHARE_ROW_EXCLUSIVE)
            referenced.extend(foreign_key_tables([definition]))
        else:
            modes.append(_WEAKER_SUBCOMMANDS.get(kind, ACCESS_EXCLUSIVE))
    if not modes:
        return []
    return [(range_name(stmt.relation), strongest(modes))] + [(table, SHARE_ROW_EXCLUSIVE) for table in referenced]


def create_table_locks(stmt) -> list[tuple[str, str]]:
    """CREATE TABLE locks nothing existing, except the tables its foreign keys reference."""
    constraints = []
    for element in stmt.tableElts or ():
        if isinstance(element, pg_ast.ColumnDef):
            constraints.extend(element.constraints or ())
        else:
            constraints.append(element)
    return [(table, SHARE_ROW_EXCLUSIVE) for table in foreign_key_tables(constraints)]


def drop_locks(stmt) -> list[tuple[str, str]]:
    """DROP TABLE (ACCESS EXCLUSIVE); DROP INDEX without CONCURRENTLY locks its table that way too (the run
    finds the table of an index name)."""
    if stmt.removeType not in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_INDEX) or stmt.concurrent:
        return []
    found = []
    for names in stmt.objects or ():
        parts = [name.sval for name in names]
        found.append((quoted(parts[-2] if len(parts) > 1 else None, parts[-1]), ACCESS_EXCLUSIVE))
    return found


def statement_locks(stmt) -> list[tuple[str, str]]:
    """(relation, mode) of each existing table STMT (a pglast statement node) locks against the application."""
    if isinstance(stmt, pg_ast.AlterTableStmt):
        return alter_table_locks(stmt)
    if isinstance(stmt, pg_ast.CreateStmt):
        return create_table_locks(stmt)
    if isinstance(stmt, pg_ast.IndexStmt):
        return [(range_name(stmt.relation), SHARE_UPDATE_EXCLUSIVE if stmt.concurrent else SHARE)]
    if isinstance(stmt, pg_ast.DropStmt):
        return drop_locks(stmt)
    if isinstance(stmt, pg_ast.RenameStmt):
        relation_kinds = (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_COLUMN, ObjectType.OBJECT_TABCONSTRAINT)
        if stmt.relation is not None and stmt.renameType in relation_kinds:
            return [(range_name(stmt.relation), ACCESS_EXCLUSIVE)]
        return []
    if isinstance(stmt, (pg_ast.TruncateStmt, pg_ast.LockStmt)):
        mode = MODES[stmt.mode - 1] if isinstance(stmt, pg_ast.LockStmt) else ACCESS_EXCLUSIVE
        return [(range_name(relation), mode) for relation in stmt.relations or ()]
    if isinstance(stmt, pg_ast.CreateTrigStmt):
        return [(range_name(stmt.relation), SHARE_ROW_EXCLUSIVE)]
    if isinstance(stmt, (pg_ast.CreatePolicyStmt, pg_ast.AlterPolicyStmt)):
        return [(range_name(stmt.table), ACCESS_EXCLUSIVE)]
    if isinstance(stmt, (pg_ast.RuleStmt, pg_ast.ClusterStmt)) and stmt.relation is not None:
        return [(range_name(stmt.relation), ACCESS_EXCLUSIVE)]
    return []


def script_locks(text: str) -> tuple[tuple[int, str, str], ...]:
    """(statement number from 1, relation, mode) for every table lock of the script TEXT, in order; () when
    the text does not parse (discovery reports that) or pglast is missing."""
    if pglast is None:
        return ()
    try:
        statements = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return ()
    return tuple(
        (number, relation, mode)
        for number, raw in enumerate(statements, start=1)
        for relation, mode in statement_locks(raw.stmt)
    )
