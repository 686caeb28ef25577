# pg_migrate: goose's SQL migrations as the engine's files.
#
# goose: {version}_{name}.sql with `-- +goose Up` and `-- +goose Down` sections, `-- +goose NO TRANSACTION`
# (the whole file outside a transaction) and `-- +goose StatementBegin` / `StatementEnd` around a statement
# with semicolons inside; the annotations go, the SQL stays. {version}_{name}.go migrations are Go code.

from __future__ import annotations

import re

from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.model import (
    Conversion,
    SourceFiles,
    SourceScript,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.names import goose_name
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.sources import (
    add_migrations,
    not_a_migration,
    read_sql,
)

EXPECTED = "{version}_{name}.sql with a -- +goose Up section"
_ANNOTATION = re.compile(r"^--\s*\+goose\s+(?P<command>.*?)\s*$", re.IGNORECASE)
NO_TRANSACTION = "goose: -- +goose NO TRANSACTION"
_DROPPED = {"statementbegin", "statementend", "no transaction"}


def sections(path: str, text: str) -> tuple[dict[str, str], bool, str | None]:
    """({"up": sql, "down": sql}, no transaction, problem) of a goose file."""
    parts: dict[str, list[str]] = {}
    current, no_transaction = None, False
    for line in text.splitlines(keepends=True):
        match = _ANNOTATION.match(line.strip())
        command = match["command"].lower() if match else None
        if command in ("up", "down"):
            if command in parts:
                return {}, False, "%s: a second `-- +goose %s` section" % (path, match["command"])
            current = parts.setdefault(command, [])
        elif command is not None and command not in _DROPPED:
            return {}, False, "%s: `%s` is a goose annotation pg_migrate cannot carry" % (path, line.strip())
        elif command == "no transaction":
            no_transaction = True
        elif command is None and current is not None:
            current.append(line)
        elif command is None and line.strip() and not line.strip().startswith("--"):
            return {}, False, "%s: SQL before `-- +goose Up`, which goose would not run: move it into a section" % path
    if "up" not in parts:
        return {}, False, "%s: no `-- +goose Up` section" % path
    return {section: "".join(lines) for section, lines in parts.items()}, no_transaction, None


def convert(files: SourceFiles) -> Conversion:
    conversion = Conversion()
    deploys, reverts = [], []
    for path in sorted(files):
        name = goose_name(path) if "/" not in path else None
        if name is None:
            go = re.match(r"^\d+_.*\.go$", path)
            why = "a Go migration: pg_migrate runs SQL only; write what it does as a SQL migration of its version"
            conversion.not_carried.append("%s: %s" % (path, why) if go else not_a_migration(path, "goose", EXPECTED))
            continue
        text = read_sql(files, path, conversion)
        if text is None:
            continue
        parts, no_transaction, problem = sections(path, text)
        if problem:
            conversion.problems.append(problem)
            continue
        reason = NO_TRANSACTION if no_transaction else None
        deploys.append((name, SourceScript(parts["up"], path, reason)))
        if "down" in parts:
            reverts.append((name, SourceScript(parts["down"], path, reason)))
    add_migrations(conversion, deploys, reverts)
    return conversion
