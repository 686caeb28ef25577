"""module_utils/importing/efcore.py: EF Core's bookkeeping stripped, idempotent scripts refused."""

from __future__ import annotations

from tests.unit.plugins.module_utils.importing.support import MARKER, planned

UP = """CREATE TABLE IF NOT EXISTS "__EFMigrationsHistory" (
    "MigrationId" character varying(150) NOT NULL,
    "ProductVersion" character varying(32) NOT NULL,
    CONSTRAINT "PK___EFMigrationsHistory" PRIMARY KEY ("MigrationId")
);

START TRANSACTION;

CREATE TABLE "Blogs" ("BlogId" integer NOT NULL);

INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
VALUES ('20240301101500_Initial', '8.0.2');

COMMIT;
"""
DOWN = """BEGIN TRANSACTION;

DROP TABLE "Blogs";

DELETE FROM "__EFMigrationsHistory"
WHERE "MigrationId" = '20240301101500_Initial';

COMMIT;
"""
SUPPRESSED = """START TRANSACTION;

COMMIT;

CREATE INDEX CONCURRENTLY "IX_Blogs_Url" ON "Blogs" ("Url");

START TRANSACTION;

INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
VALUES ('20240302000000_Index', '8.0.2');

COMMIT;
"""
IDEMPOTENT = """DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM "__EFMigrationsHistory" WHERE "MigrationId" = '20240301101500_Initial') THEN
    CREATE TABLE "Blogs" ("BlogId" integer NOT NULL);
    END IF;
END $EF$;
"""


def test_the_bookkeeping_goes_and_the_schema_change_stays():
    plan = planned("efcore", {"20240301101500_Initial.sql": UP, "20240301101500_Initial.down.sql": DOWN})
    assert plan.files == {
        "V20240301101500__Initial.sql": 'CREATE TABLE "Blogs" ("BlogId" integer NOT NULL);\n',
        "U20240301101500__Initial.sql": 'DROP TABLE "Blogs";\n',
    }
    assert plan.notes[0].startswith("V20240301101500__Initial.sql: stripped EF Core's bookkeeping")


def test_a_suppressed_transaction_gives_the_marker():
    plan = planned("efcore", {"20240302000000_Index.sql": SUPPRESSED})
    assert plan.files["V20240302000000__Index.sql"] == (
        MARKER + '\nCREATE INDEX CONCURRENTLY "IX_Blogs_Url" ON "Blogs" ("Url");\n'
    )


def test_idempotent_scripts_are_refused_with_the_command_that_makes_plain_ones():
    plan = planned("efcore", {"20240301101500_Initial.sql": IDEMPOTENT})
    assert plan.files == {}
    assert plan.problems[0].startswith("20240301101500_Initial.sql: an idempotent EF Core script")
    assert "dotnet ef migrations script <Previous> <MigrationId>" in plan.problems[0]


def test_other_files_are_listed():
    plan = planned("efcore", {"20240301101500_Initial.sql": UP, "BlogContextModelSnapshot.cs": "//\n"})
    assert [line.split(":")[0] for line in plan.not_carried] == ["BlogContextModelSnapshot.cs"]
