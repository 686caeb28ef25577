"""The transaction rule and the SQL checks, read with PostgreSQL's parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset import sql_analysis


@pytest.mark.parametrize(
    ("text", "transactional"),
    [
        ("SELECT 1;", True),
        ("-- pg_migrate:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (c);", False),
        ("-- pg_migrate:no-transaction\r\nSELECT 1;", False),  # a CRLF checkout
        ("-- pg_migrate:no-transaction   \nSELECT 1;", False),  # trailing blanks
        ("SELECT 1;\n-- pg_migrate:no-transaction\n", True),  # only the first line counts
        ("-- pg_migrate:no-transactions\nSELECT 1;", True),
    ],
)
def test_only_the_exact_marker_on_the_first_line_takes_a_script_out_of_the_transaction(text, transactional):
    assert sql_analysis.is_transactional(text) is transactional


def test_a_script_file_is_read_without_its_byte_order_mark(tmp_path: Path):
    script = tmp_path / "V001__x.sql"
    script.write_bytes(b"\xef\xbb\xbf-- pg_migrate:no-transaction\r\nSELECT 1;\r\n")
    assert sql_analysis.script_is_transactional(script) is False
    script.write_text("SELECT 1;\n")
    assert sql_analysis.script_is_transactional(str(script)) is True


def test_statements_are_split_with_their_lines():
    text = "SELECT 1;\n\nSELECT $$a;b$$;\n"
    spans, problems = sql_analysis.analyse_sql("V001__x.sql", text, True)
    assert problems == []
    assert [(text[start:end].strip(), line) for start, end, line in spans] == [
        ("SELECT 1", 1),
        ("SELECT $$a;b$$", 3),
    ]


def test_transaction_control_and_statements_that_need_the_marker_are_problems():
    text = "BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (c);\nVACUUM t;\nCOMMIT;\n"
    _, problems = sql_analysis.analyse_sql("V001__x.sql", text, True)
    assert problems == [
        "V001__x.sql line 1: transaction control (BEGIN) is not allowed: pg_migrate runs each migration in its own "
        "transaction (or none, with `-- pg_migrate:no-transaction` as the first line)",
        "V001__x.sql line 2: CREATE INDEX CONCURRENTLY cannot run inside a transaction: put "
        "`-- pg_migrate:no-transaction` on the first line of the file (and make the script safe to re-run)",
        "V001__x.sql line 3: VACUUM cannot run inside a transaction: put `-- pg_migrate:no-transaction` on the "
        "first line of the file (and make the script safe to re-run)",
        "V001__x.sql line 4: transaction control (COMMIT) is not allowed: pg_migrate runs each migration in its own "
        "transaction (or none, with `-- pg_migrate:no-transaction` as the first line)",
    ]
    _, marked = sql_analysis.analyse_sql("V001__x.sql", "CREATE INDEX CONCURRENTLY i ON t (c);", False)
    assert marked == []


def test_sql_that_does_not_parse_or_holds_nothing_is_a_problem():
    assert sql_analysis.analyse_sql("V001__x.sql", "SELECT 1;\nSELEC 2;", True)[1][0].startswith(
        "V001__x.sql: SQL does not parse (line 2): syntax error"
    )
    assert sql_analysis.analyse_sql("V001__x.sql", "-- nothing\n", True) == (
        [],
        ["V001__x.sql: holds no SQL statement (only comments or blank): remove it or add the SQL"],
    )
