#!/usr/bin/env python3
"""What a pg_migrate run costs beside what Ansible itself and plain psql cost, measured in one run.

    .venv/bin/python benchmarks/bench_speed.py [--runs 5] [--fleet-runs 3] [--scenarios a,b,c,d,e]
                                               [--fleet 20,100] [--forks 10] [--json FILE]

Scenarios (each on a disposable local PostgreSQL in a temporary directory, both execution paths):
  a  a migrate run with nothing pending  vs  a bare playbook with one community.postgresql.postgresql_query task
  b  100 tiny pending migrations (schema verification off)  vs  `psql -1 -f` per file
  c  the real change V001 -> latest with verification  vs  the same files applied by psql (and with their
     verify scripts)
  d  20 and 100 databases as inventory aliases on the local server, V001 -> latest, verification on, forks 10,
     vs  a sequential psql-per-file loop over the same databases; the per-database marginal is
     (figure at 100 - figure at 20) / 80
  e  the same databases rolled out by playbooks/fleet.yml (fleet inventory plugin, preflight, waves 1, 5%, 25%,
     100%, the fleet report), forks 10, vs the same psql loop (controller path only)

The commands of one scenario run in turn (A B C A B C ...), after one warm-up round (scenario d: none), so a
drift of the machine's speed touches all of them alike. Every database a command changes is created afresh
before each of its runs, outside the timing. Figures are medians; "x base" is the median of the per-round
ratios against the scenario's first psql/bare-playbook command. CPU is user + system seconds of the command
and everything it started (Ansible's forks and async jobs included: this process adopts orphans), and
separately of the PostgreSQL backends that served it. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import localpg  # noqa: E402

BIN = Path(sys.executable).parent
CHANGESET = ROOT / "files" / "migrations"
NO_TRANSACTION_MARKER = "-- pg_migrate:no-transaction"
PR_SET_CHILD_SUBREAPER = 36
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

BARE_PLAYBOOK = """---
- name: One postgresql_query task, nothing else
  hosts: pg_migrate_targets
  gather_facts: false
  tasks:
    - name: Ask the database one question
      community.postgresql.postgresql_query:
        login_db: "{{ lookup('ansible.builtin.env', 'PG_MIGRATE_DB') }}"
        login_host: "{{ lookup('ansible.builtin.env', 'PGHOST') }}"
        login_port: "{{ lookup('ansible.builtin.env', 'PGPORT') | int }}"
        login_user: "{{ lookup('ansible.builtin.env', 'PGUSER') }}"
        login_password: "{{ lookup('ansible.builtin.env', 'PGPASSWORD') }}"
        query: SELECT 1
