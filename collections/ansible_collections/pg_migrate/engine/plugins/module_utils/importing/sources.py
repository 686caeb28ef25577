# pg_migrate: what the converters of importing/<tool>.py share - reading a source file's SQL, pairing the
# migrations with their reverts by version, and the lines that say what was left behind.

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import version_key
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.model import (
    Conversion,
    SourceFiles,
    SourceMigration,
    SourceScript,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.names import SourceName
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.sql_text import parse_problem


def read_sql(files: SourceFiles, path: str, conversion: Conversion) -> str | None:
    """The text of the source file PATH when it is UTF-8 SQL that parses; else None, with the problem added."""
    text = files[path]
    if text is None:
        conversion.problems.append("%s: not UTF-8 text: save it as UTF-8, then import again" % path)
        return None
    problem = parse_problem(path, text)
    if problem:
        conversion.problems.append(problem)
        return None
    return text


def not_a_migration(path: str, tool: str, expected: str) -> str:
    """The not-carried line of a file that is none of TOOL's SQL migrations."""
    return "%s: not one of %s's SQL migrations (expected %s): carry it over by hand if it matters" % (
        path,
        tool,
        expected,
    )


def add_migrations(
    conversion: Conversion,
    deploys: list[tuple[SourceName, SourceScript]],
    reverts: list[tuple[SourceName, SourceScript]],
) -> None:
    """Each deploy as a migration, with the revert of its version (by version_key, as the engine pairs them); a
    revert without its migration is listed as not carried."""
    start = len(conversion.migrations)
    for name, script in deploys:
        conversion.migrations.append(SourceMigration(name.version, name.description, script))
    index = {version_key(m.version): start + n for n, m in enumerate(conversion.migrations[start:])}
    for name, script in reverts:
        position = index.get(version_key(name.version))
        if position is None or conversion.migrations[position].revert is not None:
            conversion.not_carried.append(
                "%s: a revert without its migration (no up script of version %s)" % (script.source, name.version)
            )
            continue
        conversion.migrations[position] = replace(conversion.migrations[position], revert=script)


def convert_files(
    files: SourceFiles,
    name_of: Callable[[str], SourceName | None],
    tool: str,
    expected: str,
    script_of: Callable[[str, str], SourceScript],
    refusal: Callable[[str, str | None], str | None] = lambda _path, _text: None,
) -> Conversion:
    """The conversion of a tool whose up and down scripts are files of their own, named by NAME_OF: every file
    that parses made a script by SCRIPT_OF, paired by version; REFUSAL(path, text) a problem that stops the
    import for a file the engine cannot carry as it is (None: none)."""
    conversion = Conversion()
    deploys, reverts = [], []
    for path in sorted(files):
        name = name_of(path) if "/" not in path else None
        if name is None:
            conversion.not_carried.append(not_a_migration(path, tool, expected))
            continue
        problem = refusal(path, files[path])
        if problem:
            conversion.problems.append(problem)
            continue
        text = read_sql(files, path, conversion)
        if text is not None:
            (deploys if name.role == "deploy" else reverts).append((name, script_of(path, text)))
    add_migrations(conversion, deploys, reverts)
    return conversion
