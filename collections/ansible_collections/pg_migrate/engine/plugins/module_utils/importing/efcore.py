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
    convert_files,
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


def idempotent(path: str, text: str | None) -> str | None:
    """The refusal of an idempotent script (--idempotent: each migration inside DO $EF$ ... IF NOT EXISTS)."""
    return IDEMPOTENT % path if "$EF$" in (text or "") and HISTORY_TABLE in (text or "") else None


def convert(files: SourceFiles) -> Conversion:
    return convert_files(files, efcore_name, "EF Core", EXPECTED, script_of, idempotent)
