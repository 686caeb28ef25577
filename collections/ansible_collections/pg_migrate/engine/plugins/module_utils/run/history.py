# pg_migrate: the history table, one row per applied, baselined or failed script. Every statement that reads
# or writes it is here: whether it exists, its DDL, reading it in order, a row per script, the checksum a
# repair records anew, the row a revert removes, and the failed attempt of a script whose session was lost.

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Migration, Repeatable, Script
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.connection import Session


def quote_ident(name: str) -> str:
    return '"%s"' % name


class History:
    """The history table SCHEMA.TABLE (plain lower-case identifiers, checked before the run) on SESSION."""

    def __init__(self, session: Session, schema: str = "public", table: str = "pg_migrate_history") -> None:
        self.session = session
        self.schema = schema
        self.table = table
        self.sql_name = "%s.%s" % (quote_ident(schema), quote_ident(table))
        self.name = "%s.%s" % (schema, table)

    def exists(self) -> bool:
        exists = self.session.value("SELECT to_regclass(%s) IS NOT NULL AS present", (self.sql_name,))
        self.session.commit()
        return bool(exists)

    def ddl(self) -> list[str]:
        """The statements that create the history table (in the current transaction; they do not commit).

        The schema is created only when it is absent: even with IF NOT EXISTS, CREATE SCHEMA needs CREATE on the
        database, which a login role with CREATE on the schema alone does not have."""
        present = self.session.value(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s) AS present", (self.schema,)
        )
        create_schema = [] if present else ["CREATE SCHEMA IF NOT EXISTS %s" % quote_ident(self.schema)]
        return [
            *create_schema,
            "CREATE TABLE IF NOT EXISTS %s ("
            " installed_rank bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " version text,"
            " description text NOT NULL,"
            " script text NOT NULL,"
            " checksum char(64) NOT NULL,"
            " kind text NOT NULL CHECK (kind IN ('migration', 'baseline', 'repeatable')),"
            " applied_by text NOT NULL DEFAULT current_user,"
            " applied_at timestamptz NOT NULL DEFAULT now(),"
            " execution_ms integer NOT NULL DEFAULT 0,"
            " success boolean NOT NULL,"
            " CHECK ((kind = 'repeatable') = (version IS NULL)))" % self.sql_name,
            # A version can be recorded as applied once: the last line of defence against a double apply.
            "CREATE UNIQUE INDEX IF NOT EXISTS %s ON %s (version) WHERE success AND kind <> 'repeatable'"
            % (quote_ident(self.table + "_applied_version_key"), self.sql_name),
            "COMMENT ON TABLE %s IS 'pg_migrate: one row per applied, baselined or failed script'" % self.sql_name,
        ]

    def create_uncommitted(self) -> None:
        """Create the table in the current transaction (a rehearsal rolls it back with everything else)."""
        for statement in self.ddl():
            self.session.rows(statement)

    def ensure(self) -> bool:
        """Create the history table when absent; whether it was created."""
        if self.exists():
            return False
        self.create_uncommitted()
        self.session.commit()
        return True

    def read(self) -> list[dict]:
        if not self.exists():
            return []
        history = self.session.rows(
            "SELECT installed_rank, version, description, script, checksum, kind, success, "
            "       applied_at::text AS applied_at, applied_by FROM %s ORDER BY installed_rank" % self.sql_name
        )
        self.session.commit()
        return history

    def record(self, kind: str, item: Migration | Repeatable, entry: Script, duration_ms: float, success: bool) -> None:
        """A history row for ENTRY (the script that ran) of ITEM (its migration or repeatable; a repeatable's row
        has no version)."""
        self.session.rows(
            "INSERT INTO %s (version, description, script, checksum, kind, execution_ms, success) "
            "VALUES (%%s, %%s, %%s, %%s, %%s, %%s, %%s)" % self.sql_name,
            (
                item.version if isinstance(item, Migration) else None,
                item.description,
                entry.script,
                entry.checksum,
                kind,
                int(duration_ms),
                success,
            ),
        )

    def record_failure_outside_transaction(self, kind: str, item: Migration | Repeatable, entry: Script) -> None:
        """The failed attempt of a marked script, committed at once: its committed statements stay."""
        self.session.set_autocommit(True)
        self.record(kind, item, entry, 0, False)
        self.session.set_autocommit(False)

    def repair_checksums(self, repairs: list[dict]) -> None:
        """Record each REPAIRS item's file_checksum as the checksum of its applied version, committed."""
        for item in repairs:
            self.session.rows(
                "UPDATE %s SET checksum = %%s WHERE version = %%s AND success AND kind <> 'repeatable'" % self.sql_name,
                (item["file_checksum"], item["version"]),
            )
        self.session.commit()

    def remove_migration(self, version: str) -> None:
        """VERSION's history row, removed together with its revert (in the current transaction)."""
        self.session.rows("DELETE FROM %s WHERE version = %%s AND kind = 'migration'" % self.sql_name, (version,))

    def record_lost_attempt(
        self, kind: str, item: Migration | Repeatable, entry: Script, invalid_before: list[str]
    ) -> list[str]:
        """On a new session: record the failed attempt of a marked script; the INVALID indexes it left."""
        if not self.session.replace_lost():
            return []
        self.session.set_autocommit(True)
        left = [name for name in self.session.invalid_indexes() if name not in invalid_before]
        self.record(kind, item, entry, 0, False)
        self.session.set_autocommit(False)
        return left
