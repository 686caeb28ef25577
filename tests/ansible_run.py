"""Run the project's playbooks the way an operator does, against a test database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


@dataclass
class PlaybookRun:
    returncode: int
    raw: str

    @property
    def output(self) -> str:
        """The output with all white space folded: Ansible wraps long message lines at will."""
        return " ".join(self.raw.split())

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        return {
            m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
            for m in RECAP.finditer(self.raw)
        }

    @property
    def changed(self) -> int:
        return sum(host["changed"] for host in self.recap.values())

    @property
    def tasks(self) -> int:
        """How many tasks the run executed (TASK banners; skipped tasks are hidden by ansible.cfg)."""
        return self.raw.count("\nTASK [")

    def assert_ok(self) -> PlaybookRun:
        assert self.returncode == 0, self.raw[-6000:]
        return self

    def assert_failed(self) -> PlaybookRun:
        assert self.returncode != 0, self.raw[-6000:]
        return self


def playbook_env(db, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        **db.server.libpq_env(db.name),
        "PG_MIGRATE_DB": db.name,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
    }
    env.update(extra or {})
    return env


def command(playbook: str, *args: str, inventory: str = "local") -> list[str]:
    return [
        str(BIN / "ansible-playbook"),
        "-i",
        str(ROOT / "inventories" / inventory),
        str(ROOT / "playbooks" / playbook),
        *args,
    ]


def run_playbook(
    db, playbook: str, *args: str, inventory: str = "local", env: dict[str, str] | None = None, timeout: float = 300
) -> PlaybookRun:
    result = subprocess.run(
        command(playbook, *args, inventory=inventory),
        cwd=ROOT,
        env=playbook_env(db, env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return PlaybookRun(result.returncode, result.stdout + result.stderr)


def start_playbook(
    db, playbook: str, *args: str, inventory: str = "local", env: dict[str, str] | None = None
) -> subprocess.Popen:
    """Start a run in its own process group (so a test can kill -9 the whole controller)."""
    return subprocess.Popen(
        command(playbook, *args, inventory=inventory),
        cwd=ROOT,
        env=playbook_env(db, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def environment_overrides(db, tmp_path: Path) -> list[str]:
    """Extra vars that point an environment inventory (dev, staging, prod) at the test database on this
    machine: local connection, no privilege escalation, the test server's port, scratch directories."""
    overrides = {
        "ansible_connection": "local",
        "ansible_become": "false",
        "ansible_python_interpreter": str(BIN / "python"),
        "pg_migrate_db": db.name,
        "pg_migrate_login_port": str(db.server.port),
        "pg_migrate_login_user": "postgres",
        "pg_migrate_ssl_mode": "disable",
        "pg_migrate_remote_dir": str(tmp_path / "remote"),
        "pg_migrate_remote_owner": "",
        "pg_migrate_remote_group": "",
        "pg_migrate_reports_dir": str(tmp_path / "reports"),
    }
    return [arg for key, value in overrides.items() for arg in ("-e", f"{key}={value}")]
