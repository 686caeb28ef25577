#!/usr/bin/env python3
"""What a fleet rollout costs at fleet scale, through one controller and as 4 AWX-style job slices, beside a
sequential psql loop over the same files and beside Ansible's own cost of one task per database - in one run.

    .venv/bin/python benchmarks/bench_fleet_scale.py [--sizes 100,1000] [--runs 1] [--forks 10]
                                                     [--slice-forks 5] [--json FILE]

On a disposable local PostgreSQL (a temporary directory), for each fleet size, databases at V001 on one server:
  psql         a sequential `psql -1 -f` per file, V002 -> latest, no verification (the base)
  psql+verify  the same, then every verify script
  bare         Ansible's own: playbooks/fleet.yml's shape without pg_migrate - the fleet inventory plugin, the
               same waves (serial), one action task per database (ansible.builtin.assert) - forks as below
  fleet        playbooks/fleet.yml through one controller (preflight, waves 1/5%/25%/100%, verification, report)
  4 slices     playbooks/fleet.yml as 4 concurrent ansible-playbook runs, slice k of 4 taking hosts[k::4] in name
               order (AWX's job slicing rule), one rollout through a fleet ledger on the same server
The commands run in turn (A B C ... A B C ...); every database is made afresh before each command, outside the
timing. CPU is user + system seconds of the command and everything it started; server CPU is the PostgreSQL
backends'. The marginal per database is (figure at the larger size - figure at the smaller) / difference;
"on top of Ansible's own" is the fleet's marginal CPU less the bare playbook's. Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_speed as speed

ROOT = speed.ROOT
SLICES = 4


def bare_playbook(work: Path) -> Path:
    """fleet.yml's shape without pg_migrate: a run_once task, then the waves, one action task per database."""
    path = work / "bare-fleet.yml"
    path.write_text(
        """---
- name: Preflight
  hosts: pg_migrate_targets
  gather_facts: false
  tasks:
    - name: Decide once
      ansible.builtin.assert:
        that: true
        quiet: true
      run_once: true

- name: Waves
  hosts: pg_migrate_targets
  gather_facts: false
  serial: [1, "5%", "25%", "100%"]
  tasks:
    - name: One task per database
      ansible.builtin.assert:
        that: true
        quiet: true
"""
    )
    return path


def fresh(bench: speed.Bench, names: list[str], template: str, ledger: str | None = None) -> None:
    """NAMES dropped and copied again from TEMPLATE (a file copy: the quickest for small databases); LEDGER, when
    given, dropped and made empty."""
    with psycopg.connect(bench.conn.conninfo(), autocommit=True) as admin:
        for name in names + ([ledger] if ledger else []):
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        if ledger:
            admin.execute(f'CREATE DATABASE "{ledger}"')


def slices_script(bench: speed.Bench, inventory: Path, names: list[str], size: int, forks: int) -> list[str]:
    """One sh process that starts the 4 slices at once and fails when any of them failed."""
    hosts = sorted(f"local-{name}" for name in names)
    lines = ["attempt=bench-$(date +%s%N)", "rc=0"]
    for number in range(SLICES):
        limit = bench.work / f"slice-{size}-{number + 1}.txt"
        limit.write_text("\n".join(hosts[number::SLICES]) + "\n")
        argv = bench.playbook(
            ROOT / "playbooks/fleet.yml",
            inventory,
            "-f",
            str(forks),
            "--limit",
            f"@{limit}",
            "-e",
            f"pg_migrate_reports_dir={bench.work / f'reports-slice-{number + 1}'}",
            "-e",
            f"pg_migrate_fleet_ledger_db=bench_ledger_{size}",
            "-e",
            f"pg_migrate_fleet_ledger_host={bench.base_env['PGHOST']}",
            "-e",
            f"pg_migrate_fleet_ledger_port={bench.base_env['PGPORT']}",
        )
        log = bench.work / f"slice-{size}-{number + 1}.log"
        lines.append(f"{shlex.join(argv)} -e pg_migrate_fleet_attempt=$attempt >{log} 2>&1 & p{number}=$!")
    lines += [f"wait $p{number} || rc=1" for number in range(SLICES)]
    lines.append("exit $rc")
    script = bench.work / f"slices-{size}.sh"
    script.write_text("\n".join(lines) + "\n")
    return ["sh", str(script)]


