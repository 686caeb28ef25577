# pg_migrate: golang-migrate's migrations as the engine's files.
#
# golang-migrate: {version}_{title}.up.sql and {version}_{title}.down.sql. Its postgres driver sends a file as one
# multi-statement Exec, with no marker of its own; teams often wrap a file in BEGIN; ... COMMIT; themselves,
# which the engine refuses (it runs each script in its own transaction), so that wrapping goes.

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.model import (
    Conversion,
    SourceFiles,
    SourceScript,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.names import golang_migrate_name
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.sources import (
    convert_files,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.sql_text import (
    adds_enum_values,
    strip_wrapping_transaction,
)

EXPECTED = "{version}_{title}.up.sql or .down.sql"
STRIPPED = "stripped the wrapping BEGIN/COMMIT (the engine runs each script in its own transaction)"
ENUM_VALUE = "ALTER TYPE ... ADD VALUE, which PostgreSQL before 12 refuses inside a transaction"


def script_of(path: str, text: str) -> SourceScript:
    """One up or down file as the engine's script: without a wrapping BEGIN/COMMIT, outside a transaction when
    it adds an enum value."""
    text, stripped = strip_wrapping_transaction(text)
    no_transaction = ENUM_VALUE if adds_enum_values(text) else None
    return SourceScript(text, path, no_transaction, (STRIPPED,) if stripped else ())


def convert(files: SourceFiles) -> Conversion:
    return convert_files(files, golang_migrate_name, "golang-migrate", EXPECTED, script_of)
