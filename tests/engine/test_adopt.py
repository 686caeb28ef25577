"""pg_migrate_adopt against a real database: the first migrations of a change set applied with psql, and the
other tool's history table created and filled exactly as that tool does; the adoption records them as a
baseline and runs only the rest, or refuses before any change."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.report.summary_lines import summary
from ansible_collections.pg_migrate.engine.plugins.module_utils.run import apply
from tests.engine.conftest import history, run, write_changeset
from tests.pgdb import Database

# Each migration fails when it runs a second time (CREATE TABLE), and ledger's row would double.
SCRIPTS = (
    ("accounts", "CREATE TABLE accounts (id bigint PRIMARY KEY);\n"),
    ("ledger", "CREATE TABLE ledger (id bigint);\nINSERT INTO ledger VALUES (1);\n"),
    ("audit", "CREATE TABLE audit (id bigint);\nINSERT INTO audit VALUES (1);\n"),
)
STAMPS = ("20240101120000", "20240102093000", "20240103150000")


@dataclass(frozen=True)
class Tool:
    """A tool's history table as the tool creates it, its file versions, and the rows it writes for them."""

    name: str
    versions: tuple[str, ...]
    ddl: str
    table: str

    def rows(self, applied: list[str]) -> list[str]:
        """The INSERTs the tool makes once it has applied APPLIED (its versions as it records them)."""
        return ROWS[self.name](self, applied)


TOOLS = {
    "golang-migrate": Tool(
        "golang-migrate",
        ("000001", "000002", "000003"),
        'CREATE TABLE IF NOT EXISTS "schema_migrations" (version bigint not null primary key, dirty boolean not null)',
        "schema_migrations",
    ),
    "dbmate": Tool(
        "dbmate",
        STAMPS,
        'create table if not exists "schema_migrations" (version varchar(128) primary key)',
        "schema_migrations",
    ),
    "goose": Tool(
        "goose",
        ("00001", "00002", "00003"),
        "CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, is_applied boolean NOT NULL, "
        "tstamp timestamp NULL default now(), PRIMARY KEY(id))",
        "goose_db_version",
    ),
    "flyway": Tool(
        "flyway",
        ("1", "1.1", "2"),
        'CREATE TABLE "public"."flyway_schema_history" ("installed_rank" INT NOT NULL, "version" VARCHAR(50), '
        '"description" VARCHAR(200) NOT NULL, "type" VARCHAR(20) NOT NULL, "script" VARCHAR(1000) NOT NULL, '
        '"checksum" INTEGER, "installed_by" VARCHAR(100) NOT NULL, "installed_on" TIMESTAMP NOT NULL DEFAULT now(), '
        '"execution_time" INTEGER NOT NULL, "success" BOOLEAN NOT NULL); '
        'ALTER TABLE "public"."flyway_schema_history" ADD CONSTRAINT "flyway_schema_history_pk" '
        'PRIMARY KEY ("installed_rank"); '
        'CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success")',
        "flyway_schema_history",
    ),
    "diesel": Tool(
        "diesel",
        STAMPS,
        "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, "
        "run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        "__diesel_schema_migrations",
    ),
    "efcore": Tool(
        "efcore",
        STAMPS,
        'CREATE TABLE IF NOT EXISTS "__EFMigrationsHistory" ("MigrationId" character varying(150) NOT NULL, '
        '"ProductVersion" character varying(32) NOT NULL, CONSTRAINT "PK___EFMigrationsHistory" PRIMARY KEY '
        '("MigrationId"))',
        '"__EFMigrationsHistory"',
    ),
}


def _flyway_rows(tool: Tool, applied: list[str]) -> list[str]:
    return [
        "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, "
        "installed_by, execution_time, success) VALUES (%d, '%s', 'step', 'SQL', 'V%s__step.sql', 12345, 'app', 7, "
        "true)" % (rank, version, version)
        for rank, version in enumerate(applied, start=1)
    ]


