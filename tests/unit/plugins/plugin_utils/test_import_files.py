"""plugin_utils/import_files.py: every problem found before the first file is written; check mode writes nothing."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.pg_migrate.engine.plugins.plugin_utils.import_files import run_import

UP = "-- +goose Up\nCREATE TABLE a (id int);\n-- +goose Down\nDROP TABLE a;\n"


def source(tmp_path: Path, files: dict[str, str]) -> Path:
    directory = tmp_path / "src"
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def test_an_import_writes_the_files_and_a_second_one_finds_them_unchanged(tmp_path: Path):
    src = source(tmp_path, {"001_a.sql": UP})
    first = run_import("goose", str(src), str(tmp_path / "dest"))
    assert first["changed"] and first["files"] == [str(tmp_path / "dest" / n) for n in ("V001__a.sql", "U001__a.sql")]
    assert (tmp_path / "dest" / "U001__a.sql").read_text() == "DROP TABLE a;\n"
    again = run_import("goose", str(src), str(tmp_path / "dest"))
    assert not again["changed"] and again["files"] == [] and len(again["unchanged"]) == 2


def test_check_mode_writes_nothing_and_shows_each_file(tmp_path: Path):
    result = run_import("goose", str(source(tmp_path, {"001_a.sql": UP})), str(tmp_path / "dest"), check=True)
    assert not (tmp_path / "dest").exists()
    assert result["changed"] and result["summary"][1] == "  would write V001__a.sql (from 001_a.sql)"
    assert result["diff"][0]["after"] == "CREATE TABLE a (id int);\n"


def test_a_file_it_would_overwrite_stops_it_before_anything_is_written(tmp_path: Path):
    src = source(tmp_path, {"001_a.sql": UP, "002_b.sql": "-- +goose Up\nSELECT 1;\n"})
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "U001__a.sql").write_text("DROP TABLE a CASCADE;\n")
    result = run_import("goose", str(src), str(dest))
    assert result["failed"] and sorted(p.name for p in dest.iterdir()) == ["U001__a.sql"]
    assert "U001__a.sql exists with other content: the import would overwrite it" in result["msg"]


def test_bad_inputs_name_their_variables(tmp_path: Path):
    (tmp_path / "file").write_text("")
    result = run_import("sqitch", str(tmp_path / "missing"), str(tmp_path / "file"))
    assert [problem.split(":")[0] for problem in result["problems"]] == [
        "pg_migrate_import_from",
        "pg_migrate_import_source",
        "pg_migrate_import_dest",
    ]


def test_a_set_the_engine_refuses_is_not_written(tmp_path: Path):
    src = source(tmp_path, {"001_a.sql": "-- +goose Up\nCREATE TABLE a (id int);\nCOMMIT;\n"})
    result = run_import("goose", str(src), str(tmp_path / "dest"))
    assert result["failed"] and not (tmp_path / "dest").exists()
    assert "the engine would refuse the imported set: V001__a.sql line 2: transaction control (COMMIT)" in result["msg"]


def test_files_already_in_dest_count_for_the_engine_too(tmp_path: Path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "V1__other.sql").write_text("SELECT 1;\n")
    result = run_import("goose", str(source(tmp_path, {"001_a.sql": UP})), str(dest))
    assert result["failed"] and "ambiguous version" in result["msg"]
    assert sorted(p.name for p in dest.iterdir()) == ["V1__other.sql"]