"""


@dataclass
class Sample:
    wall: float
    cpu: float
    server_cpu: float


@dataclass
class Command:
    label: str
    argv: list[str]
    env: dict[str, str]
    prepare: object = None  # callable run before each sample, outside the timing
    samples: list[Sample] = field(default_factory=list)


# ---------------------------------------------------------------- measuring


def adopt_orphans() -> None:
    """Make this process the reaper of its orphaned descendants (Ansible's async jobs daemonise), so their CPU
    time is counted when they are reaped here."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_orphans() -> None:
    """Wait for every adopted descendant of the last command (an async job's wrapper may outlive the playbook
    by seconds), so that its CPU time counts for that command, not for the next one measured."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class ServerClock:
    """CPU seconds of the PostgreSQL backends: the postmaster's reaped children (backends exit with their
    connection) plus its own time, read from /proc."""

    def __init__(self, server_dir: Path) -> None:
        home = Path((localpg.read_state(server_dir) or {}).get("home") or server_dir)
        self.pid = int((home / "data" / "postmaster.pid").read_text().split()[0])

    def read(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
        return (utime + stime + cutime + cstime) / CLOCK_TICKS


def measure(command: Command, server: ServerClock) -> Sample:
    if command.prepare:
        command.prepare()
    server_before, cpu_before = server.read(), children_cpu()
    started = time.perf_counter()
    result = subprocess.run(command.argv, cwd=ROOT, env=command.env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    reap_orphans()
    time.sleep(0.2)  # let the postmaster reap the backends that served the command
    if result.returncode != 0:
        sys.exit(
            f"failed: {command.label}: {shlex.join(command.argv)}\n{result.stdout[-4000:]}\n{result.stderr[-3000:]}"
        )
    return Sample(wall, children_cpu() - cpu_before, server.read() - server_before)


def run_rounds(commands: list[Command], server: ServerClock, runs: int, warmup: int) -> None:
    for round_number in range(warmup + runs):
        for command in commands:
            sample = measure(command, server)
            if round_number >= warmup:
                command.samples.append(sample)
        print(f"    round {round_number + 1}/{warmup + runs} done", file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary(command: Command, base: Command | None) -> dict:
    walls = [s.wall for s in command.samples]
    row = {
        "command": command.label,
        "runs": len(walls),
        "wall_s": round(median(walls), 3),
        "wall_min_s": round(min(walls), 3),
        "wall_max_s": round(max(walls), 3),
        "cpu_s": round(median([s.cpu for s in command.samples]), 3),
        "server_cpu_s": round(median([s.server_cpu for s in command.samples]), 3),
    }
    if base is not None and base is not command:
        pairs = zip(command.samples, base.samples, strict=True)
        row["x_base"] = round(median([mine.wall / theirs.wall for mine, theirs in pairs]), 2)
    return row


# ---------------------------------------------------------------- the work


class Bench:
    def __init__(self, work: Path, conn: localpg.Connection, forks: int) -> None:
        self.work = work
        self.conn = conn
        self.forks = forks
        self.base_env = {
            **os.environ,
            **conn.libpq_env(),
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "ANSIBLE_NOCOLOR": "1",
        }
        self.psql = conn.program("psql")

    def admin(self, *statements: str) -> None:
        with psycopg.connect(self.conn.conninfo(), autocommit=True) as admin:
            for statement in statements:
                admin.execute(statement)

    def fresh(self, names: list[str], template: str = "template0") -> None:
        self.admin(
            *[f'DROP DATABASE IF EXISTS "{name}"' for name in names],
            *[f'CREATE DATABASE "{name}" TEMPLATE "{template}"' for name in names],
        )

    def env(self, database: str) -> dict[str, str]:
        return {**self.base_env, "PG_MIGRATE_DB": database, "PGDATABASE": database}

    def playbook(self, playbook: Path, inventory: Path, *extra: str) -> list[str]:
        return [
            str(BIN / "ansible-playbook"),
            "-i",
            str(inventory),
            str(playbook),
            "-e",
            f"pg_migrate_reports_dir={self.work / 'reports'}",
            "-e",
            f"pg_migrate_remote_dir={self.work / 'remote'}/{{{{ pg_migrate_db }}}}",
            *extra,
        ]

    def migrate(self, path: str, inventory: Path, *extra: str) -> list[str]:
        return self.playbook(ROOT / "playbooks/migrate.yml", inventory, "-e", f"pg_migrate_execution={path}", *extra)

    def psql_loop(self, databases: list[str], files: list[Path]) -> list[str]:
        """One sh process: for each database, psql per file (-1 unless the file says no transaction)."""
        lines = ["set -e"]
        for database in databases:
            for script in files:
                single = "" if script.read_text().startswith(NO_TRANSACTION_MARKER) else "-1 "
                lines.append(
                    f"{shlex.quote(self.psql)} -X -q {single}-v ON_ERROR_STOP=1 "
                    f"-d {shlex.quote(database)} -f {shlex.quote(str(script))} >/dev/null"
                )
        script_file = self.work / f"psql-{len(databases)}-{len(files)}-{abs(hash(tuple(files)))}.sh"
        script_file.write_text("\n".join(lines) + "\n")
        return ["sh", str(script_file)]

    def fleet_inventory(self, names: list[str]) -> Path:
        hosts = "\n".join(f"        {name}:\n          pg_migrate_db: {name}" for name in names)
        inventory = self.work / f"fleet-{len(names)}.yml"
        inventory.write_text(
            "all:\n  children:\n    pg_migrate_targets:\n      vars:\n"
            "        ansible_connection: local\n"
            '        ansible_python_interpreter: "{{ ansible_playbook_python }}"\n'
            "        pg_migrate_login_host: \"{{ lookup('ansible.builtin.env', 'PGHOST') }}\"\n"
            "        pg_migrate_login_port: \"{{ lookup('ansible.builtin.env', 'PGPORT') | int }}\"\n"
            "        pg_migrate_login_user: \"{{ lookup('ansible.builtin.env', 'PGUSER') }}\"\n"
            "        pg_migrate_login_password: \"{{ lookup('ansible.builtin.env', 'PGPASSWORD') }}\"\n"
            "        pg_migrate_ssl_mode: disable\n"
            f"      hosts:\n{hosts}\n"
        )
        return inventory


def changeset_files(first: int) -> tuple[list[Path], list[Path]]:
    """The change set's migrations from version FIRST on, and every verify script (run after them)."""
    migrations = sorted(
        p for p in CHANGESET.glob("V*.sql") if not p.name.endswith(".verify.sql") and int(p.name[1:4]) >= first
    )
    return migrations, sorted(CHANGESET.glob("V*.verify.sql"))