ROWS = {
    "golang-migrate": lambda tool, applied: (
        ["INSERT INTO schema_migrations (version, dirty) VALUES (%d, false)" % int(applied[-1])] if applied else []
    ),
    "dbmate": lambda tool, applied: ["INSERT INTO schema_migrations (version) VALUES ('%s')" % v for v in applied],
    "goose": lambda tool, applied: [
        "INSERT INTO goose_db_version (version_id, is_applied) VALUES (%d, true)" % int(v) for v in ["0", *applied]
    ],
    "flyway": _flyway_rows,
    "diesel": lambda tool, applied: [
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('%s')" % v for v in applied
    ],
    "efcore": lambda tool, applied: [
        "INSERT INTO \"__EFMigrationsHistory\" VALUES ('%s_Step', '8.0.4')" % v for v in applied
    ],
}


def migrated_by(db: Database, tmp_path: Path, tool: Tool, applied: int, recorded: list[str] | None = None) -> dict:
    """The change set of TOOL's versions (in tmp_path), its first APPLIED migrations run with psql, and the tool's
    history table recording RECORDED (default: those versions): the change set."""
    names = ["V%s__%s.sql" % (version, slug) for version, (slug, _sql) in zip(tool.versions, SCRIPTS, strict=True)]
    changeset = write_changeset(tmp_path, {name: sql for name, (_slug, sql) in zip(names, SCRIPTS, strict=True)})
    for name in names[:applied]:
        db.psql(tmp_path / "migrations" / name)
    db.query(tool.ddl)
    for insert in tool.rows(recorded if recorded is not None else list(tool.versions[:applied])):
        db.query(insert)
    return changeset


def migrate(runner_for, changeset: dict, check: bool = False, **params: object) -> dict:
    return run(runner_for(changeset, **params), apply.run_migrate, check=check, diff=False)


def foreign_rows(db: Database, tool: Tool) -> list[tuple]:
    return db.query("SELECT * FROM %s ORDER BY 1" % tool.table)


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_adopt_records_what_the_tool_applied_as_the_baseline_and_runs_only_the_rest(
    db: Database, runner_for, tmp_path, name: str
):
    tool = TOOLS[name]
    changeset = migrated_by(db, tmp_path, tool, 2)
    before = foreign_rows(db, tool)

    result = migrate(runner_for, changeset, adopt=name)

    v1, v2, v3 = tool.versions
    assert [(row[0], row[2], row[3]) for row in history(db)] == [
        (v1, "baseline", True),
        (v2, "baseline", True),
        (v3, "migration", True),
    ]
    assert [item["version"] for item in result["applied"]] == [v3]
    assert result["plan"]["adopted_from"] == {"tool": name, "table": tool.table, "up_to": v2, "notes": []}
    # The first two ran once, with psql (a second run would have failed on CREATE TABLE, or doubled the row).
    assert db.query("SELECT count(*) FROM ledger") == [(1,)]
    assert foreign_rows(db, tool) == before  # the other tool's table is only read
    assert migrate(runner_for, changeset)["applied"] == []


def test_check_mode_shows_the_adoption_and_records_nothing(db: Database, runner_for, tmp_path):
    changeset = migrated_by(db, tmp_path, TOOLS["goose"], 2)
    schema = db.schema_dump()

    result = migrate(runner_for, changeset, check=True, adopt="goose")

    assert [entry["version"] for entry in result["plan"]["baseline"]] == ["00001", "00002"]
    assert result["plan"]["pending_versions"] == ["00003"] and result["changed"]
    assert result["plan"]["adopted_from"]["up_to"] == "00002"
    assert history(db) == [] and db.schema_dump() == schema
    lines = summary(result, "here", True, [])
    assert "  adopt: would adopt 2 migration(s) from goose (up to 00002, read from goose_db_version)" in lines


def refused(runner_for, changeset: dict, db: Database, match: str, **params: object) -> None:
    """The migrate is refused in the plan stage with MATCH, and the database is as it was."""
    schema = db.schema_dump()
    with pytest.raises(RunFailed, match=match):
        migrate(runner_for, changeset, **params)
    assert history(db) == [] and db.schema_dump() == schema


