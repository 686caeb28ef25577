# pg_migrate: the change set on disk, found and checked on the controller before any connection.
#
# It reads the migrations directory (and the optional seeds directory), parses every file name, checks
# every file (UTF-8, not empty, SQL that parses, transaction rules), computes SHA-256 checksums and
# statement boundaries (bundle.py packs the files for the managed host). Every
# problem is collected first and reported in one message, so an operator fixes them all in one go.
#
# Checksums (docs/checksums.md): scheme 2, the SHA-256 of the normalised text (no byte-order mark, LF line
# endings), so a Windows checkout or an editor's BOM is not drift. Each entry also carries the SHA-256 of
# the raw bytes ("bytes_sha256", for the copy's integrity check on the managed host) and the checksums
# an earlier version (scheme 1, raw bytes) may have recorded for the same text ("checksum_equivalents").
#
# Naming: names.py, the one parser of file names.
# A script whose first line is exactly `-- pg_migrate:no-transaction` runs outside a transaction
# (sql_analysis.py holds that rule).

from __future__ import annotations

import hashlib
import os
from dataclasses import fields, replace

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.lock_targets import script_locks
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import (
    Changeset,
    Migration,
    Repeatable,
    Script,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.names import (
    NAMING_HELP,
    ScriptName,
    name_problem,
    parse_name,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.sql_analysis import (
    analyse_sql,
    holds_sql,
    is_transactional,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import problem_list
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import version_key

BOM = "\ufeff"
SHOWN_PROBLEMS = 30  # of a change set's problems in its message: enough for a sweep, not a wall of text
# The role variable that names each directory of the change set, for messages.
DIRECTORY_VARIABLES = {"migrations": "pg_migrate_migrations_dir", "seeds": "pg_migrate_seeds_dir"}


def scripts_named(directory: str | os.PathLike, roles: tuple[str, ...]) -> list[tuple[ScriptName, str]]:
    """(name, path) of each file of DIRECTORY whose name makes it one of ROLES, by file name."""
    found = []
    for filename in sorted(os.listdir(directory)):
        parsed = parse_name(filename)
        if parsed is not None and parsed.role in roles:
            found.append((parsed, os.path.join(directory, filename)))
    return found


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def strip_bom(text: str) -> str:
    """TEXT without one leading byte-order mark (as Python's utf-8-sig codec decodes, which the module uses)."""
    return text[len(BOM) :] if text.startswith(BOM) else text


def decode_utf8(name: str, data: bytes) -> tuple[str | None, str | None]:
    """(text, None) or (None, problem). The text has no leading byte-order mark: Windows editors add one and
    PostgreSQL reads it as part of the first word (a syntax error); the module drops it the same way, so the
    statement offsets computed here hold on the managed host."""
    try:
        return strip_bom(data.decode("utf-8")), None
    except UnicodeDecodeError as exc:
        return None, "%s: not UTF-8 (byte 0x%02x at offset %d): save the file as UTF-8" % (
            name,
            data[exc.start],
            exc.start,
        )


def read_text(path: str, name: str, problems: list[str]) -> tuple[bytes, str] | None:
    """The bytes of the script at PATH and its text (decode_utf8); None, with the problem added, when it is not
    UTF-8."""
    with open(path, "rb") as handle:
        data = handle.read()
    text, problem = decode_utf8(name, data)
    if problem:
        problems.append(problem)
        return None
    return data, text


def normalise_text(text: str) -> str:
    """What checksum scheme 2 hashes: no BOM, every CRLF and lone CR turned into LF. A checkout's line endings
    and an editor's BOM change the bytes but not the SQL, so they must not change the checksum."""
    return strip_bom(text).replace("\r\n", "\n").replace("\r", "\n")


def text_checksum(text: str) -> str:
    """Checksum scheme 2: the SHA-256 of the normalised text, UTF-8 encoded."""
    return sha256_hex(normalise_text(text).encode("utf-8"))


def equivalent_checksums(data: bytes, text: str) -> list[str]:
    """Other checksums that stand for the same script: what scheme 1 (raw bytes) recorded for it as checked out
    with LF or CRLF, with or without a BOM, and for these very bytes. A history row holding one of them was
    written for this script by an earlier version, so it is not drift."""
    lf = normalise_text(text)
    crlf = lf.replace("\n", "\r\n")
    candidates = [crlf.encode("utf-8"), (BOM + lf).encode("utf-8"), (BOM + crlf).encode("utf-8"), data]
    primary = text_checksum(text)
    equivalents: list[str] = []
    for candidate in candidates:
        digest = sha256_hex(candidate)
        if digest != primary and digest not in equivalents:
            equivalents.append(digest)
    return equivalents


def script_entry(name: str, relpath: str, data: bytes, text: str, spans: list[list[int]]) -> Script:
    """One script as the plan and the module see it: "checksum" is what the history records (scheme 2),
    "bytes_sha256" is what the copy on the managed host must hash to."""
    return Script(
        script=name,
        path=relpath,
        checksum=text_checksum(text),
        checksum_equivalents=tuple(equivalent_checksums(data, text)),
        bytes_sha256=sha256_hex(data),
        transactional=is_transactional(text),
        statements=tuple(tuple(span) for span in spans),
        locks=script_locks(text),
    )


def script_fields(script: Script) -> dict:
    """The Script fields of SCRIPT, to build a Migration or Repeatable of it."""
    return {field.name: getattr(script, field.name) for field in fields(Script)}


def entry_problem(path: str, name: str) -> str | None:
    """Why the entry PATH, whose name ends in .sql in any case, cannot be a script; None when it can.

    Such an entry is meant to be part of the change set: skipping it would leave a migration out without a
    word, so a dangling link, a directory or an upper-case extension stops discovery instead."""
    if os.path.islink(path) and not os.path.exists(path):
        return "%s: a symlink to %s, which does not exist: restore its target or remove the link" % (
            name,
            os.readlink(path),
        )
    if os.path.isdir(path):
        return (
            "%s: a directory, not a script file: move it out of the directory, or rename it so that its name "
            "does not end in .sql" % name
        )
    if not os.path.isfile(path):
        return "%s: not a regular file: replace it with the script itself" % name
    if not name.endswith(".sql"):
        return "%s: the extension must be lower-case .sql: rename it to %s" % (name, name[: -len(".sql")] + ".sql")
    return None


def read_scripts(directory: str, subdir: str, problems: list[str], warnings: list[str]) -> list[tuple]:
    """(name, ScriptName, Script) for every well-named, valid .sql file of DIRECTORY."""
    if not os.path.isdir(directory):
        variable = DIRECTORY_VARIABLES.get(subdir, "the directory")
        problems.append(
            "%s: no such directory (%s names it: point it at the directory that holds the %s)"
            % (directory, variable, "seed scripts (R__*.sql)" if subdir == "seeds" else "migrations (V*.sql)")
        )
        return []
    found = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.startswith("."):
            continue
        if not name.lower().endswith(".sql"):
            if os.path.isfile(path):  # notes, READMEs; directories and dangling links stay unmentioned
                warnings.append("%s: ignored (not a .sql file)" % os.path.join(subdir, name))
            continue
        problem = entry_problem(path, name)
        if problem:
            problems.append(problem)
            continue
        parsed = parse_name(name)
        if parsed is None:
            problems.append("%s: malformed name: %s" % (name, name_problem(name)))
            continue
        read = read_text(path, name, problems)
        if read is None:
            continue
        data, text = read
        if parsed.role == "revert" and not holds_sql(text):
            # diesel and dbmate read an empty down as "nothing to undo": so does a rollback (it removes the
            # history row only, and says so); a forward run never needs it.
            found.append((name, parsed, script_entry(name, "%s/%s" % (subdir, name), data, text, [])))
            continue
        if not data.removeprefix(BOM.encode("utf-8")).strip():
            problems.append("%s: empty file: remove it or add the SQL" % name)
            continue
        spans, sql_problems = analyse_sql(name, text, is_transactional(text))
        problems.extend(sql_problems)
        found.append((name, parsed, script_entry(name, "%s/%s" % (subdir, name), data, text, spans)))
    return found


def _pair_companions(companions: list[tuple], problems: list[str]) -> dict[tuple, Migration]:
    """The migrations by version key, each with its revert and verify script (when it has them)."""
    migrations: dict[tuple, Migration] = {}
    for role, key, _name, parsed, entry in companions:
        if role == "deploy":
            migrations[key] = Migration(
                **script_fields(entry),
                version=parsed.version,
                description=parsed.description,
                description_slug=parsed.slug,
            )
    for role, key, name, parsed, entry in companions:
        if role == "deploy":
            continue
        migration = migrations.get(key)
        label = "revert" if role == "revert" else "verify script"
        if migration is None:
            problems.append("%s: %s without migration (no V%s__%s.sql)" % (name, label, parsed.version, parsed.slug))
        elif migration.description_slug != parsed.slug:
            problems.append(
                "%s: %s does not match its migration %s (the descriptions differ)" % (name, label, migration.script)
            )
        elif getattr(migration, role) is not None:
            problems.append("%s: a second %s for version %s" % (name, label, parsed.version))
        else:
            migrations[key] = replace(migration, **{role: entry})
    return migrations


def build_changeset(migrations_dir: str, seeds_dir: str | None = None) -> tuple[Changeset, list[str], list[str]]:
    """(changeset, problems, warnings). The changeset is only meaningful when problems is empty."""
    problems: list[str] = []
    warnings: list[str] = []
    scripts = read_scripts(migrations_dir, "migrations", problems, warnings)
    seeds = read_scripts(seeds_dir, "seeds", problems, warnings) if seeds_dir else []

    deploys: dict[tuple, tuple] = {}
    companions = []
    repeatables = []
    for name, parsed, entry in scripts:
        if parsed.role == "repeatable":
            repeatables.append(Repeatable(**script_fields(entry), description=parsed.description))
        elif parsed.role == "deploy":
            key = version_key(parsed.version)
            if key in deploys:
                other_name, other = deploys[key]
                if other.version == parsed.version:
                    problems.append("duplicate version %s: %s and %s" % (parsed.version, other_name, name))
                else:
                    problems.append(
                        "ambiguous version: %s and %s are both version %s" % (other_name, name, ".".join(map(str, key)))
                    )
                continue
            deploys[key] = (name, parsed)
            companions.append(("deploy", key, name, parsed, entry))
        else:
            companions.append((parsed.role, version_key(parsed.version), name, parsed, entry))
    for name, parsed, entry in seeds:
        if parsed.role != "repeatable":
            problems.append("%s: the seeds directory holds only repeatable scripts (R__<description>.sql)" % name)
            continue
        repeatables.append(Repeatable(**script_fields(entry), description=parsed.description))

    migrations = _pair_companions(companions, problems)
    changeset = Changeset(
        migrations=tuple(migrations[key] for key in sorted(migrations)),
        repeatables=tuple(sorted(repeatables, key=lambda r: r.script)),
    )
    if not changeset.migrations and not changeset.repeatables and not problems:
        problems.append("%s: no migrations found (%s)" % (migrations_dir, NAMING_HELP))
    return changeset, problems, warnings


def read_backfill(batch_script: str, problems: list[str]) -> dict[str, Script]:
    """The backfill's batch script and its companion <name>.count.sql, each exactly one statement."""
    if not batch_script.endswith(".sql"):
        problems.append("pg_migrate_backfill_script (%s) must name a .sql file" % batch_script)
        return {}
    scripts = {"batch": batch_script, "count": batch_script[: -len(".sql")] + ".count.sql"}
    found: dict[str, Script] = {}
    for role, path in scripts.items():
        name = os.path.basename(path)
        if not os.path.isfile(path):
            problems.append(
                "%s: no such file (pg_migrate_backfill_script names the batch script; the count script "
                "<name>.count.sql must sit beside it)" % path
            )
            continue
        read = read_text(path, name, problems)
        if read is None:
            continue
        data, text = read
        spans, sql_problems = analyse_sql(name, text, True)
        problems.extend(sql_problems)
        if spans and len(spans) != 1:
            problems.append("%s: a backfill script holds exactly one statement, this one has %d" % (name, len(spans)))
        found[role] = script_entry(name, "backfill/%s" % name, data, text, spans)
    return found


def changeset_problems_message(problems: list[str], migrations_dir: str) -> str:
    """The one message that lists every problem of the change set."""
    head = "The change set in %s has %d problem(s); nothing was changed on any host:" % (migrations_dir, len(problems))
    # No report is written before a run starts: the rest are found again once these are fixed.
    return head + "\n" + problem_list(problems, "fix these and run again to see them", SHOWN_PROBLEMS)
