# pg_migrate: read another tool's history table for an adoption (pg_migrate_adopt), the one statement per tool
# that gets the columns plan/adoption.py reads. Read only: the other tool's table is never changed, so the
# team can still go back to that tool.

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.adoption import (
    DEFAULT_TABLES,
    READERS,
    ForeignHistory,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.connection import Session

# The columns each reader needs, in the order that matters to it (%s: the table, as PostgreSQL quotes it).
QUERIES = {
    "golang-migrate": "SELECT version, dirty FROM %s",
    "dbmate": "SELECT version FROM %s",
    "goose": "SELECT id, version_id, is_applied FROM %s ORDER BY id",
    "flyway": "SELECT installed_rank, version, type, script, success FROM %s ORDER BY installed_rank",
    "diesel": "SELECT version FROM %s",
    "efcore": 'SELECT "MigrationId" FROM %s',
}


def _missing(tool: str, table: str, database: str) -> str:
    return (
        "pg_migrate_adopt=%s: there is no table %s in %s, where %s keeps its history. Name the table with "
        "pg_migrate_adopt_table (schema-qualified, e.g. myschema.%s), or unset pg_migrate_adopt if %s did not "
        "migrate this database" % (tool, table, database, tool, DEFAULT_TABLES[tool].strip('"'), tool)
    )


def read_foreign_history(session: Session, tool: str, table: str | None, database: str) -> ForeignHistory:
    """TOOL's history in TABLE (None: the tool's own name), read in one transaction and committed; a table
    that is absent or unreadable comes back as a ForeignHistory whose problems say so."""
    name = table or DEFAULT_TABLES[tool]
    try:
        # to_regclass never raises for an absent table, and its text is the name as PostgreSQL quotes it: safe
        # to put into the statement.
        found = session.value("SELECT to_regclass(%s)::text AS found", (name,))
        if found is None:
            session.rollback()
            return ForeignHistory(tool, name, problems=(_missing(tool, name, database),))
        rows = session.rows(QUERIES[tool] % found)
        session.commit()
    except Exception as exc:
        session.rollback()
        if session.session_lost():
            raise
        problem = "pg_migrate_adopt=%s: cannot read %s as %s's history: %s" % (tool, name, tool, str(exc).strip())
        return ForeignHistory(tool, name, problems=(problem,))
    return READERS[tool](rows, name)