def tiny_migrations(directory: Path, count: int) -> list[Path]:
    directory.mkdir(parents=True)
    for number in range(1, count + 1):
        (directory / f"V{number:03d}__table_{number}.sql").write_text(
            f"CREATE TABLE bench_{number} (id bigint PRIMARY KEY, note text NOT NULL DEFAULT '');\n"
            f"COMMENT ON TABLE bench_{number} IS 'benchmark table {number}';\n"
        )
    return sorted(directory.glob("V*.sql"))


LOCAL = ROOT / "inventories/local"
PATHS = ["controller", "host"]


def scenario_a(bench: Bench) -> list[Command]:
    bench.fresh(["bench_noop"])
    migrate = bench.migrate("controller", LOCAL)
    subprocess.run(migrate, cwd=ROOT, env=bench.env("bench_noop"), check=True, capture_output=True)
    bare = bench.work / "bare.yml"
    bare.write_text(BARE_PLAYBOOK)
    return [
        Command("bare playbook, one postgresql_query task", bench.playbook(bare, LOCAL), bench.env("bench_noop")),
        *[
            Command(f"migrate, nothing pending ({path})", bench.migrate(path, LOCAL), bench.env("bench_noop"))
            for path in PATHS
        ],
    ]


def scenario_b(bench: Bench) -> list[Command]:
    files = tiny_migrations(bench.work / "tiny", 100)
    off = ["-e", f"pg_migrate_migrations_dir={bench.work / 'tiny'}", "-e", "pg_migrate_verify_schema=false"]
    return [
        Command(
            "psql -1 -f per file",
            bench.psql_loop(["bench_tiny_psql"], files),
            bench.env("bench_tiny_psql"),
            prepare=lambda: bench.fresh(["bench_tiny_psql"]),
        ),
        *[
            Command(
                f"migrate 100 pending ({path})",
                bench.migrate(path, LOCAL, *off),
                bench.env(f"bench_tiny_{path}"),
                prepare=lambda path=path: bench.fresh([f"bench_tiny_{path}"]),
            )
            for path in PATHS
        ],
    ]


def make_v001_template(bench: Bench) -> str:
    bench.fresh(["bench_v001"])
    subprocess.run(
        bench.migrate("controller", LOCAL, "-e", "pg_migrate_target_version=001"),
        cwd=ROOT,
        env=bench.env("bench_v001"),
        check=True,
        capture_output=True,
    )
    return "bench_v001"