def commands_of(bench: speed.Bench, size: int, template: str, args) -> list[speed.Command]:
    migrations, verify_scripts = speed.changeset_files(2)
    names = [f"fleet_{number:04d}" for number in range(1, size + 1)]
    inventory = speed.fleet_file(bench, names)
    env = bench.env("postgres")
    again = lambda: fresh(bench, names, template)  # noqa: E731
    return [
        speed.Command(f"{size} dbs, psql per file", bench.psql_loop(names, migrations), env, again),
        speed.Command(f"{size} dbs, psql + verify", bench.psql_loop(names, migrations + verify_scripts), env, again),
        speed.Command(
            f"{size} dbs, bare playbook forks {args.forks}",
            bench.playbook(bare_playbook(bench.work), inventory, "-f", str(args.forks)),
            env,
            None,
        ),
        speed.Command(
            f"{size} dbs, fleet.yml forks {args.forks}",
            bench.playbook(ROOT / "playbooks/fleet.yml", inventory, "-f", str(args.forks)),
            env,
            again,
        ),
        speed.Command(
            f"{size} dbs, 4 slices forks {args.slice_forks} each",
            slices_script(bench, inventory, names, size, args.slice_forks),
            env,
            lambda: fresh(bench, names, template, f"bench_ledger_{size}"),
        ),
    ]


def on_paper(marginal: dict, nodes: tuple[int, ...] = (1, 4, 10)) -> list[str]:
    """What 10,000 databases cost by the measured per-database marginals, on N execution nodes like this one."""
    cpu = marginal.get("cpu_ms_per_db", 0) / 1000
    wall = marginal.get("wall_ms_per_db", 0) / 1000
    lines = [f"  10,000 databases: {10000 * cpu / 3600:.2f} controller CPU-hours in all"]
    for count in nodes:
        lines.append(
            f"  on {count} node(s): about {10000 * wall / count / 60:.0f} min of rollout "
            f"({10000 // count} databases each), if the database servers keep up"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="100,1000", help="the two fleet sizes")
    parser.add_argument("--runs", type=int, default=1, help="counted rounds per size")
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--slice-forks", type=int, default=5, help="forks of each of the 4 slices")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    sizes = tuple(int(size) for size in args.sizes.split(","))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="pg_migrate-bench-scale-"))
    results: dict[str, list[dict]] = {}
    try:
        conn = speed.localpg.start(work / "pg")
        server = speed.ServerClock(work / "pg")
        speed.adopt_orphans()
        bench = speed.Bench(work, conn, args.forks)
        template = speed.make_v001_template(bench)
        print(f"pg_migrate fleet scale benchmark: {os.cpu_count()} cores, local PostgreSQL, {args.runs} round(s)")
        for size in sizes:
            print(f"  measuring {size} databases ...", file=sys.stderr, flush=True)
            commands = commands_of(bench, size, template, args)
            speed.run_rounds(commands, server, args.runs, 0)
            rows = [speed.summary(command, commands[0]) for command in commands]
            results[str(size)] = rows
            speed.print_table(f"{size} databases, V001 -> latest", rows)
        if len(sizes) == 2:
            marginal = speed.marginal_rows(results[str(sizes[0])], results[str(sizes[1])], sizes)
            results["marginal"] = marginal
            print(f"\nper-database marginal, (figure at {sizes[1]} - figure at {sizes[0]}) / {sizes[1] - sizes[0]}")
            print(f"  {'command':40} {'wall ms':>8} {'client CPU ms':>14} {'server CPU ms':>14}")
            for row in marginal:
                print(
                    f"  {row['command']:40} {row['wall_ms_per_db']:>8} {row['cpu_ms_per_db']:>14} "
                    f"{row['server_cpu_ms_per_db']:>14}"
                )
            bare, fleet = marginal[2], marginal[3]
            print(
                "  fleet.yml on top of Ansible's own (fleet - bare): %.1f ms CPU per database"
                % (fleet["cpu_ms_per_db"] - bare["cpu_ms_per_db"])
            )
            print("\non paper, by the 4 slices' marginal on this machine:")
            print("\n".join(on_paper(marginal[4])))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        speed.localpg.stop(work / "pg")
        if os.environ.get("PG_MIGRATE_BENCH_KEEP"):
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
