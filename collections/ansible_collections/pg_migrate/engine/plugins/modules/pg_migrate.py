#!/usr/bin/python
# pg_migrate: plan, apply or revert a change set on one PostgreSQL database, in one module call.
# The work is done in module_utils (session, apply, rollback, verify, backfill); this file only reads the
# arguments, connects, hands over and reports.

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_migrate
short_description: Plan, apply or revert a pg_migrate change set on one PostgreSQL database
description:
  - Reads the change set's scripts from O(scripts_dir) on the managed host (copied there by the
    pg_migrate role), checks each against the SHA-256 the controller computed, and talks to the
    database through the same connection code as the community.postgresql modules.
  - O(action=plan) only reads the history table and reports what a run would do.
  - O(action=migrate) takes a session advisory lock (polled with a bound, never waited on forever),
    re-reads the history under it (the version-check guard), then applies each pending migration
    together with its history row in one transaction, with C(lock_timeout) and C(statement_timeout)
    set and bounded retries with backoff when the lock timeout fires (SQLSTATE 55P03). Scripts whose
    first line is C(-- pg_migrate:no-transaction) run statement by statement outside a transaction.
    Repeatable (R__) scripts that are new or changed follow once the change set's latest version is reached.
  - O(action=rollback) runs revert scripts newest first down to O(target_version), each together with
    the removal of its history row.
  - O(action=seed) applies the repeatable (R__) scripts that are new or changed (all of them with
    O(force=true)) on a database whose migrations are all applied, under the same advisory lock.
  - O(action=backfill) runs the backfill batch script of O(backfill) again and again, each batch in its
    own short transaction, until nothing is left or O(max_seconds) have passed; it returns the keyset
    cursor to continue from. In check mode it only counts what is left (the C(count) script of O(backfill)).
  - In check mode nothing is changed; with O(rehearse=true) all pending transactional scripts are
    executed in one transaction that is rolled back.
