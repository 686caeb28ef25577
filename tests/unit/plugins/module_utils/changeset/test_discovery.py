"""Discovery and validation of a change set on the controller: names, files, SQL, pairing, bundle."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset import discovery as changeset
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Changeset

ROOT = Path(__file__).resolve().parents[5]  # the repository: tests/unit/plugins/module_utils/changeset/<this file>


def write(directory: Path, files: dict[str, str | bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return directory


@pytest.mark.parametrize(
    ("name", "role", "version", "slug"),
    [
        ("V001__claims_baseline.sql", "deploy", "001", "claims_baseline"),
        ("U001__claims_baseline.sql", "revert", "001", "claims_baseline"),
        ("V001__claims_baseline.verify.sql", "verify", "001", "claims_baseline"),
        ("V1.2__Add_Thing.sql", "deploy", "1.2", "Add_Thing"),
        ("R__default_policy.sql", "repeatable", None, "default_policy"),
        # Real histories: golang-migrate and diesel projects name their files so.
        ("V0002__1.7.0_schema.sql", "deploy", "0002", "1.7.0_schema"),
        ("U20160815133237__create-posts.sql", "revert", "20160815133237", "create-posts"),
        ("V3__add-users.v2.verify.sql", "verify", "3", "add-users.v2"),
        ("R__seed-data.sql", "repeatable", None, "seed-data"),
    ],
)
def test_parse_name_recognises_every_kind(name, role, version, slug):
    parsed = changeset.parse_name(name)
    assert (parsed.role, parsed.version, parsed.slug) == (role, version, slug)


@pytest.mark.parametrize(
    "name",
    [
        "V001_one_underscore.sql",
        "V__no_version.sql",
        "X001__other.sql",
        "V001__bad space.sql",
        "v001__lower.sql",
        "U001__x.verify.sql",
        "R__x.verify.sql",
        "V001__.sql",
        "V1..2__x.sql",
    ],
)
def test_parse_name_rejects_malformed_names(name):
    assert changeset.parse_name(name) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "V2__add users.sql",
            "holds a space (character 8 of the name), which a name may not hold: rename it to V2__add_users.sql",
        ),
        ("V3__add-users (copy).sql", "rename it to V3__add-users_copy.sql"),
        (
            "V001_one_underscore.sql",
            "two underscores separate the version from the description: rename it to V001__one_underscore.sql",
        ),
        ("v001__lower.sql", "upper-case: rename it to V001__lower.sql"),
        ("V1a__x.sql", "the version '1a' is not numbers separated by dots"),
        ("V001__.sql", "the description after V001__ is empty"),
        ("R_seed.sql", "starts with R__: rename it to R__seed.sql"),
        ("U1__x.verify.sql", "a revert has no verify script"),
        ("X001__other.sql", "a name starts with V (a migration), U (its revert) or R__"),
    ],
)
def test_a_refused_name_says_what_is_wrong_and_the_rename(name, reason):
    assert reason in changeset.name_problem(name)


def test_a_description_with_dashes_and_dots_keeps_its_history_identity(tmp_path: Path):
    found, problems, _ = changeset.build_changeset(
        str(write(tmp_path / "m", {"V0002__1.7.0_schema.sql": "SELECT 1;", "U0002__1.7.0_schema.sql": "SELECT 2;"}))
    )
    assert problems == []
    migration = found.migrations[0]
    assert (migration.version, migration.description, migration.revert.script) == (
        "0002",
        "1.7.0 schema",
        "U0002__1.7.0_schema.sql",
    )
    assert migration.checksum == hashlib.sha256(b"SELECT 1;").hexdigest()


@pytest.mark.parametrize("text", ["", "\n", "-- diesel's generated down: nothing to undo\n", "/* none */"])
def test_an_empty_or_comment_only_revert_is_nothing_to_undo(tmp_path: Path, text: str):
    found, problems, _ = changeset.build_changeset(
        str(write(tmp_path / "m", {"V001__x.sql": "CREATE TABLE x (id int);", "U001__x.sql": text}))
    )
    assert problems == []
    assert found.migrations[0].revert.statements == ()


def test_a_revert_that_does_not_parse_is_still_refused(tmp_path: Path):
    _, problems, _ = changeset.build_changeset(
        str(write(tmp_path / "m", {"V001__x.sql": "CREATE TABLE x (id int);", "U001__x.sql": "DROP TABEL x;"}))
    )
    assert [p.split(":")[0] for p in problems] == ["U001__x.sql"]


def test_the_project_change_set_is_valid():
    found, problems, warnings = changeset.build_changeset(str(ROOT / "files/migrations"), str(ROOT / "files/seeds"))
    assert problems == [] and warnings == []
    assert isinstance(found, Changeset) and found.backfill is None
    assert [m.version for m in found.migrations] == ["001", "002", "003", "004", "005"]
    assert all(m.revert and m.verify for m in found.migrations)
    assert [m.transactional for m in found.migrations] == [True, True, True, True, False]
    assert [r.script for r in found.repeatables] == ["R__default_policy.sql"]


def test_the_json_form_keeps_its_keys_in_their_order():
    found, _, _ = changeset.build_changeset(str(ROOT / "files/migrations"), str(ROOT / "files/seeds"))
    form = found.to_dict()
    script_keys = [
        "script",
        "path",
        "checksum",
        "checksum_equivalents",
        "bytes_sha256",
        "transactional",
        "statements",
        "locks",
    ]
    assert list(form) == ["migrations", "repeatables"]
    migration_keys = [*script_keys, "version", "description", "description_slug", "revert", "verify"]
    assert list(form["migrations"][0]) == migration_keys
    assert list(form["migrations"][0]["revert"]) == script_keys
    assert list(form["repeatables"][0]) == [*script_keys, "description"]
    assert Changeset.from_dict(json.loads(json.dumps(form))) == found


def test_every_problem_is_reported_at_once(tmp_path: Path):
    migrations = write(
        tmp_path / "m",
        {
            "V001__one.sql": "CREATE TABLE a (id int);",
            "V001__again.sql": "CREATE TABLE b (id int);",
            "V01__ambiguous.sql": "CREATE TABLE c (id int);",
            "V2_malformed.sql": "SELECT 1;",
            "U003__orphan.sql": "DROP TABLE x;",
            "V004__orphan_check.verify.sql": "SELECT 1;",
            "V005__empty.sql": "   \n",
            "V006__latin1.sql": "SELECT 'caf\xe9';".encode("latin-1"),
            "V007__typo.sql": "SELECT 1;\nSELEC 2;",
            "V008__tx.sql": "BEGIN;\nCREATE TABLE d (id int);\nCOMMIT;",
            "V009__concurrent.sql": "CREATE INDEX CONCURRENTLY i ON t (c);",
            "V010__comments_only.sql": "-- nothing here\n",
            "U001__not_one.sql": "DROP TABLE a;",
            "README.md": "notes",
        },
    )
    _, problems, warnings = changeset.build_changeset(str(migrations))
    text = "\n".join(problems)
    expected = [
        "duplicate version 001: V001__again.sql and V001__one.sql",
        "ambiguous version: V001__again.sql and V01__ambiguous.sql are both version 1",
        "V2_malformed.sql: malformed name: two underscores separate the version from the description",
        "U003__orphan.sql: revert without migration (no V003__orphan.sql)",
        "V004__orphan_check.verify.sql: verify script without migration",
        "V005__empty.sql: empty file",
        "V006__latin1.sql: not UTF-8 (byte 0xe9 at offset 11)",
        "V007__typo.sql: SQL does not parse (line 2)",
        "V008__tx.sql line 1: transaction control (BEGIN) is not allowed",
        "V008__tx.sql line 3: transaction control",
        "V009__concurrent.sql line 1: CREATE INDEX CONCURRENTLY cannot run inside a transaction",
        "V010__comments_only.sql: holds no SQL statement",
        "U001__not_one.sql: revert does not match its migration V001__again.sql",
    ]
    for fragment in expected:
        assert fragment in text, f"missing: {fragment}\n--- got:\n{text}"
    assert len(problems) == len(expected)
    assert warnings == ["migrations/README.md: ignored (not a .sql file)"]
    assert "nothing was changed on any host" in changeset.changeset_problems_message(problems, "m")


def test_marker_only_counts_on_the_first_line(tmp_path: Path):
    migrations = write(
        tmp_path / "m",
        {
            "V001__ok.sql": "-- pg_migrate:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (c);",
            "V002__late.sql": "SELECT 1;\n-- pg_migrate:no-transaction\nSELECT 2;",
        },
    )
    found, problems, _ = changeset.build_changeset(str(migrations))
    assert problems == ["V002__late.sql line 2: `-- pg_migrate:no-transaction` only counts on the first line"]
    assert found.migrations[0].transactional is False


def test_statement_boundaries_survive_dollar_quotes_and_non_ascii(tmp_path: Path):
    sql = "-- header\nSELECT 'é;';\nDO $x$ BEGIN RAISE NOTICE 'a;b'; END $x$;\n\nCREATE TABLE t (id int);\n"
    migrations = write(tmp_path / "m", {"V001__x.sql": sql})
    found, problems, _ = changeset.build_changeset(str(migrations))
    assert problems == []
    spans = found.migrations[0].statements
    assert [sql[start:end] for start, end, _ in spans] == [
        "SELECT 'é;'",
        "DO $x$ BEGIN RAISE NOTICE 'a;b'; END $x$",
        "CREATE TABLE t (id int)",
    ]
    assert [line for _, _, line in spans] == [2, 3, 5]


def test_seeds_directory_takes_only_repeatables(tmp_path: Path):
    migrations = write(tmp_path / "m", {"V001__x.sql": "SELECT 1;"})
    seeds = write(tmp_path / "s", {"R__ok.sql": "SELECT 1;", "V002__nope.sql": "SELECT 2;"})
    found, problems, _ = changeset.build_changeset(str(migrations), str(seeds))
    assert problems == ["V002__nope.sql: the seeds directory holds only repeatable scripts (R__<description>.sql)"]
    assert [r.path for r in found.repeatables] == ["seeds/R__ok.sql"]


def test_missing_directory_is_a_problem(tmp_path: Path):
    _, problems, _ = changeset.build_changeset(str(tmp_path / "nowhere"))
    assert problems == [
        f"{tmp_path / 'nowhere'}: no such directory (pg_migrate_migrations_dir names it: point it at the directory "
        "that holds the migrations (V*.sql))"
    ]


def test_entries_named_like_scripts_that_are_not_script_files_are_problems(tmp_path: Path):
    migrations = write(
        tmp_path / "m",
        {"V001__ok.sql": "SELECT 1;", "V004__shouted.SQL": "SELECT 4;", "README.md": "notes"},
    )
    (migrations / "V002__gone.sql").symlink_to(tmp_path / "elsewhere" / "V002__gone.sql")
    (migrations / "V003__folder.sql").mkdir()
    (migrations / "archive").mkdir()  # a directory not named like a script stays unmentioned
    (migrations / "notes.txt").symlink_to(tmp_path / "no-notes")  # so does a dangling link to a non-script
    found, problems, warnings = changeset.build_changeset(str(migrations))
    assert problems == [
        "V002__gone.sql: a symlink to %s, which does not exist: restore its target or remove the link"
        % (tmp_path / "elsewhere" / "V002__gone.sql"),
        "V003__folder.sql: a directory, not a script file: move it out of the directory, or rename it so that its "
        "name does not end in .sql",
        "V004__shouted.SQL: the extension must be lower-case .sql: rename it to V004__shouted.sql",
    ]
    assert warnings == ["migrations/README.md: ignored (not a .sql file)"]
    assert [m.script for m in found.migrations] == ["V001__ok.sql"]


def test_a_symlink_to_a_script_is_read_through(tmp_path: Path):
    target = write(tmp_path / "shared", {"V001__shared.sql": "SELECT 1;\n"})
    migrations = tmp_path / "m"
    migrations.mkdir()
    (migrations / "V001__shared.sql").symlink_to(target / "V001__shared.sql")
    found, problems, _ = changeset.build_changeset(str(migrations))
    assert problems == [] and found.migrations[0].statements == ((0, 8, 1),)


BOM = b"\xef\xbb\xbf"
SQL_LF = b"-- pg_migrate:no-transaction\nCREATE TABLE t (id int);\n\nSELECT 'caf\xc3\xa9';\n"
SQL_CRLF = SQL_LF.replace(b"\n", b"\r\n")
FORMS = {"lf": SQL_LF, "crlf": SQL_CRLF, "bom+lf": BOM + SQL_LF, "bom+crlf": BOM + SQL_CRLF}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_byte_order_mark_is_dropped_and_offsets_match_the_text_the_module_runs(tmp_path: Path, form: str):
    data = FORMS[form]
    found, problems, _ = changeset.build_changeset(str(write(tmp_path / "m", {"V001__x.sql": data})))
    assert problems == []
    entry = found.migrations[0]
    assert entry.transactional is False  # the marker is still the first line behind a BOM
    text = data.decode("utf-8-sig")  # as Runner.script_text decodes the copy
    assert [text[start:end] for start, end, _ in entry.statements] == ["CREATE TABLE t (id int)", "SELECT 'café'"]
    assert [line for _, _, line in entry.statements] == [2, 4]


def test_checksum_scheme_2_ignores_line_endings_and_bom_and_lists_the_scheme_1_values(tmp_path: Path):
    entries = {}
    for form, data in FORMS.items():
        found, problems, _ = changeset.build_changeset(str(write(tmp_path / form, {"V001__x.sql": data})))
        assert problems == []
        entries[form] = found.migrations[0]
    raw = {form: hashlib.sha256(data).hexdigest() for form, data in FORMS.items()}
    assert {entry.checksum for entry in entries.values()} == {raw["lf"]}  # scheme 2 = scheme 1 of LF without BOM
    for form, entry in entries.items():
        assert entry.bytes_sha256 == raw[form]
        assert sorted(entry.checksum_equivalents) == sorted({raw["crlf"], raw["bom+lf"], raw["bom+crlf"]})


def test_lone_carriage_returns_count_as_line_ends_and_the_raw_bytes_stay_accepted(tmp_path: Path):
    data = SQL_LF.replace(b"\n", b"\r")
    found, problems, _ = changeset.build_changeset(str(write(tmp_path / "m", {"V001__x.sql": data})))
    assert problems == []
    entry = found.migrations[0]
    assert entry.checksum == hashlib.sha256(SQL_LF).hexdigest()
    assert hashlib.sha256(data).hexdigest() in entry.checksum_equivalents


def test_a_real_edit_changes_the_checksum(tmp_path: Path):
    first, _, _ = changeset.build_changeset(str(write(tmp_path / "a", {"V001__x.sql": SQL_LF})))
    edited = SQL_CRLF.replace(b"int", b"bigint")
    second, _, _ = changeset.build_changeset(str(write(tmp_path / "b", {"V001__x.sql": edited})))
    accepted = {second.migrations[0].checksum, *second.migrations[0].checksum_equivalents}
    assert first.migrations[0].checksum not in accepted


def test_a_file_holding_only_a_byte_order_mark_is_empty(tmp_path: Path):
    _, problems, _ = changeset.build_changeset(str(write(tmp_path / "m", {"V001__x.sql": BOM + b"\r\n"})))
    assert problems == ["V001__x.sql: empty file: remove it or add the SQL"]


def test_a_backfill_needs_its_count_script_and_one_statement_each(tmp_path):
    batch = tmp_path / "link.sql"
    batch.write_text("SELECT 1 AS linked; SELECT 2;\n")
    problems: list[str] = []
    found = changeset.read_backfill(str(batch), problems)
    assert any("exactly one statement, this one has 2" in p for p in problems)
    assert any("link.count.sql: no such file" in p for p in problems)
    assert set(found) == {"batch"}
    problems = []
    changeset.read_backfill(str(tmp_path / "link.txt"), problems)
    assert problems == [f"pg_migrate_backfill_script ({tmp_path / 'link.txt'}) must name a .sql file"]


def test_scripts_named_picks_files_by_the_one_naming_rule(tmp_path: Path):
    write(
        tmp_path,
        {
            "V1.10__b.sql": "SELECT 1;",
            "V1.9__a.sql": "SELECT 1;",
            "V1.9__a.verify.sql": "SELECT 1;",
            "U1.9__a.sql": "SELECT 1;",
            "R__seed.sql": "SELECT 1;",
            "V2_bad.sql": "SELECT 1;",
        },
    )
    deploys = changeset.scripts_named(tmp_path, ("deploy",))
    assert [(name.version, Path(path).name) for name, path in deploys] == [
        ("1.10", "V1.10__b.sql"),
        ("1.9", "V1.9__a.sql"),
    ]
    found = changeset.scripts_named(tmp_path, ("deploy", "revert"))
    assert sorted(name.role for name, _ in found) == ["deploy", "deploy", "revert"]


def test_the_expected_schema_tool_applies_the_migrations_in_version_order(tmp_path: Path):
    import expected_schema

    write(tmp_path, {"V1.10__b.sql": "SELECT 1;", "V1.9__a.sql": "SELECT 1;", "V1.9__a.verify.sql": "SELECT 1;"})
    assert [(v, p.name) for v, p in expected_schema.deploy_scripts(tmp_path)] == [
        ("1.9", "V1.9__a.sql"),
        ("1.10", "V1.10__b.sql"),
    ]
    project = expected_schema.deploy_scripts()
    assert [v for v, _ in project] == ["001", "002", "003", "004", "005"]


def test_the_message_of_a_change_set_with_many_problems_shows_the_first_thirty(tmp_path: Path):
    migrations = write(tmp_path / "m", {"V%03d_one_underscore.sql" % n: "SELECT 1;" for n in range(1, 41)})
    _, problems, _ = changeset.build_changeset(str(migrations))
    message = changeset.changeset_problems_message(problems, "m")
    assert len(problems) == 40 and message.startswith("The change set in m has 40 problem(s)")
    assert message.count("malformed name") == 30
    assert message.endswith("  - ... and 10 more: fix these and run again to see them")
