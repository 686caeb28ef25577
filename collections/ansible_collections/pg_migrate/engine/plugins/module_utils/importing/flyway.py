# pg_migrate: Flyway's SQL migrations as the engine's files.
#
# Flyway's naming is the engine's own (V, U, R__), but its versions take `_` or `.` between their parts
# (V1_1__x.sql is version 1.1: written with dots), a script runs outside a transaction when its config file
# (V1__x.sql.conf) says executeInTransaction=false, and callbacks (beforeMigrate.sql, ...), Java migrations,
# baseline migrations (B) and placeholders (${name}) have nothing like them in the engine.

from __future__ import annotations

import re

from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.model import (
    Conversion,
    SourceFiles,
    SourceRepeatable,
    SourceScript,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.names import flyway_name
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.sources import (
    add_migrations,
    not_a_migration,
    read_sql,
)

EXPECTED = "V<version>__<description>.sql, U<version>__<description>.sql or R__<description>.sql"
NO_TRANSACTION = "Flyway: executeInTransaction=false in %s"
_CALLBACK = re.compile(r"^(before|after)[A-Za-z]+(__.*)?\.sql$")
_PLACEHOLDER = re.compile(r"\$\{[^}]+\}")
BASELINE = (
    "a Flyway baseline migration (the schema at version %s in one script, for new databases): the engine runs the "
    "versioned migrations instead; a database Flyway baselined is adopted at that version"
)


def _left_behind(path: str) -> str:
    """The not-carried line of a file that is no versioned, undo or repeatable SQL migration."""
    leaf = path.rsplit("/", 1)[-1]
    if _CALLBACK.match(leaf):
        return "%s: a Flyway callback: pg_migrate has no callbacks; run it as a migration or a repeatable script" % path
    if leaf.endswith((".java", ".class", ".kt")):
        return "%s: a Java migration: pg_migrate runs SQL only; write what it does as a SQL migration" % path
    return not_a_migration(path, "Flyway", EXPECTED)


def _no_transaction(files: SourceFiles, path: str) -> str | None:
    """Why the script at PATH runs outside a transaction, when its .conf file says so."""
    conf = files.get(path + ".conf") or ""
    if re.search(r"^\s*executeInTransaction\s*=\s*false\s*$", conf, re.MULTILINE | re.IGNORECASE):
        return NO_TRANSACTION % (path.rsplit("/", 1)[-1] + ".conf")
    return None


def convert(files: SourceFiles) -> Conversion:
    conversion = Conversion()
    deploys, reverts = [], []
    for path in sorted(files):
        name = flyway_name(path.rsplit("/", 1)[-1])
        if path.endswith(".sql.conf") and path[: -len(".conf")] in files:
            continue  # read with its script
        if name is None or name.role == "baseline":
            conversion.not_carried.append("%s: %s" % (path, BASELINE % name.version) if name else _left_behind(path))
            continue
        placeholders = sorted(set(_PLACEHOLDER.findall(files[path] or "")))
        if placeholders:
            conversion.problems.append(
                "%s: Flyway placeholders (%s), which pg_migrate does not replace: put their values into the script, "
                "then import again" % (path, ", ".join(placeholders))
            )
            continue
        text = read_sql(files, path, conversion)
        if text is None:
            continue
        script = SourceScript(text, path, _no_transaction(files, path))
        if name.role == "repeatable":
            conversion.repeatables.append(SourceRepeatable(name.description, script))
        else:
            (deploys if name.role == "deploy" else reverts).append((name, script))
    add_migrations(conversion, deploys, reverts)
    return conversion
