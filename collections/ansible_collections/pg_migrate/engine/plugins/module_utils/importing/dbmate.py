# pg_migrate: dbmate's migrations as the engine's files.
#
# dbmate: {version}_{name}.sql, one file with a `-- migrate:up` section and an optional `-- migrate:down`
# section; `transaction:false` after a section's directive runs that section outside a transaction.

from __future__ import annotations

import re

from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.model import (
    Conversion,
    SourceFiles,
    SourceScript,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.names import dbmate_name
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.sources import (
    add_migrations,
    not_a_migration,
    read_sql,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.sql_text import is_comment_only

EXPECTED = "{version}_{name}.sql with a -- migrate:up section"
_DIRECTIVE = re.compile(r"^--\s*migrate:(?P<section>up|down)\b(?P<options>.*)$", re.MULTILINE)
NO_TRANSACTION = "dbmate: transaction:false"


def sections(path: str, text: str) -> tuple[dict[str, tuple[str, str]], str | None]:
    """{"up": (sql, options), "down": ...} of a dbmate file, or a problem."""
    found = list(_DIRECTIVE.finditer(text))
    names = [match["section"] for match in found]
    if names not in (["up"], ["up", "down"]):
        return {}, "%s: expected one `-- migrate:up` line, then at most one `-- migrate:down` line" % path
    if not is_comment_only(text[: found[0].start()]):
        return {}, "%s: SQL before `-- migrate:up`, which dbmate would not run either: move it into a section" % path
    parts = {}
    for number, match in enumerate(found):
        end = found[number + 1].start() if number + 1 < len(found) else len(text)
        parts[match["section"]] = (text[match.end() : end], match["options"])
    return parts, None


def script_of(path: str, sql: str, options: str) -> SourceScript:
    no_transaction = NO_TRANSACTION if re.search(r"\btransaction:\s*false\b", options) else None
    return SourceScript(sql, path, no_transaction)


def convert(files: SourceFiles) -> Conversion:
    conversion = Conversion()
    deploys, reverts = [], []
    for path in sorted(files):
        name = dbmate_name(path) if "/" not in path else None
        if name is None:
            conversion.not_carried.append(not_a_migration(path, "dbmate", EXPECTED))
            continue
        text = read_sql(files, path, conversion)
        if text is None:
            continue
        parts, problem = sections(path, text)
        if problem:
            conversion.problems.append(problem)
            continue
        deploys.append((name, script_of(path, *parts["up"])))
        if "down" in parts:
            reverts.append((name, script_of(path, *parts["down"])))
    add_migrations(conversion, deploys, reverts)
    return conversion
