# pg_migrate: diesel's migrations as the engine's files.
#
# diesel: a directory per migration, {version}_{name}/ with up.sql and down.sql, and metadata.toml whose
# `run_in_transaction = false` runs both outside a transaction. The generated
# 00000000000000_diesel_initial_setup is a migration like any other (version 0).

from __future__ import annotations

import re

from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.model import (
    Conversion,
    SourceFiles,
    SourceScript,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.names import diesel_name
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.sources import (
    add_migrations,
    not_a_migration,
    read_sql,
)

EXPECTED = "a directory {version}_{name}/ with up.sql and down.sql"
NO_TRANSACTION = "diesel: run_in_transaction = false in %s"
_KNOWN = ("up.sql", "down.sql", "metadata.toml")


def _no_transaction(files: SourceFiles, directory: str) -> str | None:
    path = "%s/metadata.toml" % directory
    if re.search(r"^\s*run_in_transaction\s*=\s*false\s*(#.*)?$", files.get(path) or "", re.MULTILINE):
        return NO_TRANSACTION % path
    return None


def _directories(files: SourceFiles, conversion: Conversion) -> dict[str, list[str]]:
    """The migration directories and their files; every other file is listed as not carried."""
    directories: dict[str, list[str]] = {}
    for path in sorted(files):
        directory, _slash, leaf = path.rpartition("/")
        if directory and "/" not in directory and diesel_name(directory) and leaf in _KNOWN:
            directories.setdefault(directory, []).append(leaf)
        else:
            conversion.not_carried.append(not_a_migration(path, "diesel", EXPECTED))
    return directories


def convert(files: SourceFiles) -> Conversion:
    conversion = Conversion()
    deploys, reverts = [], []
    for directory, leaves in _directories(files, conversion).items():
        name = diesel_name(directory)
        if "up.sql" not in leaves:
            conversion.problems.append("%s/: no up.sql: add it (diesel would refuse the directory too)" % directory)
            continue
        reason = _no_transaction(files, directory)
        scripts = {}
        for leaf in ("up.sql", "down.sql"):
            path = "%s/%s" % (directory, leaf)
            text = read_sql(files, path, conversion) if leaf in leaves else None
            if text is not None:
                scripts[leaf] = SourceScript(text, path, reason)
        if "up.sql" in scripts:
            deploys.append((name, scripts["up.sql"]))
        if "down.sql" in scripts:
            reverts.append((name, scripts["down.sql"]))
    add_migrations(conversion, deploys, reverts)
    return conversion
