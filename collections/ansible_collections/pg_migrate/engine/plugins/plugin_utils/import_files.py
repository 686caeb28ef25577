# pg_migrate: the import's disk work on the controller - read the other tool's directory, check the destination,
# prove the result is a change set the engine takes, and only then write it. Used by the pg_migrate_import
# action (playbooks/import.yml); module_utils/importing/ holds the conversion itself, without a disk.
#
# The order is the promise: every problem (the inputs, the source's files, a file the import would overwrite, a
# set the engine's discovery refuses) is found before the first file is written, and check mode writes nothing.

from __future__ import annotations

import os
import shutil
import tempfile

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.discovery import build_changeset, strip_bom
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.files import write_atomically
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.model import SourceFiles
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.names import SOURCE_TOOLS
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.plan import (
    ImportPlan,
    plan_import,
    unknown_tool,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.report import import_result


def read_source(directory: str) -> SourceFiles:
    """Every file under DIRECTORY by its relative POSIX path, as text (None when it is not UTF-8). Hidden files
    and directories (.gitkeep, .git) are no tool's migrations and are left out."""
    files: SourceFiles = {}
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(name for name in dirs if not name.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            relative = os.path.relpath(path, directory).replace(os.sep, "/")
            with open(path, "rb") as handle:
                data = handle.read()
            try:
                files[relative] = strip_bom(data.decode("utf-8"))
            except UnicodeDecodeError:
                files[relative] = None
    return files


def input_problems(tool: str, source: str, dest: str) -> list[str]:
    """What is wrong with the three inputs, each naming its playbook variable and the fix."""
    problems = []
    if tool not in SOURCE_TOOLS:
        problems.append(unknown_tool(tool))
    if not source or not os.path.isdir(source):
        problems.append(
            "pg_migrate_import_source: %r is not a directory: give the directory that holds the %s migrations"
            % (source, tool)
        )
    if not dest:
        problems.append("pg_migrate_import_dest: empty: give the directory to write the migrations into")
    elif os.path.exists(dest) and not os.path.isdir(dest):
        problems.append("pg_migrate_import_dest: %s is a file, not a directory: give a directory" % dest)
    elif source and os.path.isdir(source) and os.path.realpath(dest) == os.path.realpath(source):
        problems.append("pg_migrate_import_dest: the source directory itself: write the migrations elsewhere")
    return problems


def existing(dest: str, plan: ImportPlan) -> tuple[list[str], list[str]]:
    """(files of the plan that DEST already holds with the same text, problems for those it holds otherwise)."""
    same, problems = [], []
    for name, text in plan.files.items():
        path = os.path.join(dest, name)
        if not os.path.lexists(path):
            continue
        with open(path, "rb") as handle:
            if handle.read() == text.encode("utf-8"):
                same.append(name)
                continue
        problems.append(
            "%s exists with other content: the import would overwrite it - import into an empty directory "
            "(pg_migrate_import_dest), or move the file away first" % path
        )
    return same, problems


def engine_problems(dest: str, plan: ImportPlan) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the engine's own discovery over what DEST would hold after the import: the files
    already there and the plan's, in a scratch directory."""
    staging = tempfile.mkdtemp(prefix="pg_migrate-import-")
    try:
        if os.path.isdir(dest):
            for name in os.listdir(dest):
                if os.path.isfile(os.path.join(dest, name)):
                    shutil.copy(os.path.join(dest, name), os.path.join(staging, name))
        for name, text in plan.files.items():
            write_atomically(os.path.join(staging, name), text)
        _changeset, problems, warnings = build_changeset(staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return (["the engine would refuse the imported set: %s" % problem for problem in problems], warnings)


def run_import(tool: str, source: str, dest: str, check: bool = False) -> dict:
    """Import TOOL's migrations in SOURCE into DEST (nothing written in CHECK mode); the result as the action
    returns it, with failed and msg when a problem stopped it before anything was written."""
    source, dest = os.path.abspath(source) if source else source, os.path.abspath(dest) if dest else dest
    problems = input_problems(tool, source, dest)
    if problems:
        return import_result(ImportPlan(tool, problems=problems), source, dest, check)
    plan = plan_import(tool, read_source(source))
    same: list[str] = []
    warnings: list[str] = []
    if not plan.problems:
        same, plan.problems = existing(dest, plan)
    if not plan.problems:
        plan.problems, warnings = engine_problems(dest, plan)
    if plan.problems or check:
        return import_result(plan, source, dest, check, same, warnings)
    os.makedirs(dest, exist_ok=True)
    for name, text in plan.files.items():
        if name not in same:
            write_atomically(os.path.join(dest, name), text)
    _changeset, after, _warnings = build_changeset(dest)  # the directory as the engine will read it
    plan.problems = ["after writing, the engine refuses %s: %s" % (dest, problem) for problem in after]
    return import_result(plan, source, dest, check, same, warnings)