options:
  action:
    description:
      - What to do. C(verify) is read-only; every probe and verify script runs in a transaction that is
        rolled back.
    choices: [plan, migrate, rollback, verify, seed, backfill]
    default: plan
    type: str
  changeset:
    description: The change set as returned by the pg_migrate_changeset action (names, checksums, statement offsets).
    type: dict
    required: true
  scripts_dir:
    description: Directory on the managed host that holds the copied scripts (migrations/ and seeds/).
    type: path
    required: true
  target_version:
    description: Stop at (migrate) or revert down to (rollback) this version; V(000) reverts everything.
    type: str
  baseline_version:
    description:
      - On a database without history, record the migrations up to this version as applied (after their
        verify scripts pass) instead of running them.
    type: str
  adopt:
    description:
      - On a database without history, record what this tool's history table says it applied as a baseline (after
        the verify scripts pass); refused before any change when that history is dirty, failed, or not exactly the
        change set's first migrations. Ignored, with a warning, once there is a history. V("") reads none.
    type: str
    choices: ["", golang-migrate, dbmate, goose, flyway, diesel, efcore]
    default: ""
  adopt_table:
    description: O(adopt)'s history table (schema-qualified) when not the tool's own name on the search_path; only read.
    type: str
    default: ""
  allow_out_of_order:
    description: Apply pending versions that sort below the highest applied one.
    type: bool
    default: false
  repair:
    description: Record the current checksum of applied migrations whose file changed, instead of failing.
    type: bool
    default: false
  verify:
    description:
      - Run each migration's verify script right after it, in the same transaction; a failure rolls the
        migration back.
    type: bool
    default: true
  rehearse:
    description:
      - For O(action=migrate) in check mode, execute the pending transactional scripts in one transaction and roll
        it back. A rollback always rehearses its transactional reverts this way before the first one runs (and in
        check mode), whatever this option says.
    type: bool
    default: false
  group_transactions:
    description: Apply consecutive transactional migrations in one transaction (all or nothing) instead of one each.
    type: bool
    default: false
  expected:
    description:
      - For O(action=verify), the change set's expected schema (expected_schema.yml); the entries in force at
        the database's version are returned as RV(expected_active).
    type: dict
  probes:
    description: For O(action=verify), the behavioural probes (probes.yml) with their fixtures.
    type: dict
  probe_lock_timeout:
    description: C(lock_timeout) of every probe transaction.
    type: str
    default: 1s
  force:
    description: For O(action=seed), apply every repeatable script, changed or not (they must be idempotent).
    type: bool
    default: false
  backfill:
    description:
      - For O(action=backfill), the scripts as discovered by the pg_migrate_changeset action, C(batch) and
        C(count). The batch script changes at most C(pg_migrate.batch_size) rows after the cursor
        C(pg_migrate.after) (text, empty at the start of a pass) and returns one row C(done), C(last_key) and
        optionally C(blocked); the count script returns C(remaining) and optionally C(blocked) and
        C(high_water). See docs/backfill.md.
    type: dict
  batch_size:
    description: For O(action=backfill), rows per batch (each batch is one transaction).
    type: int
    default: 5000
  cursor:
    description: For O(action=backfill), the keyset cursor to continue after (the last C(last_key)); 0 starts a pass.
    type: raw
    default: 0
  max_seconds:
    description: For O(action=backfill), return after the batch that crosses this many seconds (0, no limit).
    type: float
    default: 0
  batch_pause:
    description: For O(action=backfill), seconds to sleep between batches, to leave the server breathing room.
    type: float
    default: 0
  measure:
    description: For O(action=backfill), count what is left before the first batch (the count script).
    type: bool
    default: true
  phase:
    description: For O(action=backfill), the pass to continue (C(forward), or the final C(sweep) from the start).
    type: str
    choices: [forward, sweep]
    default: forward
  high_water:
    description:
      - For O(action=backfill), the newest key when the backfill started (the count script's C(high_water)); a
        pass ends once it gets past it, so rows that arrive meanwhile do not keep the backfill going forever.
    type: raw
  bundle:
    description:
      - A tar of the change set on the managed host (written by the pg_migrate_run action), unpacked into
        O(scripts_dir) before the action; files already there with the same bytes and mode are left alone.
    type: path
  dir_mode:
    description: Mode of the directories O(bundle) creates.
    type: str
    default: "0750"
  remote_owner:
    description: Owner of what O(bundle) unpacks (unchanged when unset).
    type: str
  remote_group:
    description: Group of what O(bundle) unpacks (unchanged when unset).
    type: str
attributes:
  check_mode:
    support: full
    details: Nothing is changed; with O(rehearse=true) a migrate executes its pending scripts and rolls them back.
extends_documentation_fragment:
  - community.postgresql.postgres
  - pg_migrate.engine.session
  - pg_migrate.engine.session.server
author: pg_migrate developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Apply the pending migrations
  pg_migrate.engine.pg_migrate:
    action: migrate
    changeset: "{{ __pg_migrate_changeset }}"
    scripts_dir: /var/lib/pg_migrate/app
    login_db: app
"""

RETURN = r"""
server:
  description: The server's facts read by the preflight (version, in_recovery, login_role, extensions).
  returned: when O(preflight=true)
  type: dict
verification:
  description:
    - What verification found - version, expected_active, probe_results (verify scripts and probes) and, with
      O(expected), the live catalog; or error when it could not run.
  returned: with O(verify_schema=true) after a successful migrate, and for O(action=verify)
  type: dict
duration_ms:
  description: How long the run took, connection to close, in milliseconds.
  returned: always
  type: float
started_at:
  description: When the run began (connecting), UTC ISO 8601 to the millisecond, by the clock where it ran.
  returned: always
  type: str
finished_at:
  description: When the run ended (its connection closed), UTC ISO 8601 to the millisecond.
  returned: always
  type: str
health:
  description: The health gate's verdict (value, max, passed, message).
  returned: with O(health_query) after a successful migrate
  type: dict
deferred:
  description: True when O(defer_changes) stopped a run that has work to do, before anything was changed.
  returned: when O(defer_changes=true)
  type: bool
copied:
  description: How many files unpacking O(bundle) wrote.
  returned: always
  type: int
action:
  description: The action that ran.
  returned: always
  type: str
database:
  description: The database it ran on (O(login_db)).
  returned: always
  type: str
plan:
  description: What the run found and decided (versions, pending, drift, missing, out of order, problems).
  returned: always
  type: dict
applied:
  description: Migrations applied (version, script, checksum, duration_ms, attempts, transactional).
  returned: always
  type: list
reverted:
  description: Migrations reverted by a rollback (version, script, duration_ms, attempts).
  returned: always
  type: list
repeatables_applied:
  description: Repeatable scripts applied (script, checksum, duration_ms).
  returned: always
  type: list
repaired:
  description: The checksums recorded anew with O(repair=true).
  returned: when a migrate run repaired drift
  type: list
rehearsal:
  description: What a rehearsal ran and rolled back (rehearsed, not_rehearsed, rolled_back).
  returned: when a rollback or a check-mode migrate with O(rehearse=true) rehearsed
  type: dict
lock_waited_s:
  description: Seconds the run waited for another run's advisory lock.
  returned: when it waited a second or more
  type: float
standby_lag:
  description:
    - What the standby gate saw before the run changed the database (O(standby_max_lag), O(standby_max_lag_bytes),
      O(standby_catch_up)) - V(standbys), one C({name, client, lag_bytes, lag_s}) per streaming standby when the gate
      ended, and V(waited_s).
  returned: when the gate ran on a primary with streaming standbys (also when its wait ran out)
  type: dict
version:
  description: For O(action=verify), the version the database is at.
  returned: when action is verify
  type: str
expected_active:
  description: For O(action=verify), the expectations in force at that version.
  returned: when action is verify
  type: dict
probe_results:
  description: For O(action=verify), one result per probe and per verify script.
  returned: when action is verify
  type: list
failure:
  description: Where a failed run stopped (script, statement number, line, SQLSTATE, server message).
  returned: when a script failed
  type: dict
backfill:
  description:
    - For O(action=backfill), this call's batches, rows changed (linked), cursor, phase, whether it is done,
      what is left (remaining, linkable) and whether it was a dry run (check mode).
  returned: when action is backfill
  type: dict
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.community.postgresql.plugins.module_utils.postgres import ensure_required_libs

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.bundle import extract_bundle
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed
from ansible_collections.pg_migrate.engine.plugins.module_utils.engine import (
    argument_spec,
    connection_settings,
    execute,
    new_result,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.password_handoff import receive_password
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.session import Runner
from ansible_collections.pg_migrate.engine.plugins.module_utils.run.time_limit import job_backstop, run_within

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
HANDOFF_WAIT = 60.0


def run_job(runner: Runner, params: dict, module: AnsibleModule) -> dict:
    """The engine's run; one that outlives run_timeout (plus the backstop) is stopped by the module itself."""
    conn_params = connection_settings(params, module.warn)
    limit = job_backstop(params["action"], params["run_timeout"], module.check_mode)
    if not limit:
        return execute(runner, conn_params, module.check_mode, module._diff)
    return run_within(
        runner,
        lambda: execute(runner, conn_params, module.check_mode, module._diff),
        limit,
        new_result(params),
        runner.notes.latest,
        reported_limit=params["run_timeout"],
    )


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    for option in ("history_schema", "history_table"):
        if not IDENTIFIER.match(params[option]):
            module.fail_json(
                msg="%s %r is not a plain lower-case SQL identifier (letters, digits, _; at most 63): "
                "choose a name like pg_migrate_history" % (option, params[option])
            )
    ensure_required_libs(module)
    runner = Runner(params, warn=module.warn, log=module.log)
    runner.notes.write_note({"state": "starting"})
    if params["password_handoff"]:
        # The password of a background job comes through its FIFO, whatever login_password says (the role
        # leaves it empty then, so it is not among the job's arguments).
        try:
            secret = receive_password(params["password_handoff"], HANDOFF_WAIT)
        except RunFailed as failure:
            runner.notes.clear_progress()
            module.fail_json(msg=str(failure), changed=False)
        # Masked wherever the module's output could carry it, as if it had come as a no_log argument.
        module.no_log_values.add(secret)
        params = dict(params, login_password=secret)  # not in module.params: those are echoed back
        runner.params = params
    copied = 0
    if params["bundle"]:
        try:
            copied = extract_bundle(
                params["bundle"],
                params["scripts_dir"],
                int(params["dir_mode"], 8),
                params["remote_owner"],
                params["remote_group"],
            )
        except (OSError, KeyError, ValueError) as exc:
            module.fail_json(
                msg="cannot unpack the change set into %s: %s" % (params["scripts_dir"], exc), changed=False
            )
    result = run_job(runner, params, module)
    result["copied"] = copied
    if "msg" in result:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
