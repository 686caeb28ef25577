# pg_migrate: Entity Framework Core's per-migration SQL scripts as the engine's files.
#
# One script per migration, as `dotnet ef migrations script <From> <To>` writes it: <MigrationId>.sql and
# optionally <MigrationId>.down.sql. EF keeps its own books in them - the "__EFMigrationsHistory" table, a
# transaction around the migration, the row it inserts or deletes - which the engine does itself, so they go.
# Idempotent scripts (--idempotent: each migration inside DO $EF$ ... IF NOT EXISTS) cannot be taken apart.

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.model import (
    Conversion,
    SourceFiles,
    SourceScript,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.names import efcore_name
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.sources import (
    add_migrations,
    not_a_migration,
    read_sql,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.sql_text import (
    drop_statements,
    is_transaction_control,
    pg_ast,
)

EXPECTED = "<14-digit timestamp>_<Name>.sql or <MigrationId>.down.sql"
HISTORY_TABLE = "__EFMigrationsHistory"
IDEMPOTENT = (
    "%s: an idempotent EF Core script (DO $EF$ ... IF NOT EXISTS on __EFMigrationsHistory), which cannot be taken "
    "apart: generate one plain script per migration instead - dotnet ef migrations script <Previous> <MigrationId> "
    "-o <MigrationId>.sql (without --idempotent) - then import again"
)
STRIPPED = "stripped EF Core's bookkeeping (__EFMigrationsHistory, its transaction)"


def _on_history(relation) -> bool:
    return relation is not None and relation.relname == HISTORY_TABLE


def is_bookkeeping(node) -> bool:
    """Whether the statement NODE is EF's own: its history table, a row of it, or the transaction around them."""
    if is_transaction_control(node):
        return True
    if isinstance(node, pg_ast.CreateStmt | pg_ast.InsertStmt | pg_ast.DeleteStmt):
        return _on_history(node.relation)
    return False


def script_of(path: str, text: str) -> SourceScript:
    text, dropped = drop_statements(text, is_bookkeeping)
    return SourceScript(text, path, None, (STRIPPED,) if dropped else ())


def convert(files: SourceFiles) -> Conversion:
    conversion = Conversion()
    deploys, reverts = [], []
    for path in sorted(files):
        name = efcore_name(path) if "/" not in path else None
        if name is None:
            conversion.not_carried.append(not_a_migration(path, "EF Core", EXPECTED))
            continue
        if "$EF$" in (files[path] or "") and HISTORY_TABLE in (files[path] or ""):
            conversion.problems.append(IDEMPOTENT % path)
            continue
        text = read_sql(files, path, conversion)
        if text is not None:
            (deploys if name.role == "deploy" else reverts).append((name, script_of(path, text)))
    add_migrations(conversion, deploys, reverts)
    return conversion