def test_a_dirty_golang_migrate_history_is_refused_with_the_reason(db: Database, runner_for, tmp_path):
    tool = TOOLS["golang-migrate"]
    changeset = migrated_by(db, tmp_path, tool, 2)
    db.query("UPDATE schema_migrations SET dirty = true")
    refused(
        runner_for, changeset, db, r"golang-migrate marks version 2 dirty: a migration failed half-way", adopt=tool.name
    )


def test_a_failed_flyway_migration_is_refused_with_the_reason(db: Database, runner_for, tmp_path):
    tool = TOOLS["flyway"]
    changeset = migrated_by(db, tmp_path, tool, 2)
    db.query("UPDATE flyway_schema_history SET success = false WHERE version = '1.1'")
    refused(runner_for, changeset, db, r"flyway records version 1\.1 \(V1\.1__step\.sql\) as failed", adopt="flyway")


def test_a_version_the_tool_applied_without_a_file_here_is_refused_by_name(db: Database, runner_for, tmp_path):
    changeset = migrated_by(db, tmp_path, TOOLS["goose"], 2, recorded=["1", "2", "7"])
    refused(
        runner_for,
        changeset,
        db,
        r"version\(s\) 7 applied by goose \(goose_db_version\) but not in the change",
        adopt="goose",
    )


def test_a_gap_in_what_the_tool_applied_is_refused_by_name(db: Database, runner_for, tmp_path):
    changeset = migrated_by(db, tmp_path, TOOLS["dbmate"], 1, recorded=[STAMPS[0], STAMPS[2]])
    refused(runner_for, changeset, db, r"version\(s\) %s of the change set sort below %s" % STAMPS[1:], adopt="dbmate")


def test_a_missing_history_table_is_refused_naming_the_table_and_the_setting(db: Database, runner_for, tmp_path):
    changeset = migrated_by(db, tmp_path, TOOLS["goose"], 2)
    refused(
        runner_for,
        changeset,
        db,
        r"pg_migrate_adopt=diesel: there is no table __diesel_schema_migrations in .*pg_migrate_adopt_table",
        adopt="diesel",
    )


def test_the_history_table_may_be_named(db: Database, runner_for, tmp_path):
    changeset = migrated_by(db, tmp_path, TOOLS["goose"], 2)
    db.query("CREATE SCHEMA legacy; ALTER TABLE goose_db_version SET SCHEMA legacy")
    result = migrate(runner_for, changeset, adopt="goose", adopt_table="legacy.goose_db_version")
    assert result["plan"]["adopted_from"]["table"] == "legacy.goose_db_version"
    assert [row[2] for row in history(db)] == ["baseline", "baseline", "migration"]


def test_once_adopted_the_setting_does_nothing_but_warn(db: Database, runner_for, tmp_path):
    changeset = migrated_by(db, tmp_path, TOOLS["goose"], 2)
    migrate(runner_for, changeset, adopt="goose")
    db.query("INSERT INTO goose_db_version (version_id, is_applied) VALUES (9, true)")  # goose ran again: not read

    result = migrate(runner_for, changeset, adopt="goose")

    assert result["applied"] == [] and result["plan"]["problems"] == [] and "adopted_from" not in result["plan"]
    assert runner_for.warnings == [
        "pg_migrate_adopt=goose does nothing on %s: pg_migrate already keeps its history (at version 00003), "
        "and only that counts now. Remove pg_migrate_adopt once the database is adopted." % db.name
    ]
    runner_for.warnings.clear()  # the fixture wants none left


def test_another_tools_table_of_the_same_name_is_refused_as_unreadable(db: Database, runner_for, tmp_path):
    changeset = migrated_by(db, tmp_path, TOOLS["dbmate"], 2)  # dbmate's schema_migrations has no dirty column
    refused(
        runner_for,
        changeset,
        db,
        r"pg_migrate_adopt=golang-migrate: cannot read schema_migrations as golang-migrate's history: .*dirty",
        adopt="golang-migrate",
    )