def scenario_c(bench: Bench) -> list[Command]:
    template = make_v001_template(bench)
    migrations, verify_scripts = changeset_files(2)

    def fresh(name: str):
        return lambda: bench.fresh([name], template)

    return [
        Command(
            "psql -1 -f per file",
            bench.psql_loop(["bench_real_psql"], migrations),
            bench.env("bench_real_psql"),
            fresh("bench_real_psql"),
        ),
        Command(
            "psql per file + verify scripts",
            bench.psql_loop(["bench_real_psqlv"], migrations + verify_scripts),
            bench.env("bench_real_psqlv"),
            fresh("bench_real_psqlv"),
        ),
        *[
            Command(
                f"migrate V001->latest, verified ({path})",
                bench.migrate(path, LOCAL),
                bench.env(f"bench_real_{path}"),
                fresh(f"bench_real_{path}"),
            )
            for path in PATHS
        ],
    ]


def scenario_d(bench: Bench, size: int) -> list[Command]:
    template = make_v001_template(bench)
    migrations, verify_scripts = changeset_files(2)
    names = [f"fleet_{number:03d}" for number in range(1, size + 1)]
    inventory = bench.fleet_inventory(names)
    commands = [
        Command(
            f"{size} dbs, sequential psql per file",
            bench.psql_loop(names, migrations),
            bench.env("postgres"),
            prepare=lambda: bench.fresh(names, template),
        ),
        Command(
            f"{size} dbs, sequential psql + verify",
            bench.psql_loop(names, migrations + verify_scripts),
            bench.env("postgres"),
            prepare=lambda: bench.fresh(names, template),
        ),
    ]
    for path in PATHS:
        commands.append(
            Command(
                f"{size} dbs, migrate forks {bench.forks} ({path})",
                bench.migrate(path, inventory, "-f", str(bench.forks)),
                bench.env("postgres"),
                prepare=lambda: bench.fresh(names, template),
            )
        )
    return commands


def fleet_file(bench: Bench, names: list[str]) -> Path:
    """A fleet file (inventory plugin pg_migrate.engine.fleet) with NAMES on one server: the local one."""
    path = bench.work / f"bench-{len(names)}.fleet.yml"
    env = "{{ lookup('ansible.builtin.env', '%s') }}"
    path.write_text(
        json.dumps(
            {
                "plugin": "pg_migrate.engine.fleet",
                "vars": {
                    "pg_migrate_login_host": env % "PGHOST",
                    "pg_migrate_login_port": env % "PGPORT",
                    "pg_migrate_login_user": env % "PGUSER",
                    "pg_migrate_login_password": env % "PGPASSWORD",
                    "pg_migrate_ssl_mode": "disable",
                },
                "servers": {"local": {"databases": names}},
            }
        )
    )
    return path


def scenario_e(bench: Bench, size: int) -> list[Command]:
    """playbooks/fleet.yml (preflight, waves 1, 5%, 25%, 100%, report) beside the sequential psql loop."""
    template = make_v001_template(bench)
    migrations, verify_scripts = changeset_files(2)
    names = [f"fleet_{number:03d}" for number in range(1, size + 1)]
    inventory = fleet_file(bench, names)
    prepare = lambda: bench.fresh(names, template)  # noqa: E731
    return [
        Command(
            f"{size} dbs, sequential psql per file", bench.psql_loop(names, migrations), bench.env("postgres"), prepare
        ),
        Command(
            f"{size} dbs, sequential psql + verify",
            bench.psql_loop(names, migrations + verify_scripts),
            bench.env("postgres"),
            prepare,
        ),
        Command(
            f"{size} dbs, fleet.yml forks {bench.forks}",
            bench.playbook(ROOT / "playbooks/fleet.yml", inventory, "-f", str(bench.forks)),
            bench.env("postgres"),
            prepare,
        ),
    ]


# ---------------------------------------------------------------- the table


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"  {'command':44} {'wall s (min-max)':>22} {'x base':>7} {'client CPU s':>13} {'server CPU s':>13}")
    for row in rows:
        spread = f"{row['wall_s']:.2f} ({row['wall_min_s']:.2f}-{row['wall_max_s']:.2f})"
        ratio = f"{row['x_base']:.2f}" if "x_base" in row else "base"
        print(f"  {row['command']:44} {spread:>22} {ratio:>7} {row['cpu_s']:>13.2f} {row['server_cpu_s']:>13.2f}")


