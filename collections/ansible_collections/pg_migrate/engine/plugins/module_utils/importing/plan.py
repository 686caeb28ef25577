# pg_migrate: from another tool's migrations to the engine's files, without touching a disk.
#
# plan_import() runs the tool's converter (importing/<tool>.py) over the source directory's files and names each
# script as the engine does (names.py): V<version>__<description>.sql, U... for its revert, R__... for a
# repeatable script, with the no-transaction marker where the source says so or a statement needs it. Everything
# it changed on the way, every revert it carried or could not, and everything it left behind is in the plan, for
# the operator to read: nothing is dropped without a line.

from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import version_key
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing import (
    dbmate,
    diesel,
    efcore,
    flyway,
    golang_migrate,
    goose,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.model import (
    Conversion,
    SourceFiles,
    SourceMigration,
    SourceScript,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.names import (
    KEPT_PUNCTUATION,
    SOURCE_TOOLS,
    engine_description,
    engine_file_name,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.sql_text import (
    is_comment_only,
    needs_outside_transaction,
    tidy,
    with_marker,
)

CONVERTERS = {
    "golang-migrate": golang_migrate.convert,
    "goose": goose.convert,
    "dbmate": dbmate.convert,
    "flyway": flyway.convert,
    "diesel": diesel.convert,
    "efcore": efcore.convert,
}
# An empty migration still holds its version (adopt finds it there): it becomes a statement that does nothing.
EMPTY_DEPLOY = "SELECT 1;  -- empty in the source: kept so that the version stays in the history\n"


@dataclass
class ImportPlan:
    tool: str
    files: dict[str, str] = field(default_factory=dict)  # engine file name -> text, in version order
    sources: dict[str, str] = field(default_factory=dict)  # engine file name -> the source file
    reverts: list[str] = field(default_factory=list)  # a line per migration: its revert, or why it has none
    markers: list[str] = field(default_factory=list)  # a line per no-transaction marker added, with the reason
    notes: list[str] = field(default_factory=list)  # what changed on the way
    not_carried: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def unknown_tool(tool: str) -> str:
    return "pg_migrate_import_from: %r is not a tool the importer knows: use one of %s" % (
        tool,
        ", ".join(SOURCE_TOOLS),
    )


def duplicate_versions(conversion: Conversion) -> list[str]:
    """A problem per version that two source migrations map to (000001 and 1 are one version)."""
    seen: dict[tuple, SourceMigration] = {}
    problems = []
    for migration in conversion.migrations:
        key = version_key(migration.version)
        if key in seen:
            problems.append(
                "%s and %s: both are version %s: renumber one of them in the source, then import again"
                % (seen[key].deploy.source, migration.deploy.source, migration.version)
            )
        seen.setdefault(key, migration)
    return problems


def script_text(plan: ImportPlan, name: str, script: SourceScript) -> str:
    """SCRIPT's text as the engine's file NAME, with the marker where it must run outside a transaction."""
    reason = script.no_transaction
    needs = needs_outside_transaction(script.text)
    if needs and not reason:
        reason = "%s cannot run inside a transaction" % needs[0]
    plan.notes.extend("%s: %s" % (name, note) for note in script.notes)
    if not reason:
        return tidy(script.text)
    plan.markers.append("%s: runs outside a transaction (%s)" % (name, reason))
    return with_marker(tidy(script.text))


def add_file(plan: ImportPlan, name: str, text: str, source: str) -> None:
    if name in plan.files:
        plan.problems.append(
            "%s and %s: both would be written as %s: rename one of them in the source"
            % (plan.sources[name], source, name)
        )
        return
    plan.files[name] = text
    plan.sources[name] = source


def description_of(plan: ImportPlan, description: str, source: str) -> str:
    """The engine's description of DESCRIPTION, with a note when it had to change."""
    written = engine_description(description)
    if written != description:
        allowed = "letters, digits, _%s" % "".join(", " + character for character in KEPT_PUNCTUATION)
        plan.notes.append(
            "%s: description %r written as %s (the engine's file names take %s)"
            % (source, description, written, allowed)
        )
    return written


def add_migration(plan: ImportPlan, migration: SourceMigration) -> None:
    description = description_of(plan, migration.description, migration.deploy.source)
    deploy = engine_file_name("deploy", migration.version, description)
    if is_comment_only(migration.deploy.text):
        plan.notes.append(
            "%s: empty in the source: written as `SELECT 1;` to keep version %s" % (deploy, migration.version)
        )
        add_file(plan, deploy, EMPTY_DEPLOY, migration.deploy.source)
    else:
        add_file(plan, deploy, script_text(plan, deploy, migration.deploy), migration.deploy.source)
    revert = migration.revert
    if revert is None:
        plan.reverts.append("%s has no revert (the source has no down script for it)" % deploy)
    elif is_comment_only(revert.text):
        # The engine reads an empty or comment-only revert as "nothing to undo", as diesel and dbmate do: the
        # file is carried, so a rollback past this version removes its history row instead of refusing.
        name = engine_file_name("revert", migration.version, description)
        text = revert.text if revert.text.strip() else "-- nothing to undo: the down script was empty\n"
        add_file(plan, name, text, revert.source)
        plan.reverts.append(
            "%s reverts %s with nothing to undo (empty down in %s): a rollback past it removes its history row "
            "only" % (name, deploy, revert.source)
        )
    else:
        name = engine_file_name("revert", migration.version, description)
        add_file(plan, name, script_text(plan, name, revert), revert.source)
        plan.reverts.append("%s reverts %s (from %s)" % (name, deploy, revert.source))


def plan_import(tool: str, files: SourceFiles) -> ImportPlan:
    """What importing FILES (the source directory: relative path -> text) from TOOL writes, and why."""
    plan = ImportPlan(tool)
    if tool not in CONVERTERS:
        plan.problems.append(unknown_tool(tool))
        return plan
    conversion = CONVERTERS[tool](files)
    plan.not_carried.extend(conversion.not_carried)
    plan.problems.extend(conversion.problems + duplicate_versions(conversion))
    if plan.problems:
        return plan
    if not conversion.migrations and not conversion.repeatables:
        plan.problems.append("no %s migrations found among %d file(s)" % (tool, len(files)))
        return plan
    for migration in sorted(conversion.migrations, key=lambda m: version_key(m.version)):
        add_migration(plan, migration)
    for repeatable in conversion.repeatables:
        name = engine_file_name(
            "repeatable", None, description_of(plan, repeatable.description, repeatable.script.source)
        )
        add_file(plan, name, script_text(plan, name, repeatable.script), repeatable.script.source)
    return plan
