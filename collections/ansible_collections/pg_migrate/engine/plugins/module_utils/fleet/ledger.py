# pg_migrate: the fleet ledger - one rollout's state in a PostgreSQL database every controller reaches, so that
# several controllers (AWX / Automation Platform job slices, two ansible-playbook processes) roll out ONE
# rollout: one canary, one failure budget, one halt, one report.
#
# Two tables in the schema pgmigrate_fleet of the ledger database:
#   rollouts   one row per rollout: its id, the plan the first controller recorded (members in rollout order,
#              waves, canaries, budget), and the halt once some controller decided it;
#   databases  one row per database of a rollout: its wave, state, the fleet report's entry for it, which
#              controller ran it, when it started and finished.
# A database's run holds a session-level advisory lock (LEDGER_NAMESPACE, database_key) on the ledger from its
# start to its end: a row still "running" whose lock nobody holds belongs to a run whose controller died
# (kill -9, a lost execution node), and reads as "lost" - never as success, never waited for forever.
#
# Driver-neutral: every function takes an open DB-API connection in autocommit (psycopg 2 or 3, dict or tuple
# rows). The fleet action plugin and the pg_migrate_run action call these; tests/engine/test_fleet_ledger.py
# runs them against a real server.

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Callable

SCHEMA = "pgmigrate_fleet"  # "pg_" names are reserved for system schemas
# pg_advisory_lock(int4, int4) keys on the ledger database: this namespace ("pgml"), then database_key(). The
# per-server slots (run/server_slot.py) use their own namespace on the fleet's servers.
LEDGER_NAMESPACE = 1885826412
READY = "ready"  # its controller's preflight read it; not started yet
RUNNING = "running"
LOST = "lost"  # a running row whose run's session is gone: its outcome is unknown
NOT_STARTED = (None, READY)
DDL = (
    "CREATE SCHEMA IF NOT EXISTS %s" % SCHEMA,
    """CREATE TABLE IF NOT EXISTS %s.rollouts (
        rollout_id text PRIMARY KEY,
        plan jsonb NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        started_by text NOT NULL,
        halted_reason text,
        halted_at timestamptz,
        halted_by text
    )"""
    % SCHEMA,
    """CREATE TABLE IF NOT EXISTS %s.databases (
        rollout_id text NOT NULL REFERENCES %s.rollouts ON DELETE CASCADE,
        host text NOT NULL,
        wave integer NOT NULL,
        state text NOT NULL,
        entry jsonb,
        controller text NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        PRIMARY KEY (rollout_id, host)
    )"""
    % (SCHEMA, SCHEMA),
)


def rollout_id(changeset_digest: str, plan: dict, attempt: str = "") -> str:
    """The id of a rollout: the same for every controller that rolls out the same change set (CHANGESET_DIGEST)
    to the same fleet in the same waves under the same budget (PLAN), in the same ATTEMPT (AWX's workflow job
    id, or the operator's label): 16 hex digits."""
    fixed = {key: plan.get(key) for key in ("members", "waves", "allowed", "canary_stops")}
    text = json.dumps([changeset_digest, fixed, attempt], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def database_key(rollout: str, host: str) -> int:
    """The second advisory-lock key of HOST's run in ROLLOUT: a signed 32-bit value."""
    key = zlib.crc32(("%s/%s" % (rollout, host)).encode("utf-8"))
    return key - (1 << 32) if key >= (1 << 31) else key


def _rows(conn, sql: str, params=None) -> list[dict]:
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.description is None:
            return []
        names = [column[0] for column in cursor.description]
        return [row if isinstance(row, dict) else dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _json(value) -> dict:
    """A jsonb column as a dict, whichever driver decoded it (psycopg decodes, a plain string does not)."""
    return json.loads(value) if isinstance(value, str) else dict(value or {})


def ensure_schema(conn) -> None:
    """The ledger's tables, created once. Controllers that start together would race CREATE ... IF NOT EXISTS
    (a unique violation in the catalogs): a transaction-level advisory lock makes them take turns."""
    with conn.cursor() as cursor:
        cursor.execute("BEGIN")
        try:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LEDGER_NAMESPACE,))
            for statement in DDL:
                cursor.execute(statement)
            cursor.execute("COMMIT")
        except Exception:
            cursor.execute("ROLLBACK")
            raise