def marginal_rows(small: list[dict], large: list[dict], sizes: tuple[int, int]) -> list[dict]:
    extra = sizes[1] - sizes[0]
    rows = []
    for low, high in zip(small, large, strict=True):
        rows.append(
            {
                "command": high["command"].split(", ", 1)[1],
                "wall_ms_per_db": round(1000 * (high["wall_s"] - low["wall_s"]) / extra, 1),
                "cpu_ms_per_db": round(1000 * (high["cpu_s"] - low["cpu_s"]) / extra, 1),
                "server_cpu_ms_per_db": round(1000 * (high["server_cpu_s"] - low["server_cpu_s"]) / extra, 1),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, help="counted rounds of scenarios a-c")
    parser.add_argument("--fleet-runs", type=int, default=3, help="counted rounds of scenario d")
    parser.add_argument("--scenarios", default="a,b,c,d,e")
    parser.add_argument("--fleet", default="20,100", help="the two fleet sizes of scenario d")
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--paths", default="controller,host", help="the execution paths to measure")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    chosen = set(args.scenarios.split(","))
    PATHS[:] = args.paths.split(",")
    sizes = tuple(int(n) for n in args.fleet.split(","))

    # Stopped with SIGTERM, still stop the server and remove the scratch directory (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="pg_migrate-bench-"))
    server_dir = work / "pg"
    results: dict[str, list[dict]] = {}
    try:
        conn = localpg.start(server_dir)
        server = ServerClock(server_dir)
        adopt_orphans()
        bench = Bench(work, conn, args.forks)
        print(
            f"pg_migrate speed benchmark: PostgreSQL {Path(conn.bindir).parent.name}, {os.cpu_count()} cores, "
            f"local connection, medians of {args.runs} rounds (fleet: {args.fleet_runs})",
            flush=True,
        )
        plan = [
            ("a", "(a) a migrate run with nothing pending", lambda: scenario_a(bench), args.runs, 1),
            ("b", "(b) 100 tiny pending migrations, schema verification off", lambda: scenario_b(bench), args.runs, 1),
            ("c", "(c) the real change V001 -> latest, verification on", lambda: scenario_c(bench), args.runs, 1),
        ]
        plan += [
            (
                "d",
                f"(d) {size} databases, V001 -> latest, verification on",
                lambda s=size: scenario_d(bench, s),
                args.fleet_runs,
                0,
            )
            for size in sizes
        ]
        plan += [
            (
                "e",
                f"(e) fleet rollout of {size} databases (playbooks/fleet.yml), V001 -> latest, verification on",
                lambda s=size: scenario_e(bench, s),
                args.fleet_runs,
                0,
            )
            for size in sizes
        ]
        for key, title, build, runs, warmup in plan:
            if key not in chosen:
                continue
            print(f"  measuring {title} ...", file=sys.stderr, flush=True)
            commands = build()
            run_rounds(commands, server, runs, warmup)
            rows = [summary(command, commands[0]) for command in commands]
            results[title] = rows
            print_table(title, rows)
        for key in ("d", "e"):
            pair = [title for title in results if title.startswith(f"({key})")]
            if len(pair) != 2:
                continue
            rows = marginal_rows(results[pair[0]], results[pair[1]], sizes)
            results[f"({key}) per-database marginal"] = rows
            print(
                f"\n({key}) per-database marginal, (figure at {sizes[1]} - figure at {sizes[0]}) / "
                f"{sizes[1] - sizes[0]}"
            )
            print(f"  {'command':44} {'wall ms':>10} {'client CPU ms':>14} {'server CPU ms':>14}")
            for row in rows:
                print(
                    f"  {row['command']:44} {row['wall_ms_per_db']:>10.1f} {row['cpu_ms_per_db']:>14.1f} "
                    f"{row['server_cpu_ms_per_db']:>14.1f}"
                )
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        return 0
    finally:
        localpg.stop(server_dir)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
