# pg_migrate: adoption, what another tool's history table says is applied, and the baseline it makes.
#
# A database another tool migrated (golang-migrate, dbmate, goose, Flyway, diesel, EF Core) has that tool's
# history table instead of ours. One reader per tool turns the table's rows into the versions it applied, by
# the version identity rule the importer names its files with (importing/names.py, history_version - the one
# place it is written): golang-migrate and goose the integer, dbmate and diesel the digits, Flyway its dotted
# version, EF Core the 14-digit timestamp of the MigrationId. adopted_up_to then checks that those versions are
# exactly a prefix of the change set, because a baseline records "everything up to X". No I/O here:
# run/foreign_history.py reads the rows, and the tests call this directly.

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import VERSION_PATTERN, version_key
from ansible_collections.pg_migrate.engine.plugins.module_utils.importing.names import history_version

# Each tool's history table as the tool names it (unqualified: the tools find it on the search_path too).
DEFAULT_TABLES = {
    "golang-migrate": "schema_migrations",
    "dbmate": "schema_migrations",
    "goose": "goose_db_version",
    "flyway": "flyway_schema_history",
    "diesel": "__diesel_schema_migrations",
    "efcore": '"__EFMigrationsHistory"',
}
TOOLS = tuple(DEFAULT_TABLES)


@dataclass(frozen=True)
class ForeignHistory:
    """What TOOL's history TABLE says: the versions it applied (APPLIED, as the identity rule spells them),
    everything up to UP_TO applied as well (Flyway's BASELINE row; None: no such floor), what forbids adopting
    it (PROBLEMS: a dirty or failed run, an unreadable table) and what was read but does not count (NOTES)."""

    tool: str
    table: str
    applied: tuple[str, ...] = ()
    up_to: str | None = None
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _not_versions(tool: str, versions: list[str]) -> list[str]:
    return [
        "%s records version %r, which is not a version pg_migrate can compare (digits, optionally dotted): "
        "it cannot be matched with a migration here" % (tool, version)
        for version in versions
        if not VERSION_PATTERN.match(version)
    ]


def _history(tool: str, table: str, applied: list[str], problems: list[str], **more: object) -> ForeignHistory:
    """The history of APPLIED versions (as the importer names the files: history_version), refused with PROBLEMS
    plus any version that is not one."""
    applied = [history_version(tool, version) for version in applied]
    problems = problems + _not_versions(tool, applied)
    return ForeignHistory(tool, table, tuple(applied), problems=tuple(problems), **more)


def golang_migrate(rows: list[dict], table: str) -> ForeignHistory:
    """schema_migrations(version bigint, dirty boolean): ONE row, the current version; every migration up to
    it ran (golang-migrate applies in order only). An empty table: nothing applied (or all migrated down)."""
    if len(rows) > 1:
        problem = "%s has %d rows, golang-migrate keeps exactly one: it is not golang-migrate's history" % (
            table,
            len(rows),
        )
        return ForeignHistory("golang-migrate", table, problems=(problem,))
    if not rows:
        return ForeignHistory("golang-migrate", table)
    version = str(rows[0]["version"])
    problems = []
    if rows[0]["dirty"]:
        problems.append(
            "golang-migrate marks version %s dirty: a migration failed half-way; fix the database and "
            "`migrate force`, then adopt" % version
        )
    # Its one version must be a migration here (APPLIED), and everything below it counts as applied (UP_TO).
    return _history("golang-migrate", table, [version], problems, up_to=version if not problems else None)


def dbmate(rows: list[dict], table: str) -> ForeignHistory:
    """schema_migrations(version varchar(128)): one row per applied version."""
    return _history("dbmate", table, [str(row["version"]) for row in rows], [])


def goose(rows: list[dict], table: str) -> ForeignHistory:
    """goose_db_version(id, version_id, is_applied): a version is applied when its latest row (highest id) says
    so; version 0 is the row goose writes when it creates the table."""
    latest: dict[int, bool] = {}
    for row in sorted(rows, key=lambda row: row["id"]):
        latest[int(row["version_id"])] = bool(row["is_applied"])
    applied = [str(version) for version, is_applied in sorted(latest.items()) if is_applied and version != 0]
    return _history("goose", table, applied, [])


