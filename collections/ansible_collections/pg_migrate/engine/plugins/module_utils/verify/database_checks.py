# pg_migrate: verification on the database side: which expectations are in force at the database's version,
# the applied migrations' verify scripts and the behavioural probes, each in a transaction that is always
# rolled back. (The comparison of the live catalog with the expectations is done elsewhere.)

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Migration
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import describe_db_error, sqlstate_of
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import (
    NO_VERSION,
    applied_versions,
    current_version,
    version_key,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.session import Runner

PROBE_STATEMENT_TIMEOUT = "30s"


def in_force(entry: dict, version: str) -> bool:
    """Whether an expectation or probe applies at VERSION: since <= version < until."""
    key = version_key(version)
    if version_key(entry.get("since", NO_VERSION)) > key:
        return False
    return entry.get("until") in (None, "") or key < version_key(entry["until"])


def active_expectations(expected: dict | None, version: str) -> dict:
    return {
        kind: [entry for entry in entries if in_force(entry, version)] if isinstance(entries, list) else entries
        for kind, entries in (expected or {}).items()
    }


def run_in_rolled_back_transaction(runner: Runner, statements: list[str]) -> tuple | None:
    """Execute STATEMENTS; return (position, sqlstate, constraint, message) of the first error, or None. Always
    rolls back."""
    session = runner.session
    session.set_autocommit(False)
    try:
        session.rows(
            "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
            (runner.params["probe_lock_timeout"], PROBE_STATEMENT_TIMEOUT),
        )
        for position, statement in enumerate(statements):
            try:
                session.rows(statement)
            except Exception as exc:
                if sqlstate_of(exc) is None:
                    raise
                diag = getattr(exc, "diag", None)
                return position, sqlstate_of(exc), getattr(diag, "constraint_name", None), describe_db_error(exc)
        return None
    finally:
        session.rollback()


def run_probe(runner: Runner, probe: dict, fixtures: dict) -> dict:
    """One probe: its fixtures and setup, then its statement, which must succeed or fail as it expects. All in
    one transaction: an error before the statement is the setup's failure, not the probe's outcome."""
    setup = []
    for name in probe.get("fixtures", []):
        setup.extend(fixtures[name])
    setup.extend(probe.get("setup", []))
    expect = str(probe.get("expect", "success"))
    wanted = (
        "success"
        if expect == "success"
        else "SQLSTATE %s%s" % (expect, " from %s" % probe["object"] if probe.get("object") else "")
    )
    error = run_in_rolled_back_transaction(runner, [*setup, probe["statement"]])
    failed_setup = error if error and error[0] < len(setup) else None
    outcome = None if failed_setup else error
    if failed_setup:
        found = "the probe's setup failed: SQLSTATE %s: %s" % (failed_setup[1], failed_setup[3])
    elif outcome is None:
        found = "success (the statement was accepted)"
    else:
        found = "SQLSTATE %s%s: %s" % (outcome[1], " from %s" % outcome[2] if outcome[2] else "", outcome[3])
    if failed_setup:
        passed = False
    elif expect == "success":
        passed = outcome is None
    else:
        passed = (
            outcome is not None and outcome[1] == expect and (not probe.get("object") or outcome[2] == probe["object"])
        )
    message = (
        ("ok: %s" % probe["name"])
        if passed
        else ("probe failed: %s: expected %s, got %s" % (probe["name"], wanted, found))
    )
    return {
        "id": "probe %s" % probe["name"],
        "kind": "probe",
        "object": probe.get("object") or probe["name"],
        "table": probe.get("table"),
        "passed": passed,
        "message": message,
        "expected": wanted,
        "found": found,
    }


def verify_script_result(runner: Runner, migration: Migration) -> dict:
    """The verify script of an applied MIGRATION, run again and rolled back."""
    statements = [text for _number, _line, text in runner.scripts.statements(migration.verify)]
    outcome = run_in_rolled_back_transaction(runner, statements)
    script = migration.verify.script
    return {
        "id": "verify script %s" % script,
        "kind": "verify script",
        "object": script,
        "table": None,
        "passed": outcome is None,
        "expected": "no error",
        "found": "no error" if outcome is None else "SQLSTATE %s: %s" % (outcome[1], outcome[3]),
        "message": ("ok: verify script %s" % script)
        if outcome is None
        else "verify script %s failed: SQLSTATE %s: %s" % (script, outcome[1], outcome[3]),
    }


def run_verify(runner: Runner) -> dict:
    """The database's version, the expectations in force there, and one result per verify script and probe."""
    params = runner.params
    history = runner.history.read()
    version = current_version(history)
    expected_active = active_expectations(params["expected"], version)
    applied = set(applied_versions(history))
    results = [
        verify_script_result(runner, migration)
        for migration in runner.changeset.migrations
        if migration.version in applied and migration.verify
    ]
    probes = params["probes"] or {}
    for probe in probes.get("probes", []):
        if in_force(probe, version):
            results.append(run_probe(runner, probe, probes.get("fixtures", {})))
    return {"version": version, "expected_active": expected_active, "probe_results": results}
