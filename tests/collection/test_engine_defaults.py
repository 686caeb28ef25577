"""The engine's defaults suit a project that has only migrations: what it lacks is refused early, by name.

(That a project without seeds, expected schema or probes migrates and verifies is test_foreign_project.py.)
"""

from __future__ import annotations

from pathlib import Path

from tests.ansible_run import BIN, ROOT, PlaybookRun
from tests.collection import readme


def _run_in_project(project: Path, playbook: str, *args: str, env: dict[str, str]) -> PlaybookRun:
    return readme.run([str(BIN / "ansible-playbook"), playbook, *args], project, env, timeout=120)


def test_a_backfill_without_a_script_is_refused_before_anything_connects(tmp_path: Path):
    """The README's project, pointed at a port where nothing listens: the refusal comes before any connection."""
    project = tmp_path / "blog"
    readme.write_project(project, readme.project_files(readme.section()))
    (project / "migrations").mkdir()
    env = readme.outsider_environment()
    env.update(
        HOME=str(tmp_path),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),  # this repository's copy: nothing to build
        PGHOST="127.0.0.1",
        PGPORT="1",
        PGDATABASE="blog",
        PGUSER="blog_owner",
    )
    refused = _run_in_project(project, "pg_migrate.engine.backfill", env=env).assert_failed()
    assert (
        "no backfill script was given: set pg_migrate_backfill_script to the batch script "
        "(its companion <name>.count.sql must exist beside it). Nothing was changed." in refused.output
    )
    assert "Cannot connect" not in refused.output and "postgresql_ping" not in refused.output
    assert refused.recap["blog-db"]["failed"] == 1
