# pg_migrate: which version and description a migration of another tool has, from its file or directory name.
#
# This is a contract shared by the two ways a team comes over from another tool: the importer
# (playbooks/import.yml) names the files it writes by it, and adopting a database that tool migrated reads
# that tool's own history table and must find the same version among the imported files. So each tool's
# rule is here once, pure, and nowhere else:
#     golang-migrate  {version}_{title}.up.sql / .down.sql         version: the integer as written
#     goose           {version}_{name}.sql                         version: the integer as written
#     dbmate          {version}_{name}.sql                         version: the digits prefix
#     flyway          V{version}__{desc}.sql (U, R, B too)         version: dotted (V1_1 is 1.1)
#     diesel          {version}_{name}/ (up.sql, down.sql)         version: the prefix without its dashes
#     efcore          {MigrationId}.sql, {MigrationId}.down.sql    version: the MigrationId's 14-digit timestamp
# Versions compare with common/versions.py's version_key, so 000001 is 1 on both sides.

from __future__ import annotations

import re
from dataclasses import dataclass

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.discovery import parse_name

SOURCE_TOOLS = ("golang-migrate", "goose", "dbmate", "flyway", "diesel", "efcore")


@dataclass(frozen=True)
class SourceName:
    version: str | None  # None for a repeatable script (Flyway's R__)
    description: str  # as the tool spells it; engine_description() makes a file name's of it
    role: str  # deploy | revert | repeatable | baseline


_GOLANG_MIGRATE = re.compile(r"^(?P<version>\d+)_(?P<description>.*)\.(?P<direction>up|down)\.sql$")
_GOOSE_OR_DBMATE = re.compile(r"^(?P<version>\d+)_(?P<description>.*)\.sql$")
_FLYWAY = re.compile(r"^(?:(?P<kind>[VUB])(?P<version>\d+(?:[._]\d+)*)|R)__(?P<description>.+)\.sql$")
_DIESEL = re.compile(r"^(?P<version>\d[\d-]*)_(?P<description>.+)$")
_EFCORE = re.compile(r"^(?P<version>\d{14})_(?P<description>\w+?)(?P<down>\.down)?\.sql$")


def golang_migrate_name(filename: str) -> SourceName | None:
    """`000001_create_users.up.sql` is version 000001, create_users, deploy (`.down.sql`: its revert)."""
    match = _GOLANG_MIGRATE.match(filename)
    if not match:
        return None
    role = "deploy" if match["direction"] == "up" else "revert"
    return SourceName(match["version"], match["description"], role)


def goose_name(filename: str) -> SourceName | None:
    """`00001_create_users.sql` is version 00001, create_users (one file holds both directions)."""
    match = _GOOSE_OR_DBMATE.match(filename)
    return SourceName(match["version"], match["description"], "deploy") if match else None


def dbmate_name(filename: str) -> SourceName | None:
    """`20240101120000_create_users.sql` is version 20240101120000, create_users (both directions in the file)."""
    return goose_name(filename)


def flyway_name(filename: str) -> SourceName | None:
    """`V1_1__add_email.sql` is version 1.1 (Flyway takes `_` and `.` alike between a version's parts); U is its
    undo, B a baseline, R__ a repeatable script without a version."""
    match = _FLYWAY.match(filename)
    if not match:
        return None
    if match["kind"] is None:
        return SourceName(None, match["description"], "repeatable")
    role = {"V": "deploy", "U": "revert", "B": "baseline"}[match["kind"]]
    return SourceName(match["version"].replace("_", "."), match["description"], role)


def diesel_name(dirname: str) -> SourceName | None:
    """`2016-08-15-133237_create_users` (or `20160815133237_create_users`) is version 20160815133237: diesel
    records the part before the first `_` without its dashes."""
    match = _DIESEL.match(dirname)
    return SourceName(match["version"].replace("-", ""), match["description"], "deploy") if match else None


def efcore_name(filename: str) -> SourceName | None:
    """`20240101120000_AddUsers.sql` is version 20240101120000, AddUsers (`.down.sql`: its revert)."""
    match = _EFCORE.match(filename)
    if not match:
        return None
    return SourceName(match["version"], match["description"], "revert" if match["down"] else "deploy")


NAME_RULES = {
    "golang-migrate": golang_migrate_name,
    "goose": goose_name,
    "dbmate": dbmate_name,
    "flyway": flyway_name,
    "diesel": diesel_name,
    "efcore": efcore_name,
}


def source_name(tool: str, name: str) -> SourceName | None:
    """The version and description TOOL gives the file (diesel: the directory) NAME; None when it is not one of
    its migrations."""
    return NAME_RULES[tool](name)


def history_version(tool: str, recorded: str) -> str:
    """The version of the imported file for what TOOL's own history table records: golang-migrate's and
    goose's integers, dbmate's and diesel's digits, Flyway's dotted version, EF Core's MigrationId."""
    text = str(recorded).strip()
    if tool == "efcore":
        return text.split("_", 1)[0]
    if tool == "flyway":
        return text.replace("_", ".")
    if tool == "diesel":
        return text.replace("-", "")
    return text


# --- descriptions as the engine's file names take them --------------------------------------------------------
def _engine_keeps(character: str) -> bool:
    """Whether the engine's discovery takes CHARACTER inside a description (`-` and `.` are being added)."""
    parsed = parse_name("V1__a%sb.sql" % character)
    return parsed is not None and parsed.slug == "a%sb" % character


KEPT_PUNCTUATION = "".join(character for character in "-." if _engine_keeps(character))


def engine_description(description: str) -> str:
    """DESCRIPTION as a file name of the engine takes it: letters, digits, `_` (and `-` and `.` where the
    engine's discovery takes them); any other run of characters becomes one `_`."""
    allowed = "A-Za-z0-9" + re.escape(KEPT_PUNCTUATION)
    text = re.sub(r"[^%s]+" % allowed, "_", description)
    text = re.sub(r"_+", "_", text).strip("_.-")
    if text.endswith(".verify"):  # V1__x.verify.sql would be a verify script, not a migration
        text = text[: -len(".verify")] + "_verify"
    return text or "migration"


def engine_file_name(role: str, version: str | None, description: str) -> str:
    """The engine's name of a script (changeset/discovery.py's naming); DESCRIPTION already engine_description's."""
    if role == "repeatable":
        return "R__%s.sql" % description
    return "%s%s__%s.sql" % ("U" if role == "revert" else "V", version, description)
