"""Someone else's project uses the engine: the README's "Use it in your own project", run as written.

The collection is built into a tarball and installed into a scratch project that holds nothing of this
repository: its inventory, its ansible.cfg and the blog's migrations (users, posts, comments; no extension,
no seed, no expected schema, no probes), and no playbook: the collection's own (pg_migrate.engine.migrate,
.status, .verify, .rollback) run from the project's directory. Ansible runs there with a fresh HOME and no
ANSIBLE_* settings, so the engine it finds is the installed one, and community.postgresql the one of the
`ansible` package. Against a real PostgreSQL database: check mode, migrate, status, verify, rollback to 001,
migrate again.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.ansible_run import ROOT, PlaybookRun
from tests.collection import readme
from tests.pgdb import Database

HOST = "blog-db"  # the inventory's host name (the README's inventory.yml)
TABLES_SQL = (
    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' "
    "AND table_name IN ('users', 'posts', 'comments') ORDER BY 1"
)
HISTORY_SQL = "SELECT version, kind, success FROM pg_migrate_history ORDER BY installed_rank"
SKIPPED = [
    "schema comparison skipped: pg_migrate_expected_schema is not set",
    "probes skipped: pg_migrate_probes is not set",
]


def _environment(db: Database, tmp_path: Path, project: Path) -> dict[str, str]:
    """A shell with nothing of this repository's Ansible setup: no ANSIBLE_* or PG* variables, no
    PYTHONPATH, a fresh HOME; then what step 1 of the section exports."""
    exported = {**db.server.libpq_env(db.name), "PGSSLMODE": "disable"}  # the test server has no TLS
    return readme.operator_shell(tmp_path, PROJECT=str(project), **exported)


def _run(command: str, cwd: Path, env: dict[str, str]) -> PlaybookRun:
    return readme.run(["bash", "-euo", "pipefail", "-c", command], cwd, env, timeout=300)


def _tables(db: Database) -> list[str]:
    return [row[0] for row in db.query(TABLES_SQL)]


def _history(db: Database) -> list[tuple]:
    if not db.scalar("SELECT to_regclass('pg_migrate_history') IS NOT NULL"):
        return []
    return db.query(HISTORY_SQL)


def _report(project: Path, kind: str) -> dict:
    return json.loads((project / "reports" / HOST / f"{kind}.json").read_text())


def test_readme_section_is_complete():
    """The section shows the two project files and exports what its inventory reads."""
    text = readme.section()
    assert set(readme.project_files(text)) == {"inventory.yml", "ansible.cfg"}
    exported = readme.exported_variables(text)
    for name in ("PATH", "PROJECT", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE"):
        assert name in exported, name
    setup, steps = readme.commands(text)
    assert "ansible-galaxy collection build" in setup and "ansible-galaxy collection install" in setup
    assert sum(step.startswith("ansible-playbook pg_migrate.engine.") for step in steps) == 6


def test_a_foreign_project_installs_the_collection_and_rolls_out(db: Database, tmp_path: Path):
    text = readme.section()
    project = tmp_path / "blog"
    readme.write_project(project, readme.project_files(text))
    env = _environment(db, tmp_path, project)
    # Step 1 asks for these; the environment above has all of them (PGPASSWORD from the test server).
    assert set(readme.exported_variables(text)) <= set(env)
    setup, steps = readme.commands(text)
    doc, check, migrate, status, verify, rollback, again = steps
    assert doc.startswith("ansible-doc ") and check.endswith("--check --diff")
    assert "pg_migrate.engine.rollback" in rollback and "pg_migrate_target_version=001" in rollback
    assert "pg_migrate.engine.status" in status and "pg_migrate.engine.verify" in verify

    # Build and install, in this repository; the project then holds only its own files and the collection.
    _run(setup, ROOT, env).assert_ok()  # it ends in the project (cd "$PROJECT")
    assert sorted(p.name for p in project.iterdir()) == [
        "ansible.cfg",
        "collections",
        "inventory.yml",
        "migrations",
    ]
    installed = project / "collections" / "ansible_collections" / "pg_migrate" / "engine"
    assert json.loads((installed / "MANIFEST.json").read_text())["collection_info"]["name"] == "engine"
    assert sorted(p.name for p in (project / "migrations").iterdir()) == sorted(
        p.name for p in (Path(__file__).parent / "blog" / "migrations").iterdir()
    )

    # ansible-doc finds the module in the installed collection, not in this repository.
    documented = _run(doc, project, env).assert_ok()
    assert f"({installed}/plugins/modules/pg_migrate.py)" in documented.output
    assert str(ROOT / "collections") not in documented.raw

    # Check mode: the plan, and nothing changed.
    planned = _run(check, project, env).assert_ok()
    assert f"{HOST} {db.name}: 000 -> 003 (check mode: would apply 3)" in planned.output
    for script in ("V001__users.sql", "V002__posts.sql", "V003__comments.sql"):
        assert f"would run: {script} (pending)" in planned.output
    assert _tables(db) == [] and _history(db) == []

    # Migrate: three migrations, each with its verify script, then verification with what it skipped.
    applied = _run(migrate, project, env).assert_ok()
    for script in ("V001__users.sql", "V002__posts.sql", "V003__comments.sql"):
        assert f"applied {script} in" in applied.output
    assert f"{HOST} {db.name}: verification at version 003: 3 passed, 0 failed, 0 warning(s)" in applied.output
    for note in SKIPPED:
        assert note in applied.output
    assert _tables(db) == ["comments", "posts", "users"]
    assert _history(db) == [("001", "migration", True), ("002", "migration", True), ("003", "migration", True)]
    assert _report(project, "migrate")["kind"] == "migrate"

    # Status: read-only.
    looked = _run(status, project, env).assert_ok()
    assert f"{HOST} {db.name}: 003 -> 003 (status: 0 pending)" in looked.output
    assert looked.changed == 0
    assert _report(project, "status")["kind"] == "status"

    # Verify on demand: the verify scripts pass; the report says what was skipped.
    verified = _run(verify, project, env).assert_ok()
    assert f"{HOST} {db.name}: verification at version 003: 3 passed, 0 failed, 0 warning(s)" in verified.output
    report = _report(project, "verify")
    assert report["version"] == "003" and report["skipped"] == SKIPPED
    assert report["summary"] == {"passed": 3, "failed": 0, "warnings": 0}
    assert [check["id"] for check in report["checks"]] == [
        f"verify script {name}"
        for name in ("V001__users.verify.sql", "V002__posts.verify.sql", "V003__comments.verify.sql")
    ]

    # Roll back to 001: comments and posts go, users stays.
    reverted = _run(rollback, project, env).assert_ok()
    assert f"{HOST} {db.name}: rollback 003 -> 001" in reverted.output
    assert "reverted U003__comments.sql in" in reverted.output and "reverted U002__posts.sql in" in reverted.output
    assert _tables(db) == ["users"]
    assert _history(db) == [("001", "migration", True)]
    assert _report(project, "rollback")["kind"] == "rollback"

    # Migrate again: back at 003.
    reapplied = _run(again, project, env).assert_ok()
    assert f"{HOST} {db.name}: 001 -> 003" in reapplied.output
    assert "applied V001__users.sql" not in reapplied.output
    assert _tables(db) == ["comments", "posts", "users"]
    assert [row[0] for row in _history(db)] == ["001", "002", "003"]

    # Every report is under the project, none above it or in this repository.
    reports = sorted(p.name for p in (project / "reports" / HOST).iterdir())
    for kind in ("migrate", "status", "verify", "rollback"):
        assert f"{kind}.json" in reports and f"{kind}.junit.xml" in reports
    outside = [p for p in tmp_path.rglob("*.json") if "reports" in p.parts and not p.is_relative_to(project)]
    assert outside == []
    assert not (ROOT / "reports" / HOST).exists()
