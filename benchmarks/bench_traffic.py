#!/usr/bin/env python3
"""XP claims while the schema changes: claim latency before and during a rollout, measured in one run.

    .venv/bin/python benchmarks/bench_traffic.py [--awards 1000000] [--rate 200] [--before 10]
                                                 [--scenarios a,b0,b,c] [--fleet 20] [--fleet-awards 100000]
                                                 [--hold 5] [--repeat 3] [--path controller] [--json FILE]

On a disposable local PostgreSQL, a database at V001 with --awards awards takes a steady claim load: pgbench
with the application's claim path (INSERT ... ON CONFLICT (idempotency_key) DO NOTHING, a new key each time) at
a fixed rate (--rate claims/s, 4 clients). After --before seconds of claims alone, the rollout starts; the
figures compare the claims that started before it with those that started while it ran:
  a  the whole change set V001 -> latest (playbooks/migrate.yml)
  b  the same while an application transaction holds a lock on xp_awards that conflicts with the migration
     (it updated an award) for --hold seconds, then commits
  b0 (b) with the lock handling pg_migrate had before the look and the ladder, as the baseline: no ladder
     (pg_migrate_lock_ladder=[]) and the look blind (pg_migrate_lock_blocker_age=1000d)
  c  a fleet rollout (playbooks/fleet.yml) of --fleet databases on this one server, each at V001 with
     --fleet-awards awards; the claims go to the database of the last wave
Latency is pgbench's: with a fixed rate it counts from each claim's scheduled start, so time spent queued behind
a lock counts. "during" is the whole playbook; "connected" only the time a session of the run
(application_name pg_migrate) was connected to the server - sampled every 20 ms. Here the controller shares the
2 cores with the server, so its start-up and its reports cost claims CPU that a controller on a machine of its
own would not take; "connected" leaves that out, "during" keeps it. A claim that fails ends its pgbench client:
"failed" counts such clients. Prints a table; asserts nothing. How long each rollout takes without load is
measured first (pgbench runs for a fixed time).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import LOCAL, ROOT, Bench, localpg

CLIENTS = 4
CLAIM = """\\set key random(1, 2000000000)
\\set player random(1, 100000)
INSERT INTO xp_awards (player_id, amount, reason, idempotency_key)
VALUES (md5(:player::text)::uuid, 5, 'quest', 'claim-' || :client_id || '-' || :key)
ON CONFLICT (idempotency_key) DO NOTHING;
"""
AWARDS = """INSERT INTO xp_awards (player_id, amount, reason, idempotency_key, awarded_at)
SELECT md5((i %% 100000)::text)::uuid, 1 + i %% 500, 'quest', 'seed-' || i, now() - (i || ' seconds')::interval
  FROM generate_series(1, %s) AS i"""
# The application's transaction that blocks the migration: it changed an award and has not committed yet.
BLOCKER = "UPDATE xp_awards SET amount = amount WHERE award_id = 1"


@dataclass
class Window:
    latencies_ms: list[float]

    def row(self) -> dict:
        values = sorted(self.latencies_ms)
        if not values:
            return {"claims": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
        return {
            "claims": len(values),
            "p50_ms": round(statistics.median(values), 2),
            "p99_ms": round(values[min(len(values) - 1, int(0.99 * len(values)))], 2),
            "max_ms": round(values[-1], 2),
        }


def template_at_v001(bench: Bench, name: str, awards: int) -> str:
    """A database at V001 with AWARDS awards, to copy for each run."""
    bench.fresh([name])
    migrate = bench.migrate("controller", LOCAL, "-e", "pg_migrate_target_version=001")
    subprocess.run(migrate, cwd=ROOT, env=bench.env(name), check=True, capture_output=True)
    with psycopg.connect(bench.conn.conninfo(name), autocommit=True) as conn:
        conn.execute(AWARDS % awards)
        conn.execute("VACUUM ANALYZE xp_awards")
    return name


def claims_for(bench: Bench, database: str, rate: int, seconds: float, log_prefix: Path) -> subprocess.Popen:
    script = log_prefix.parent / "claim.sql"
    script.write_text(CLAIM)
    command = [
        bench.conn.program("pgbench"),
        "-n",
        "-f",
        str(script),
        "-R",
        str(rate),
        "-T",
        str(max(1, round(seconds))),
        "-c",
        str(CLIENTS),
        "-j",
        "2",
        "--log",
        f"--log-prefix={log_prefix}",
        database,
    ]
    return subprocess.Popen(
        command, cwd=log_prefix.parent, env=bench.env(database), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def read_claims(log_prefix: Path) -> list[tuple[float, float]]:
    """(started epoch s, latency ms) of every claim pgbench logged."""
    claims = []
    for path in log_prefix.parent.glob(log_prefix.name + ".*"):
        for line in path.read_text().splitlines():
            fields = line.split()
            latency_us, epoch, micros = int(fields[2]), int(fields[4]), int(fields[5])
            finished = epoch + micros / 1e6
            claims.append((finished - latency_us / 1e6, latency_us / 1000))
    return claims


def rollout_command(bench: Bench, scenario: str, database: str, fleet: Path | None, path: str) -> list[str]:
    if scenario == "c":
        return bench.playbook(ROOT / "playbooks/fleet.yml", fleet, "-e", f"pg_migrate_execution={path}")
    return bench.migrate(path, LOCAL)


def timed_rollout(bench: Bench, command: list[str], database: str, nice: int = 0) -> tuple[float, float, str]:
    command = ["nice", "-n", str(nice), *command] if nice else command
    started = time.time()
    done = subprocess.run(command, cwd=ROOT, env=bench.env(database), capture_output=True, text=True, check=False)
    ended = time.time()
    verdict = "ok" if done.returncode == 0 else "FAILED (exit %d): %s" % (done.returncode, done.stdout[-400:])
    return started, ended, verdict


# The lock handling of pg_migrate before the look and the ladder (issue 20): the baseline of (b0).
OLD_LOCKS = ("-e", '{"pg_migrate_lock_ladder": []}', "-e", "pg_migrate_lock_blocker_age=1000d")


class ConnectedWindow:
    """When a session of the run (application_name pg_migrate) was first and last seen on the server."""

    def __init__(self, bench: Bench, database: str) -> None:
        self.first: float | None = None
        self.last: float | None = None
        self.stop = threading.Event()
        self.conninfo = bench.conn.conninfo(database)
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self.stop.is_set():
                seen = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_migrate'")
                if seen.fetchone()[0]:
                    now = time.time()
                    self.first = self.first or now
                    self.last = now
                time.sleep(0.02)

    def close(self) -> tuple[float | None, float | None]:
        self.stop.set()
        self.thread.join()
        return self.first, self.last


def hold_a_lock(bench: Bench, database: str, seconds: float, held: threading.Event) -> None:
    with psycopg.connect(bench.conn.conninfo(database)) as conn:
        conn.execute(BLOCKER)
        held.set()
        time.sleep(seconds)
        conn.commit()


def fleet_file(bench: Bench, names: list[str], work: Path) -> Path:
    """A fleet file for NAMES on this server: waves 1, 5%, 25%, 100%."""
    path = work / "traffic-fleet.yml"
    databases = ", ".join(names)
    path.write_text(
        "plugin: pg_migrate.engine.fleet\n"
        "runner: {ansible_connection: local, ansible_python_interpreter: '{{ ansible_playbook_python }}'}\n"
        "vars:\n"
        "  pg_migrate_login_host: \"{{ lookup('ansible.builtin.env', 'PGHOST') }}\"\n"
        "  pg_migrate_login_port: \"{{ lookup('ansible.builtin.env', 'PGPORT') | int }}\"\n"
        "  pg_migrate_login_user: \"{{ lookup('ansible.builtin.env', 'PGUSER') }}\"\n"
        "  pg_migrate_login_password: \"{{ lookup('ansible.builtin.env', 'PGPASSWORD') }}\"\n"
        "  pg_migrate_ssl_mode: disable\n"
        f"servers:\n  local:\n    databases: [{databases}]\n"
    )
    return path


@dataclass
class Round:
    """One loaded rollout: its claims by window, and what became of it."""

    before: list[float]
    during: list[float]
    connected: list[float]
    verdict: str
    rollout_s: float
    controller_cpu_s: float
    failed: int
    pgbench_exit: int
    covered: bool


def loaded_round(
    bench: Bench,
    args: argparse.Namespace,
    key: str,
    command: list[str],
    names: list[str],
    template: str,
    unloaded: float,
    log_prefix: Path,
) -> Round:
    """The rollout COMMAND once, on fresh copies of TEMPLATE, under the claim load on the last of NAMES."""
    claimed = names[-1]
    bench.fresh(names, template)
    log_prefix.parent.mkdir(parents=True, exist_ok=True)
    seconds = args.before + 3 * unloaded + args.hold + 10
    load = claims_for(bench, claimed, args.rate, seconds, log_prefix)
    # The sampler runs from the start, so its own queries load the server alike before and during the rollout.
    window = ConnectedWindow(bench, claimed)
    time.sleep(args.before)
    blocker = None
    if key in ("b", "b0"):
        held = threading.Event()
        blocker = threading.Thread(target=hold_a_lock, args=(bench, claimed, args.hold, held), daemon=True)
        blocker.start()
        held.wait(10)
    spent = resource.getrusage(resource.RUSAGE_CHILDREN)
    started, ended, verdict = timed_rollout(bench, command, claimed, args.controller_nice)
    # The claim load is still running (not yet waited for), so the children's CPU gained is the controller's.
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    connected_from, connected_to = window.close()
    if blocker is not None:
        blocker.join()
    output = load.communicate()[0].decode("utf-8", "replace")
    claims = read_claims(log_prefix)
    first = min((start for start, _ in claims), default=started)
    return Round(
        before=[ms for start, ms in claims if first + 1 <= start < started],
        during=[ms for start, ms in claims if started <= start <= ended],
        connected=[
            ms for start, ms in claims if connected_from and connected_to and connected_from <= start <= connected_to
        ],
        verdict=verdict,
        rollout_s=ended - started,
        controller_cpu_s=now.ru_utime + now.ru_stime - spent.ru_utime - spent.ru_stime,
        # pgbench names each client a failed claim ended ("client 2 aborted in command 2 ..."); its closing
        # "Run was aborted" line is no further claim.
        failed=len(re.findall(r"client \d+ aborted", output)),
        pgbench_exit=load.returncode,
        covered=bool(claims) and max(start for start, _ in claims) >= ended,
    )


def measure(bench: Bench, args: argparse.Namespace, key: str, templates: dict[str, str], work: Path) -> dict:
    """One scenario: the rollout once without claims (its duration), then --repeat times under the claim load,
    the claims of every round pooled per window."""
    names = [f"traffic_{key}"] if key != "c" else [f"traffic_c_{n:02d}" for n in range(args.fleet)]
    template = templates["fleet" if key == "c" else "main"]
    fleet = fleet_file(bench, names, work) if key == "c" else None
    command = rollout_command(bench, key, names[-1], fleet, args.path) + (list(OLD_LOCKS) if key == "b0" else [])
    bench.fresh(names, template)
    started, ended, verdict = timed_rollout(bench, command, names[-1])
    if verdict != "ok":
        return {"scenario": key, "error": "the rollout without claims: " + verdict}
    unloaded = ended - started
    rounds = [
        loaded_round(bench, args, key, command, names, template, unloaded, work / f"claims-{key}-{n}" / "claims")
        for n in range(args.repeat)
    ]
    failed = [r.verdict for r in rounds if r.verdict != "ok"]
    return {
        "scenario": key,
        "rollout": failed[0] if failed else "ok",
        "rounds": len(rounds),
        "rollout_s": round(max(r.rollout_s for r in rounds), 1),
        "controller_cpu_s": round(max(r.controller_cpu_s for r in rounds), 1),
        "rollout_unloaded_s": round(unloaded, 1),
        "failed": sum(r.failed for r in rounds),
        "pgbench_exit": max(r.pgbench_exit for r in rounds),
        "before": Window([ms for r in rounds for ms in r.before]).row(),
        "during": Window([ms for r in rounds for ms in r.during]).row(),
        "connected": Window([ms for r in rounds for ms in r.connected]).row(),
        "covered": all(r.covered for r in rounds),
    }


def print_rows(rows: list[dict], args: argparse.Namespace) -> None:
    titles = {
        "a": "(a) V001 -> latest",
        "b": f"(b) V001 -> latest, a conflicting lock held {args.hold:g} s",
        "b0": "(b0) = (b), the lock handling of before",
        "c": f"(c) fleet of {args.fleet}",
    }
    print(f"\n{'scenario':44} {'window':7} {'claims':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  rollout")
    for row in rows:
        if "error" in row:
            print(f"{titles[row['scenario']]:44} {row['error']}")
            continue
        for window in ("before", "during", "connected"):
            figures = row[window]
            cells = [
                "%8s" % ("-" if figures[name] is None else "%.1f" % figures[name])
                for name in ("p50_ms", "p99_ms", "max_ms")
            ]
            rollout = (
                "%s, %d round(s), the longest %.1f s (%.1f s without claims), failed claims: %d%s%s"
                % (
                    row["rollout"],
                    row["rounds"],
                    row["rollout_s"],
                    row["rollout_unloaded_s"],
                    row["failed"],
                    "" if row["pgbench_exit"] == 0 else ", pgbench exit %d" % row["pgbench_exit"],
                    "" if row["covered"] else ", claims ended before the rollout",
                )
                if window == "during"
                else "controller CPU up to %.1f s a round (it shares the cores)" % row["controller_cpu_s"]
                if window == "connected"
                else ""
            )
            title = titles[row["scenario"]] if window == "before" else ""
            print(f"{title:44} {window:7} {figures['claims']:>7} {' '.join(cells)}  {rollout}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--awards", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=200, help="claims per second")
    parser.add_argument("--before", type=float, default=10, help="seconds of claims before the rollout")
    parser.add_argument("--hold", type=float, default=5, help="seconds the blocker of (b) holds its lock")
    parser.add_argument("--fleet", type=int, default=20)
    parser.add_argument("--fleet-awards", type=int, default=100_000)
    parser.add_argument("--scenarios", default="a,b0,b,c")
    parser.add_argument("--path", default="controller", choices=["controller", "host"])
    parser.add_argument(
        "--controller-nice",
        type=int,
        default=0,
        help="run the controller (ansible-playbook) at this nice level, standing in for a machine of its own",
    )
    parser.add_argument("--repeat", type=int, default=3, help="loaded rounds per scenario, their claims pooled")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    chosen = args.scenarios.split(",")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="pg_migrate-traffic-"))
    try:
        bench = Bench(work, localpg.start(work / "pg"), forks=10)
        print(
            f"pg_migrate traffic benchmark: PostgreSQL {Path(bench.conn.bindir).parent.name}, {os.cpu_count()} "
            f"cores, {args.awards:,} awards, {args.rate} claims/s from {CLIENTS} clients, {args.path} path",
            flush=True,
        )
        templates = {"main": template_at_v001(bench, "traffic_v001", args.awards)}
        if "c" in chosen:
            templates["fleet"] = template_at_v001(bench, "traffic_fleet_v001", args.fleet_awards)
        rows = []
        for key in chosen:
            print(f"  measuring ({key}) ...", file=sys.stderr, flush=True)
            rows.append(measure(bench, args, key, templates, work))
        print_rows(rows, args)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2) + "\n")
        return 0
    finally:
        localpg.stop(work / "pg")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
