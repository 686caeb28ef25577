"""Verification below the playbook: the engine's own catalog query (module_utils/run/queries.py) against a database,
compared with the change set's expectations by the engine's own comparison (verify_catalog), and the change
set's probes and verify scripts run the way verification runs them (each in a transaction rolled back)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import yaml

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.versions import version_key
from ansible_collections.pg_migrate.engine.plugins.module_utils.verify.catalog import verify_catalog
from ansible_collections.pg_migrate.engine.plugins.module_utils.verify.database_checks import (
    active_expectations,
    in_force,
)
from tests.ansible_run import ROOT
from tests.changeset import changes
from tests.pgdb import Database

ROLE_FILES = ROOT / "collections/ansible_collections/pg_migrate/engine/roles/pg_migrate/files"
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.queries import CATALOG_SQL  # noqa: E402

EXPECTED = yaml.safe_load((ROOT / "files/verify/expected_schema.yml").read_text())
PROBES = yaml.safe_load((ROOT / "files/verify/probes.yml").read_text())
HISTORY_TABLE = "pg_migrate_history"


def live_catalog(db: Database) -> dict:
    return db.query(CATALOG_SQL, {"schema": EXPECTED.get("schema", "public")})[0][0]


def catalog_checks(db: Database, version: str) -> list[dict]:
    """The catalog checks verification makes of DB at VERSION."""
    return verify_catalog(active_expectations(EXPECTED, version), live_catalog(db), [HISTORY_TABLE])


def _error(conn: psycopg.Connection, statements: list[str]) -> tuple[str, str | None] | None:
    """(SQLSTATE, constraint) of the first statement that fails, or None; always rolled back."""
    try:
        for statement in statements:
            conn.execute(statement)
        return None
    except psycopg.Error as exc:
        return exc.sqlstate, exc.diag.constraint_name
    finally:
        conn.rollback()


def probe_passes(db: Database, probe: dict) -> bool:
    """A probe passes when its fixtures apply and its statement gets the answer it expects."""
    setup = [statement for name in probe.get("fixtures", []) for statement in PROBES["fixtures"][name]]
    with db.connect() as conn:
        if setup and _error(conn, setup):
            return False
        outcome = _error(conn, [*setup, probe["statement"]])
    expect = str(probe.get("expect", "success"))
    if expect == "success":
        return outcome is None
    return outcome is not None and outcome[0] == expect and (not probe.get("object") or outcome[1] == probe["object"])


def failing_probes(db: Database, version: str) -> set[str]:
    return {f"probe {p['name']}" for p in PROBES["probes"] if in_force(p, version) and not probe_passes(db, p)}


def failing_verify_scripts(db: Database, version: str) -> set[str]:
    failing = set()
    for change in changes():
        if version_key(change.version) > version_key(version):
            continue
        with db.connect() as conn:
            if _error(conn, [change.verify.read_text()]):
                failing.add(f"verify script {Path(change.verify).name}")
    return failing
