"""The README's "Roll it out to an environment of your own", run exactly as written.

A newcomer follows only the README: this test extracts its marked bash blocks and runs them with
bash in a scratch copy of the repository (the tracked files, as a clone has them), with nothing but
the environment variables the README tells the reader to set. A second, fresh database of the test
server stands in for the new environment. When the README's steps are wrong (a misspelt variable,
a missing step, a wrong path), these tests fail.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.ansible_run import ROOT
from tests.changeset import changes
from tests.pgdb import Database
from tests.role.conftest import history

README = ROOT / "README.md"
# The line of the walkthrough where the reader stops to review the plan: the test checks the state
# of the database there, before the apply.
REVIEW_MARKER = "# ---- Stop here and review the plan above"
# What the test prints into the walkthrough's output to find its parts again.
PAUSED = "@@ walkthrough: the reader reviews the plan here @@"
AGAIN = "@@ walkthrough: migrate once more @@"
VAULT_PASSWORD = "walkthrough-vault-password"
# What .gitignore keeps out of a clone, for a scratch copy made without git.
UNTRACKED = (".git", ".venv", ".local", "reports", "build", "__pycache__", ".pytest_cache", ".ruff_cache")


def readme_block(name: str) -> str:
    """The one fenced bash block between <!-- NAME:begin --> and <!-- NAME:end --> in the README."""
    text = README.read_text()
    found = re.findall(rf"<!-- {name}:begin -->\n(.*?)<!-- {name}:end -->", text, re.DOTALL)
    assert len(found) == 1, f"README.md needs exactly one <!-- {name}:begin --> ... <!-- {name}:end --> pair"
    block = re.fullmatch(r"\s*```bash\n(.*?)```\s*", found[0], re.DOTALL)
    assert block, f"the {name} markers must enclose exactly one ```bash block"
    return block.group(1)


def split_at_review(script: str) -> tuple[str, str]:
    """(everything up to the check-mode run, the apply and what follows it)."""
    lines = script.splitlines(keepends=True)
    marks = [i for i, line in enumerate(lines) if line.startswith(REVIEW_MARKER)]
    assert len(marks) == 1, f"the walkthrough needs exactly one line starting with {REVIEW_MARKER!r}"
    return "".join(lines[: marks[0]]), "".join(lines[marks[0] :])


@dataclass
class Shell:
    """Bash in the scratch repository, with only the environment a newcomer's shell has."""

    repo: Path
    env: dict[str, str]
    scripts: Path

    def run(
        self,
        name: str,
        script: str,
        *,
        stdin: str = "",
        at_review: Callable[[str], None] | None = None,
        timeout: float = 600,
    ) -> tuple[int, str]:
        """Run SCRIPT in one bash, as a reader pastes it into one shell: (exit status, stdout + stderr).

        With AT_REVIEW, the script pauses at the review marker, as the reader does, and AT_REVIEW gets
        the output so far while nothing else runs; then the script goes on.
        """
        paused, resume = self.scripts / f"{name}.paused", self.scripts / f"{name}.resume"
        if at_review is not None:
            before, after = split_at_review(script)
            wait = f"while [ ! -e {shlex.quote(str(resume))} ]; do sleep 0.1; done"
            script = f"{before}echo {shlex.quote(PAUSED)}; : >{shlex.quote(str(paused))}; {wait}\n{after}"
        path, out, given = (self.scripts / f"{name}{ext}" for ext in (".sh", ".out", ".stdin"))
        path.write_text(script)
        given.write_text(stdin)
        with given.open() as stdin_file, out.open("w") as out_file:
            proc = subprocess.Popen(
                ["bash", "-euo", "pipefail", str(path)],
                cwd=self.repo,
                env=self.env,
                stdin=stdin_file,
                stdout=out_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        try:
            if at_review is not None:
                while not paused.exists() and proc.poll() is None:
                    assert time.monotonic() < deadline, f"{name}: no review pause after {timeout} s"
                    time.sleep(0.2)
                if paused.exists():
                    at_review(out.read_text())
                resume.touch()
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if proc.poll() is None:  # a failed check during the pause, or a hang: end the whole run
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return proc.returncode, out.read_text()


def _scratch_copy(target: Path) -> Path:
    """The repository's tracked files (what a clone has), with the project's virtualenv linked in."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=False)
    if listed.returncode == 0:
        for name in filter(None, listed.stdout.split("\0")):
            source = ROOT / name
            if source.is_file():  # a tracked file someone deleted in the working tree is not copied (a link: as one)
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name, follow_symlinks=False)
    else:  # not a git checkout (an unpacked archive): everything but what git ignores
        shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(*UNTRACKED), symlinks=True)
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


def _newcomer_environment(home: Path) -> dict[str, str]:
    """This process's environment without anything that would do the README's work for it: no
    libpq or pg_migrate variables, no Ansible settings, the virtualenv not on PATH, a fresh HOME."""
    venv_bin = (ROOT / ".venv" / "bin").resolve()
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != venv_bin]
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PG", "ANSIBLE_", "MINE_")) and key not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    home.mkdir()
    env.update(HOME=str(home), PATH=os.pathsep.join(path))
    return env


@pytest.fixture
def shell(db: Database, tmp_path: Path) -> Shell:
    """The scratch repository and step 1 of the README: the stand-in database's connection."""
    repo = _scratch_copy(tmp_path / "repo")
    env = _newcomer_environment(tmp_path / "home")
    env.update(
        MINE_DB_HOST=db.server.host,
        MINE_DB_PORT=str(db.server.port),
        MINE_DB_NAME=db.name,
        MINE_DB_USER=db.server.user,
        MINE_DB_SSLMODE="disable",  # the test server has no TLS
    )
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    return Shell(repo, env, scripts)


def _new_inventory(repo: Path) -> Path:
    """The inventory the walkthrough created (the one that is not in the repository)."""
    tracked = {p.name for p in (ROOT / "inventories").iterdir() if p.is_dir()}
    created = [p for p in (repo / "inventories").iterdir() if p.is_dir() and p.name not in tracked]
    assert len(created) == 1, f"the walkthrough should create one inventory, found {created}"
    return created[0]


def _hosts(inventory: Path) -> list[str]:
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    return list(hosts["all"]["children"]["pg_migrate_targets"]["hosts"])


def _folded(output: str) -> str:
    """White space folded: Ansible wraps long message lines at will."""
    return " ".join(output.split())


def _assert_ok(result: tuple[int, str]) -> str:
    returncode, output = result
    assert returncode == 0, output[-8000:]
    return output


def _files_containing(directory: Path, secret: str) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def _migrate_command(script: str) -> str:
    """The README's own apply command (the plain migrate.yml run after the review)."""
    for line in split_at_review(script)[1].splitlines():
        if line.startswith("ansible-playbook ") and "playbooks/migrate.yml" in line and "--check" not in line:
            return line
    raise AssertionError("the walkthrough has no apply step (ansible-playbook ... playbooks/migrate.yml)")


def test_a_newcomer_rolls_the_change_to_an_environment_of_their_own(db: Database, shell: Shell):
    password = db.server.password
    shell.env["PG_MIGRATE_PASSWORD"] = password  # step 2, the environment variable
    walkthrough = readme_block("walkthrough")
    latest, count = changes()[-1].version, len(changes())
    empty_schema = db.schema_dump()
    reviewed: list[str] = []

    def review(plan: str) -> None:
        """At the review marker: the plan is shown, and nothing has changed."""
        [host] = _hosts(_new_inventory(shell.repo))
        plan = _folded(plan)
        assert f"{host} {db.name}: 000 -> {latest} (check mode: would apply {count})" in plan
        for change in changes():
            assert f"would run: {change.deploy.name} (pending)" in plan  # --diff shows the SQL
        assert history(db) == [], "the check-mode step wrote history"
        assert db.scalar("SELECT to_regclass('pg_migrate_history')") is None
        assert db.schema_dump() == empty_schema, "the check-mode step changed the schema"
        db.close()  # nothing of ours stays connected while the walkthrough applies
        reviewed.append(host)

    # The whole block in one shell, then (as the README says is safe) migrate once more.
    script = f"{walkthrough}\necho {shlex.quote(AGAIN)}\n{_migrate_command(walkthrough)}\n"
    output = _assert_ok(shell.run("walkthrough", script, at_review=review))
    assert reviewed, "the walkthrough never reached the review marker"
    [host] = reviewed
    _, applied, again = (_folded(part) for part in re.split(f"{re.escape(PAUSED)}|{re.escape(AGAIN)}", output))

    # Apply, verify and status: the database is at the latest version, and verified.
    migrations = [row for row in history(db) if row[3] == "migration"]
    assert [row[0] for row in migrations] == [change.version for change in changes()]
    assert all(row[4] for row in migrations), migrations
    report = json.loads((shell.repo / "reports" / host / "verify.json").read_text())
    assert report["database"] == db.name
    assert report["summary"]["failed"] == 0 and report["summary"]["passed"] > 0, report["summary"]
    assert f"{host} {db.name}: {latest} -> {latest} (status: 0 pending)" in applied
    assert "verify.json" in applied  # the last step lists the reports

    # The second migrate: nothing pending, nothing changed.
    assert f"nothing pending: already at {latest}" in again
    assert re.search(rf"{re.escape(host)} : ok=\d+ changed=0 unreachable=0 failed=0", again), again[-3000:]

    # The password was never shown and never written: not in the output, not in the new inventory,
    # the reports or the copied scripts, and nothing left in HOME (Ansible's remote tmp, async job files).
    assert password not in output
    inventory = _new_inventory(shell.repo)
    for directory in (inventory, shell.repo / "reports", shell.repo / ".local", Path(shell.env["HOME"])):
        assert _files_containing(directory, password) == [], directory


def test_the_vault_route_keeps_the_password_encrypted_and_is_used(db: Database, shell: Shell):
    """Step 2's other route, in the same shell as the walkthrough up to the review, with no
    PG_MIGRATE_PASSWORD at all. The vault and login passwords are typed on stdin, as `read` asks."""
    password = db.server.password
    before_plan, _ = split_at_review(readme_block("walkthrough"))
    script = readme_block("walkthrough-vault") + before_plan
    output = _assert_ok(shell.run("vault", script, stdin=f"{VAULT_PASSWORD}\n{password}\n"))
    assert password not in output

    inventory = _new_inventory(shell.repo)
    vault = (inventory / "group_vars" / "all" / "vault.yml").read_text()
    assert "$ANSIBLE_VAULT;" in vault and password not in vault
    assert _files_containing(inventory, password) == []
    [pass_file] = _files_containing(Path(shell.env["HOME"]), VAULT_PASSWORD)
    assert not pass_file.is_relative_to(shell.repo)
    assert pass_file.stat().st_mode & 0o077 == 0, "the vault password file is readable by others"

    [host] = _hosts(inventory)
    assert f"{host} {db.name}: 000 -> {changes()[-1].version} (check mode: would apply" in _folded(output)
    assert history(db) == []


@pytest.mark.parametrize(
    ("unset", "expected"),
    [
        ("PG_MIGRATE_PASSWORD", "none was given: pg_migrate_login_password comes from"),
        ("MINE_DB_PORT", "MINE_DB_PORT: see step 1"),
    ],
)
def test_without_a_variable_the_readme_asks_for_the_walkthrough_stops(
    db: Database, shell: Shell, unset: str, expected: str
):
    """The harness is not vacuous: leave out one thing step 1 or 2 sets, and the run fails early,
    with a message that points at it, before anything is changed."""
    shell.env["PG_MIGRATE_PASSWORD"] = db.server.password
    del shell.env[unset]
    before_plan, _ = split_at_review(readme_block("walkthrough"))
    returncode, output = shell.run("plan", before_plan)
    assert returncode != 0, output[-3000:]
    assert expected in _folded(output)
    assert history(db) == [] and db.scalar("SELECT to_regclass('pg_migrate_history')") is None