def open_rollout(conn, rollout: str, plan: dict, controller: str) -> dict:
    """ROLLOUT's record, created with PLAN by the first controller; every later one gets that same record
    (plan, started_at, started_by, halted_reason), so all of them cut the same waves."""
    _rows(
        conn,
        "INSERT INTO %s.rollouts (rollout_id, plan, started_by) VALUES (%%s, %%s::jsonb, %%s) "
        "ON CONFLICT (rollout_id) DO NOTHING" % SCHEMA,
        (rollout, json.dumps(plan), controller),
    )
    row = _rows(
        conn,
        "SELECT plan, started_at::text AS started_at, started_by, halted_reason, halted_by "
        "FROM %s.rollouts WHERE rollout_id = %%s" % SCHEMA,
        (rollout,),
    )[0]
    return dict(row, plan=_json(row["plan"]))


def register_databases(conn, rollout: str, ready: list[dict], controller: str) -> None:
    """The databases a controller's preflight read (READY: their pending lines of the fleet report, with the
    version each is at), so every controller's report knows them before they run; a row already there (another
    attempt of the same controller's preflight, or a database that ran) is left alone."""
    for entry in ready:
        _rows(
            conn,
            "INSERT INTO %s.databases (rollout_id, host, wave, state, entry, controller) VALUES "
            "(%%s, %%s, %%s, %%s, %%s::jsonb, %%s) ON CONFLICT (rollout_id, host) DO NOTHING" % SCHEMA,
            (rollout, entry["host"], entry.get("wave") or 0, READY, json.dumps(entry), controller),
        )


def start_database(conn, rollout: str, host: str, wave: int, controller: str) -> bool:
    """HOST's run begins: its row says running, and this session holds its lock until finish_database (or its
    end). False when another live run holds it (a second controller with the same database), or when the
    database already has an outcome in this rollout: then it must not run again."""
    if not _try_lock(conn, rollout, host, attempts=3):
        return False
    taken = _rows(
        conn,
        "INSERT INTO %s.databases AS d (rollout_id, host, wave, state, controller) VALUES (%%s, %%s, %%s, %%s, %%s) "
        "ON CONFLICT (rollout_id, host) DO UPDATE SET state = EXCLUDED.state, controller = EXCLUDED.controller, "
        "started_at = now(), finished_at = NULL WHERE d.state IN (%%s, %%s, %%s) RETURNING host" % SCHEMA,
        (rollout, host, wave, RUNNING, controller, RUNNING, LOST, READY),
    )
    if not taken:
        release_database(conn, rollout, host)
    return bool(taken)


def _try_lock(conn, rollout: str, host: str, attempts: int = 1) -> bool:
    """HOST's lock, taken by this session; a few ATTEMPTS, since a reader marking a dead run lost holds it for
    a moment."""
    for attempt in range(attempts):
        got = _rows(conn, "SELECT pg_try_advisory_lock(%s, %s) AS got", (LEDGER_NAMESPACE, database_key(rollout, host)))
        if got[0]["got"]:
            return True
        if attempt + 1 < attempts:
            time.sleep(0.05)
    return False


def mark_lost(conn, rollout: str, host: str) -> bool:
    """Write LOST into HOST's row when it says running and no live run holds its lock (its controller died),
    under that lock, so a run that starts meanwhile is never marked; whether it was marked."""
    if not _try_lock(conn, rollout, host):
        return False
    try:
        return bool(
            _rows(
                conn,
                "UPDATE %s.databases SET state = %%s, finished_at = now() WHERE rollout_id = %%s AND host = %%s "
                "AND state = %%s RETURNING host" % SCHEMA,
                (LOST, rollout, host, RUNNING),
            )
        )
    finally:
        release_database(conn, rollout, host)


def finish_database(conn, rollout: str, host: str, entry: dict) -> None:
    """HOST's outcome: ENTRY is its line of the fleet report (state, versions, failure, health, lag, duration);
    then its lock is let go."""
    _rows(
        conn,
        "UPDATE %s.databases SET state = %%s, entry = %%s::jsonb, finished_at = now() "
        "WHERE rollout_id = %%s AND host = %%s" % SCHEMA,
        (entry["state"], json.dumps(entry), rollout, host),
    )
    release_database(conn, rollout, host)


