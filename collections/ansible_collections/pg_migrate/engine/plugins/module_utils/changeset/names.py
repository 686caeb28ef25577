# pg_migrate: the names of the change set's files, parsed in one place (golang-migrate's rule: one parser).
#
# Naming (Flyway's, plus Sqitch-style verify scripts):
#     V<version>__<description>.sql         migration (deploy)
#     U<version>__<description>.sql         its revert
#     V<version>__<description>.verify.sql  its verify script (raises unless the change is in effect)
#     R__<description>.sql                  repeatable script (seeds): re-applied when its checksum changes
# A version is numbers separated by dots (1, 001, 1.2.10), compared as numbers. A description holds letters,
# digits, "_", "-" and "." - real histories name their files "add-users" and "1.7.0_schema" - and an "_"
# reads as a space. A name that follows no convention gets a reason that points at what is wrong and the
# name to rename it to (name_problem), so a history of hundreds of files is fixed in one pass.

from __future__ import annotations

import re
from dataclasses import dataclass

_DESCRIPTION_CHARS = "A-Za-z0-9_.-"
_NAME = re.compile(
    r"^(?:(?P<kind>[VU])(?P<version>\d+(?:\.\d+)*)__(?P<slug>[%s]+?)(?P<verify>\.verify)?"
    r"|R__(?P<rslug>[%s]+?)(?P<rverify>\.verify)?)\.sql$" % (_DESCRIPTION_CHARS, _DESCRIPTION_CHARS)
)
_OUTSIDE_DESCRIPTION = re.compile(r"[^%s]+" % _DESCRIPTION_CHARS)
NAMING_HELP = (
    "expected V<version>__<description>.sql, U<version>__<description>.sql, "
    "V<version>__<description>.verify.sql or R__<description>.sql (description: letters, digits, _ - .)"
)
_CHARACTER_NAMES = {" ": "a space", "\t": "a tab"}


@dataclass(frozen=True)
class ScriptName:
    role: str  # deploy | revert | verify | repeatable
    version: str | None
    slug: str

    @property
    def description(self) -> str:
        return self.slug.replace("_", " ")


def parse_name(filename: str) -> ScriptName | None:
    """What a file is, from its name alone; None when the name follows no convention."""
    match = _NAME.match(filename)
    if not match:
        return None
    if match.group("rslug"):
        if match.group("rverify"):
            return None  # repeatable scripts have no verify scripts
        return ScriptName("repeatable", None, match.group("rslug"))
    if match.group("verify"):
        if match.group("kind") == "U":
            return None
        return ScriptName("verify", match.group("version"), match.group("slug"))
    role = "deploy" if match.group("kind") == "V" else "revert"
    return ScriptName(role, match.group("version"), match.group("slug"))


def _character(text: str) -> str:
    return _CHARACTER_NAMES.get(text, repr(text))


def _description_problem(prefix: str, description: str, suffix: str) -> str | None:
    """Why DESCRIPTION (between PREFIX and SUFFIX of a name) is not one, with the name to rename to."""
    if not description:
        return "the description after %s is empty: rename it to %sdescription%s" % (prefix, prefix, suffix)
    bad = _OUTSIDE_DESCRIPTION.search(description)
    if bad is None:
        return None
    fixed = _OUTSIDE_DESCRIPTION.sub("_", description).strip("_") or "description"
    return "the description holds %s (character %d of the name), which a name may not hold: rename it to %s%s%s" % (
        _character(bad.group(0)[0]),
        len(prefix) + bad.start() + 1,
        prefix,
        fixed,
        suffix,
    )


def _split(filename: str) -> tuple[str, str, str, str]:
    """(kind letter, version, description, suffix) of a name as far as it can be read, the suffix being
    ".verify.sql" or ".sql"."""
    stem, suffix = filename, ".sql"
    if stem.endswith(".verify.sql"):
        stem, suffix = stem[: -len(".verify.sql")], ".verify.sql"
    elif stem.endswith(".sql"):
        stem = stem[: -len(".sql")]
    kind, rest = stem[:1], stem[1:]
    version, separator, description = rest.partition("__")
    if not separator:
        version, separator, description = rest.partition("_")  # V1_init: one underscore
        if not separator:
            version, description = rest, ""
    return kind, version, description, suffix


def name_problem(filename: str) -> str:
    """Why FILENAME, a .sql file parse_name does not take, is not a script name: what is wrong, and the name to
    rename it to where one can be told."""
    kind, version, description, suffix = _split(filename)
    if kind.upper() not in ("V", "U", "R"):
        return "a name starts with V (a migration), U (its revert) or R__ (a repeatable script)"
    if kind != kind.upper():
        return "the V, U or R must be upper-case: rename it to %s" % (kind.upper() + filename[1:])
    if kind == "R":
        if suffix == ".verify.sql":
            return "a repeatable script has no verify script: put the check in the script itself"
        if not filename.startswith("R__"):
            return "a repeatable script's name starts with R__: rename it to R__%s" % filename[1:].lstrip("_")
        return _description_problem("R__", filename[3 : -len(suffix)], suffix) or NAMING_HELP
    if kind == "U" and suffix == ".verify.sql":
        return "a revert has no verify script: name the migration's, V%s__%s.verify.sql" % (version, description)
    if not re.fullmatch(r"\d+(?:\.\d+)*", version):
        return "the version %r is not numbers separated by dots (1, 001, 1.2): rename it to %s<version>__%s%s" % (
            version,
            kind,
            description or "description",
            suffix,
        )
    if "__" not in filename:
        return "two underscores separate the version from the description: rename it to %s%s__%s%s" % (
            kind,
            version,
            description or "description",
            suffix,
        )
    prefix = "%s%s__" % (kind, version)
    return _description_problem(prefix, description, suffix) or NAMING_HELP
