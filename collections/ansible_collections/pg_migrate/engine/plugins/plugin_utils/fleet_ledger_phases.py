# pg_migrate: the fleet action's phases with a fleet ledger (plugin_utils/fleet_ledger.py has the pieces): the
# preflight joins the rollout, each wave's gate waits for the earlier waves and reads the halt, the report is the
# whole fleet's from the ledger, and the status shows the latest rollout.

from __future__ import annotations

import time
from collections.abc import Callable

from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet import ledger
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_ledger import (
    LedgerAccess,
    changeset_digest,
    controller_label,
    fleet_entries,
    halt_of,
    lost_halt,
    open_ledger,
    own_batches,
    settled,
    wave_of,
)


# --- the fleet action's phases with a ledger ---------------------------------------------------------------
def join_rollout(
    access: LedgerAccess, task_vars: dict, draft: dict, ready: list[dict], changeset: dict, problems: list[str]
) -> dict:
    """This controller's part of the rollout the ledger holds (created with DRAFT - members, waves, canaries,
    allowed, canary_stops, max_failures - by the first controller to come): the preflight's fields to replace.
    This controller's preflight PROBLEMS halt the whole rollout: its databases cannot follow the others."""
    who = controller_label(task_vars)
    rollout = ledger.rollout_id(changeset_digest(changeset), draft, access.attempt)
    conn = open_ledger(access, "the fleet preflight")
    try:
        stored = ledger.open_rollout(conn, rollout, draft, who)
        wave_by_host = {host: number for number, wave in enumerate(stored["plan"]["waves"], start=1) for host in wave}
        ledger.register_databases(conn, rollout, [dict(e, wave=wave_by_host.get(e["host"], 0)) for e in ready], who)
        if problems:
            ledger.halt(
                conn,
                rollout,
                "the fleet preflight of %s found %d problem(s), the first: %s" % (who, len(problems), problems[0]),
                who,
            )
    finally:
        conn.close()
    plan = stored["plan"]
    ordered, serial = own_batches(plan["waves"], [entry["host"] for entry in ready])
    return {
        "ledger": {
            "rollout_id": rollout,
            "controller": who,
            "plan": plan,
            "started_by": stored["started_by"],
            "where": access.where,
        },
        "run_id": rollout,
        "started_at": stored["started_at"],
        "waves": plan["waves"],
        "canaries": plan["canaries"],
        "allowed": plan["allowed"],
        "ordered": ordered,
        "serial": serial,
    }


def gate(access: LedgerAccess, task_vars: dict, say: Callable[[str], None]) -> dict:
    """At the start of one of this controller's waves: wait until the earlier waves finished wherever they run,
    then whether the rollout halts (recorded in the ledger for every controller)."""
    info = (task_vars.get("__pg_migrate_fleet_preflight") or {})["ledger"]
    rollout, plan, who = info["rollout_id"], info["plan"], info["controller"]
    batch = list(task_vars.get("ansible_play_batch") or [])
    wave = wave_of(plan, batch[0]) if batch else 0
    conn = open_ledger(access, "the fleet gate")
    try:
        waiting, reason = ledger.wait_for_waves_before(
            conn,
            rollout,
            plan,
            wave,
            access.wait_s,
            lambda hosts: say(
                "fleet ledger: wave %d waits for %d database(s) of earlier waves: %s"
                % (wave, len(hosts), ", ".join(hosts[:5]) + (" ..." if len(hosts) > 5 else ""))
            ),
        )
        if waiting:
            return {
                "ledger": rollout,
                "wave": wave,
                "halt": "%d database(s) of earlier waves did not finish within "
                "pg_migrate_fleet_ledger_wait: %s; this controller stops, the ledger keeps the rollout going"
                % (len(waiting), ", ".join(waiting[:5])),
            }
        if not reason:
            reason = halt_of(plan, ledger.outcomes(conn, rollout))
            reason = ledger.halt(conn, rollout, reason, who) if reason else ""
        return {"ledger": rollout, "wave": wave, "halt": reason}
    finally:
        conn.close()


def final_report_inputs(
    access: LedgerAccess, preflight: dict, say: Callable[[str], None], sleep: Callable[[float], None] = time.sleep
) -> tuple[list[dict], str, bool]:
    """(every database's entry, the halt, whether the rollout is over) from the ledger - waiting, at most
    pg_migrate_fleet_ledger_wait, until the other controllers' databases have their last word, so that every
    controller writes the same whole report."""
    info = preflight["ledger"]
    rollout, plan = info["rollout_id"], info["plan"]
    conn = open_ledger(access, "the fleet report")
    try:
        deadline = time.monotonic() + access.wait_s
        told = False
        while True:
            known, halted = ledger.outcomes(conn, rollout), ledger.halted(conn, rollout)
            over = settled(plan, known, halted)
            if over or time.monotonic() >= deadline:
                break
            if not told:
                say("fleet ledger: the report waits for the databases other controllers still run")
                told = True
            sleep(1.0)
        entries = fleet_entries(plan, known, halted)
        return entries, halted or lost_halt(entries) or (halt_of(plan, known) if over else ""), over
    finally:
        conn.close()


def ledger_rollout(access: LedgerAccess) -> dict | None:
    """The ledger's latest rollout and its databases' states (fleet-status), None when there is none yet."""
    conn = open_ledger(access, "the fleet status")
    try:
        return ledger.latest_rollout(conn)
    finally:
        conn.close()


def ledger_lines(rollout: dict | None, access: LedgerAccess | None) -> list[str]:
    """fleet-status's lines about the ledger's latest rollout: who started it, where its databases are."""
    if access is None:
        return []
    if not rollout:
        return ["  fleet ledger %s: no rollout yet" % access.where]
    states = ", ".join("%d %s" % (count, state) for state, count in rollout["states"].items()) or "none read yet"
    halted = "; halted: %s" % rollout["halted_reason"] if rollout.get("halted_reason") else ""
    return [
        "  fleet ledger %s: rollout %s (started %s by %s): %s%s"
        % (access.where, rollout["rollout_id"], rollout["started_at"], rollout["started_by"], states, halted)
    ]
