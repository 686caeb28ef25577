# pg_migrate: the inputs the argument spec cannot check, checked on the controller before any connection.
#
# The argument spec checks types and choices; it lets an empty string through a required variable, and it
# knows nothing of PostgreSQL's duration syntax or of the controller's file system. Unchecked, each of those
# mistakes would surface late: `-e pg_migrate_db=` would connect to the login user's default database and
# migrate it; a timeout such as `2 sec` would break the run off half-way; an unwritable reports directory would
# fail the run after the database had been migrated. These functions find them all first, each naming its
# variable and the fix (pg_migrate_run reports them in one message, plugin_utils/preparation.py).

from __future__ import annotations

import os
import re
import tempfile

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.durations import is_duration


def connection_problems(database: str, login_user: str, login_host: str) -> list[str]:
    """An empty database or user makes libpq fall back to defaults: the run would touch another database."""
    problems = []
    if not str(database or "").strip():
        problems.append(
            "pg_migrate_db is empty: name the database to change, e.g. -e pg_migrate_db=xp or pg_migrate_db in the "
            "inventory (an empty name would make the connection fall back to the login user's default database)"
        )
    elif str(database) != str(database).strip():
        problems.append("pg_migrate_db (%r) has leading or trailing white space: remove it" % database)
    if not str(login_user or "").strip():
        problems.append(
            "pg_migrate_login_user is empty: name the role to log in as (the default is postgres; an empty name "
            "would make the connection fall back to the operating-system user)"
        )
    if login_host and not str(login_host).strip():
        problems.append(
            "pg_migrate_login_host is white space only: give the server's host name or address, or leave it empty "
            "to connect over the local Unix socket"
        )
    return problems


def duration_problems(durations: dict[str, object]) -> list[str]:
    """Each NAME: VALUE must be a PostgreSQL duration, or the server refuses it mid-run."""
    return [
        "%s (%r) is not a PostgreSQL duration: use a number with one of the units us, ms, s, min, h, d "
        "(e.g. 2s, 500ms, 30min; a bare number means milliseconds)" % (name, value)
        for name, value in sorted(durations.items())
        if not is_duration(value)
    ]


def number_problems(minimums: dict[str, list]) -> list[str]:
    """Each NAME: [VALUE, MINIMUM]: retries, delays and waits cannot be negative."""
    problems = []
    for name, (value, minimum) in sorted(minimums.items()):
        try:
            number = float(value)
        except (TypeError, ValueError):
            problems.append("%s (%r) must be a number" % (name, value))
            continue
        if number < float(minimum):
            problems.append("%s (%s) must be at least %s" % (name, value, minimum))
    return problems


def reports_dir_problem(path: str) -> str | None:
    """Create PATH if needed and prove a file can be written there, or say why not."""
    if not path:
        return "pg_migrate_reports_dir is empty: point it at a directory for the run reports, e.g. reports"
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".pg_migrate-write-test-"):
            pass
    except OSError as exc:
        return (
            "pg_migrate_reports_dir: cannot write the run reports to %s (%s): point pg_migrate_reports_dir at a "
            "directory this user can write, e.g. -e pg_migrate_reports_dir=$PWD/reports" % (path, exc.strerror or exc)
        )
    return None


IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def run_problems(args: dict) -> list[str]:
    """What the run itself needs: plain history identifiers, a rollback target, a backfill script, and the
    environment's approval (ARGS: action, history_schema, history_table, target_version, backfill_script,
    require_approval, approved, check_mode; absent ones are not checked)."""
    problems = []
    action = args.get("action")
    names = {key: args[key] for key in ("history_schema", "history_table") if key in args}
    if any(not IDENTIFIER.match(str(name)) for name in names.values()):
        problems.append(
            "pg_migrate_history_schema (%s) and pg_migrate_history_table (%s) must be plain lower-case SQL "
            "identifiers (letters, digits, _; at most 63), e.g. public and pg_migrate_history."
            % (names.get("history_schema"), names.get("history_table"))
        )
    if action == "rollback" and not str(args.get("target_version") or ""):
        problems.append(
            "A rollback needs the version to go back to: set pg_migrate_target_version=<version>, e.g. with "
            "-e pg_migrate_target_version=003 (000 reverts everything)."
        )
    if action == "backfill" and not args.get("backfill_script"):
        problems.append(
            "no backfill script was given: set pg_migrate_backfill_script to the batch script (its companion "
            "<name>.count.sql must exist beside it). Nothing was changed."
        )
    if args.get("require_approval") and not args.get("approved") and not args.get("check_mode") and action != "status":
        problems.append(
            "This environment requires approval before anything is changed. Review the plan first (--check "
            "--diff), then run again with -e pg_migrate_approved=true. Nothing was changed."
        )
    return problems


# A table name as SQL writes it: an identifier, plain or double-quoted, optionally after its schema's.
_NAME_PART = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"[^"]+")'
TABLE_NAME = re.compile(r"^%s(?:\.%s)?$" % (_NAME_PART, _NAME_PART))


def adopt_problems(args: dict) -> list[str]:
    """An adoption's baseline comes from the other tool's history: a baseline version besides it would say
    something else (ARGS: adopt, adopt_table, baseline_version)."""
    problems = []
    adopt, table = str(args.get("adopt") or ""), str(args.get("adopt_table") or "")
    if adopt and str(args.get("baseline_version") or ""):
        problems.append(
            "pg_migrate_adopt (%s) and pg_migrate_baseline_version (%s) both say where the baseline comes from: "
            "give one. pg_migrate_adopt reads the version from %s's history table; pg_migrate_baseline_version "
            "names it." % (adopt, args["baseline_version"], adopt)
        )
    if table and not adopt:
        problems.append("pg_migrate_adopt_table (%s) is set but pg_migrate_adopt is not: name the tool too" % table)
    if table and not TABLE_NAME.match(table):
        problems.append(
            "pg_migrate_adopt_table (%s) is not a table name: give it as SQL writes it, e.g. goose_db_version, "
            'myschema.schema_migrations or public."__EFMigrationsHistory"' % table
        )
    return problems


def input_problems(args: dict) -> list[str]:
    """Every problem of the action's arguments (database, login_user, login_host, durations, minimums,
    reports_dir, run_problems and adopt_problems), in one list."""
    problems = connection_problems(args.get("database"), args.get("login_user"), args.get("login_host"))
    problems += run_problems(args)
    problems += adopt_problems(args)
    problems += duration_problems(args.get("durations") or {})
    problems += number_problems(args.get("minimums") or {})
    reports = reports_dir_problem(str(args.get("reports_dir") or ""))
    if reports:
        problems.append(reports)
    return problems


def inputs_problems_message(problems: list[str], host: str) -> str:
    """The one message that lists every problem of the inputs for HOST."""
    lines = ["The inputs for %s have %d problem(s); nothing was changed:" % (host, len(problems))]
    return "\n".join(lines + ["  - %s" % problem for problem in problems])