def _flyway_row(row: dict, applied: dict[str, str], problems: list[str], notes: list[str]) -> str | None:
    """One row of Flyway's history into APPLIED (version -> script), PROBLEMS and NOTES; a BASELINE row's version."""
    version, kind, script = row["version"], str(row["type"]).upper(), row["script"]
    if not row["success"]:
        problems.append(
            "flyway records %s (%s) as failed (success = false): fix the database and run `flyway repair`, "
            "then adopt" % ("version %s" % version if version else "a repeatable migration", script)
        )
        return None
    if version is None:  # a repeatable migration (R__), or the row of a schema Flyway created
        if kind != "SCHEMA":
            notes.append("flyway's repeatable migration %s does not count for the baseline" % script)
        return None
    if kind == "BASELINE":
        return version
    if kind.startswith("UNDO") or kind == "DELETE":  # undone (Flyway Teams), or removed by `flyway repair`
        applied.pop(version, None)
        return None
    if "JDBC" in kind:
        notes.append(
            "flyway's version %s ran as Java (%s): its migration here must do what that class did" % (version, script)
        )
    applied[version] = script
    return None


def flyway(rows: list[dict], table: str) -> ForeignHistory:
    """flyway_schema_history, in installed_rank order: SQL and JDBC rows applied, UNDO_SQL rows undone, a
    BASELINE row's version and everything below it applied, repeatables (version NULL) not versions at all."""
    applied: dict[str, str] = {}
    problems: list[str] = []
    notes: list[str] = []
    baselines = []
    for row in sorted(rows, key=lambda row: row["installed_rank"]):
        baseline = _flyway_row(row, applied, problems, notes)
        if baseline is not None:
            baselines.append(baseline)
    problems += _not_versions("flyway", baselines)
    up_to = max(baselines, key=version_key) if baselines and not problems else None
    return _history("flyway", table, list(applied), problems, up_to=up_to, notes=tuple(notes))


def diesel(rows: list[dict], table: str) -> ForeignHistory:
    """__diesel_schema_migrations(version): the migration directory's prefix, its `-` removed."""
    return _history("diesel", table, [str(row["version"]) for row in rows], [])


def efcore(rows: list[dict], table: str) -> ForeignHistory:
    """ "__EFMigrationsHistory"("MigrationId"): <14-digit timestamp>_<Name>; the version is the timestamp."""
    applied, problems = [], []
    for row in rows:
        stamp = str(row["MigrationId"]).split("_", 1)[0]
        if len(stamp) == 14 and stamp.isdigit():
            applied.append(stamp)
        else:
            problems.append(
                "EF Core's MigrationId %r does not start with a 14-digit timestamp: it cannot be matched with a "
                "migration here" % row["MigrationId"]
            )
    return _history("efcore", table, applied, problems)


READERS: dict[str, Callable[[list[dict], str], ForeignHistory]] = {
    "golang-migrate": golang_migrate,
    "dbmate": dbmate,
    "goose": goose,
    "flyway": flyway,
    "diesel": diesel,
    "efcore": efcore,
}


def _gap_problem(gaps: list[str], highest: str, tool: str) -> str:
    return (
        "version(s) %s of the change set sort below %s, the highest version %s applied, but %s did not apply "
        "them: a baseline records everything up to one version. Apply them with %s first, or renumber them "
        "above %s" % (", ".join(gaps), highest, tool, tool, tool, highest)
    )


def adopted_up_to(foreign: ForeignHistory, versions: list[str]) -> tuple[str | None, list[str]]:
    """(the change set's version a baseline records up to, None when the tool applied none of them; the
    problems that refuse the adoption). VERSIONS: the change set's migrations. What the tool applied must be
    exactly the first migrations here in version order: no version without a file here, and no file below
    the highest one it applied that it skipped."""
    if foreign.problems:
        return None, list(foreign.problems)
    by_key = {version_key(version): version for version in versions}
    applied = {version_key(version): version for version in foreign.applied}
    floor = version_key(foreign.up_to) if foreign.up_to else None
    problems = []
    extra = [applied[key] for key in sorted(applied) if key not in by_key]
    if extra:
        problems.append(
            "version(s) %s applied by %s (%s) but not in the change set: import them or remove the rows"
            % (", ".join(extra), foreign.tool, foreign.table)
        )
    # The versions here the tool applied (by name, or below Flyway's baseline / golang-migrate's one version).
    counted = {key for key in by_key if key in applied or (floor is not None and key <= floor)}
    if not counted:
        return None, problems
    highest = max(counted)
    gaps = [by_key[key] for key in sorted(by_key) if key < highest and key not in counted]
    if gaps:
        problems.append(_gap_problem(gaps, by_key[highest], foreign.tool))
    return (None, problems) if problems else (by_key[highest], [])
