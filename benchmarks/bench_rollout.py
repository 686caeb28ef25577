#!/usr/bin/env python3
"""Benchmark: what a rollout of N pending migrations costs with the role, and what the naive
"one community.postgresql.postgresql_query task per file" playbook costs for the same files.

    .venv/bin/python benchmarks/bench_rollout.py [N]      (default N = 100)

Prints figures; asserts nothing. Uses a disposable local PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import localpg  # noqa: E402

BIN = Path(sys.executable).parent

NAIVE_PLAYBOOK = """---
- name: Naive rollout, one task iteration per migration file
  hosts: pg_migrate_targets
  gather_facts: false
  tasks:
    - name: Apply each file
      community.postgresql.postgresql_query:
        login_db: "{{ lookup('ansible.builtin.env', 'PG_MIGRATE_DB') }}"
        login_host: "{{ lookup('ansible.builtin.env', 'PGHOST') }}"
        login_port: "{{ lookup('ansible.builtin.env', 'PGPORT') | int }}"
        login_user: "{{ lookup('ansible.builtin.env', 'PGUSER') }}"
        login_password: "{{ lookup('ansible.builtin.env', 'PGPASSWORD') }}"
        query: "{{ lookup('ansible.builtin.file', item) }}"
      loop: "{{ query('ansible.builtin.fileglob', migrations_dir ~ '/V*.sql') | sort }}"
"""


def write_migrations(directory: Path, count: int) -> None:
    directory.mkdir(parents=True)
    for number in range(1, count + 1):
        (directory / f"V{number:03d}__table_{number}.sql").write_text(
            f"CREATE TABLE bench_{number} (id bigint PRIMARY KEY, note text NOT NULL DEFAULT '');\n"
            f"COMMENT ON TABLE bench_{number} IS 'benchmark table {number}';\n"
        )


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed, result.stdout


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    work = Path(tempfile.mkdtemp(prefix="pg_migrate-bench-"))
    server_dir = work / "pg"
    try:
        conn = localpg.start(server_dir)
        migrations = work / "migrations"
        write_migrations(migrations, count)
        with psycopg.connect(conn.conninfo(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE bench_role")
            admin.execute("CREATE DATABASE bench_naive")
        base_env = {
            **os.environ,
            **conn.libpq_env(),
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "ANSIBLE_NOCOLOR": "1",
        }
        playbook = [str(BIN / "ansible-playbook"), "-i", str(ROOT / "inventories/local")]
        # The benchmark tables are not the XP change set, so its schema verification does not apply here.
        role_args = [
            "-e",
            f"pg_migrate_migrations_dir={migrations}",
            "-e",
            f"pg_migrate_remote_dir={work / 'remote'}",
            "-e",
            "pg_migrate_verify_schema=false",
        ]

        env = {**base_env, "PG_MIGRATE_DB": "bench_role"}
        first, out_first = run([*playbook, str(ROOT / "playbooks/migrate.yml"), *role_args], env)
        again, out_again = run([*playbook, str(ROOT / "playbooks/migrate.yml"), *role_args], env)
        check, _ = run([*playbook, str(ROOT / "playbooks/migrate.yml"), "--check", *role_args], env)
        with psycopg.connect(conn.conninfo("bench_role")) as db:
            applied, sql_ms = db.execute("SELECT count(*), sum(execution_ms) FROM pg_migrate_history").fetchone()

        naive_file = work / "naive.yml"
        naive_file.write_text(NAIVE_PLAYBOOK)
        env = {**base_env, "PG_MIGRATE_DB": "bench_naive"}
        naive, _ = run([*playbook, str(naive_file), "-e", f"migrations_dir={migrations}"], env)

        tasks = lambda out: len(re.findall(r"^TASK \[", out, re.MULTILINE))  # noqa: E731
        print(f"migrations: {count} (PostgreSQL {conn.bindir.split('/')[-2]}, ansible-playbook, local connection)")
        print(
            f"role, {count} pending      : {first:6.2f} s wall, {tasks(out_first)} tasks, "
            f"{applied} applied, {sql_ms} ms recorded in the history (rounded per migration)"
        )
        print(f"role, nothing pending   : {again:6.2f} s wall, {tasks(out_again)} tasks")
        print(f"role, --check plan      : {check:6.2f} s wall")
        print(
            f"naive, one task per file: {naive:6.2f} s wall ({naive / count:.2f} s per migration, no history, "
            "no guard, no lock)"
        )
        return 0
    finally:
        localpg.stop(server_dir)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