def release_database(conn, rollout: str, host: str) -> None:
    _rows(conn, "SELECT pg_advisory_unlock(%s, %s)", (LEDGER_NAMESPACE, database_key(rollout, host)))


def outcomes(conn, rollout: str) -> dict[str, dict]:
    """Every database of ROLLOUT the ledger knows: {host: {wave, state, entry, controller, started_at,
    finished_at}}. A running row whose lock no session holds reads as LOST: its run died with its controller."""
    held = {
        row["objid"]
        for row in _rows(
            conn,
            "SELECT objid::bigint AS objid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s::oid AND objsubid = 2 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (str(LEDGER_NAMESPACE),),
        )
    }
    found = {}
    for row in _rows(
        conn,
        "SELECT host, wave, state, entry, controller, started_at::text AS started_at, "
        "finished_at::text AS finished_at FROM %s.databases WHERE rollout_id = %%s" % SCHEMA,
        (rollout,),
    ):
        if row["state"] == RUNNING and (database_key(rollout, row["host"]) & 0xFFFFFFFF) not in held:
            mark_lost(conn, rollout, row["host"])
            row["state"] = LOST
        row["entry"] = _json(row["entry"]) if row["entry"] is not None else None
        found[row["host"]] = row
    return found


def halt(conn, rollout: str, reason: str, controller: str) -> str:
    """Record that ROLLOUT halts for REASON unless it already halted: the reason that stands (the first)."""
    _rows(
        conn,
        "UPDATE %s.rollouts SET halted_reason = %%s, halted_at = now(), halted_by = %%s "
        "WHERE rollout_id = %%s AND halted_reason IS NULL" % SCHEMA,
        (reason, controller, rollout),
    )
    return halted(conn, rollout)


def halted(conn, rollout: str) -> str:
    """Why ROLLOUT halted ('' while it goes on)."""
    rows = _rows(conn, "SELECT halted_reason FROM %s.rollouts WHERE rollout_id = %%s" % SCHEMA, (rollout,))
    return (rows[0]["halted_reason"] or "") if rows else ""


def unfinished_before(plan: dict, known: dict[str, dict], wave: int) -> list[str]:
    """The databases of waves before WAVE (from 1) that have no final outcome yet in KNOWN (outcomes()): not
    started, or running. A lost one counts as finished: its controller is gone, and waiting for it would hold
    every other controller for nothing."""
    earlier = [host for number, hosts in enumerate(plan.get("waves") or [], start=1) if number < wave for host in hosts]
    return [host for host in earlier if (known.get(host) or {}).get("state") in (*NOT_STARTED, RUNNING)]


def wait_for_waves_before(
    conn,
    rollout: str,
    plan: dict,
    wave: int,
    timeout_s: float,
    on_wait: Callable[[list[str]], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[list[str], str]:
    """Wait until every database of the waves before WAVE has finished, wherever it runs, or the rollout halted:
    ([], halt reason or '') then; (the databases still unfinished, '') when TIMEOUT_S ran out. ON_WAIT(those
    databases) is called once, when the wait begins (a progress line)."""
    deadline = clock() + timeout_s
    told = False
    poll = 0.2
    while True:
        reason = halted(conn, rollout)
        waiting = [] if reason else unfinished_before(plan, outcomes(conn, rollout), wave)
        if reason or not waiting:
            return [], reason
        if clock() >= deadline:
            return waiting, ""
        if not told:
            on_wait(waiting)
            told = True
        sleep(poll)
        poll = min(poll * 1.5, 2.0)


def latest_rollout(conn) -> dict | None:
    """The rollout started last in this ledger, with how many of its databases are in each state (running ones
    whose controller died counted as lost): for fleet-status while a rollout runs."""
    rows = _rows(
        conn,
        "SELECT rollout_id, started_at::text AS started_at, started_by, halted_reason FROM %s.rollouts "
        "ORDER BY started_at DESC LIMIT 1" % SCHEMA,
    )
    if not rows:
        return None
    found = dict(rows[0])
    counts: dict[str, int] = {}
    for row in outcomes(conn, found["rollout_id"]).values():
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    found["states"] = dict(sorted(counts.items()))
    return found
