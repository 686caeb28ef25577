# pg_migrate: the options of one run, in groups (joined by engine.argument_spec, the pg_migrate module's spec
# and pg_migrate_run's database part). Their documentation: the module's DOCUMENTATION and
# doc_fragments/session.py; tests/unit/plugins/module_utils/settings/test_declared.py keeps the three in step.

from __future__ import annotations


def session_options() -> dict:
    """The database, its history table, the timeouts and the lock (documented in doc_fragments/session.py)."""
    return dict(
        login_db=dict(type="str", required=True),
        password_handoff=dict(type="path", no_log=False),  # a path: the password itself comes through it
        history_schema=dict(type="str", default="public"),
        history_table=dict(type="str", default="pg_migrate_history"),
        lock_timeout=dict(type="str", default="2s"),
        statement_timeout=dict(type="str", default="30min"),
        lock_retries=dict(type="int", default=3),
        lock_retry_delay=dict(type="float", default=2.0),
        advisory_lock_wait=dict(type="float", default=120),
        # The lock ladder and the look before queueing (run/table_locks.py).
        lock_ladder=dict(type="list", elements="str", default=["50ms", "100ms", "200ms", "500ms", "1s"]),
        lock_wait_limit=dict(type="str", default="2min"),
        lock_blocker_age=dict(type="str", default="50ms"),
        parallel_maintenance_workers=dict(type="int", default=0),
        # The standbys' replay lag before a change (run/standby_lag.py).
        standby_max_lag=dict(type="str", default="30s"),
        standby_max_lag_bytes=dict(type="int", default=0),
        standby_wait=dict(type="str", default="5min"),
        standby_catch_up=dict(type="bool", default=False),
    )


def action_options() -> dict:
    """What to do with which change set: the migrate, rollback, seed and verify options."""
    return dict(
        action=dict(type="str", default="plan", choices=["backfill", "migrate", "plan", "rollback", "seed", "verify"]),
        changeset=dict(type="dict", required=True),
        scripts_dir=dict(type="path", required=True),
        target_version=dict(type="str"),
        baseline_version=dict(type="str"),
        # Another tool's history as the baseline (plan/adoption.py, run/foreign_history.py).
        # "" reads no other tool's history (the role's default, so both paths pass the same value).
        adopt=dict(
            type="str", default="", choices=["", "golang-migrate", "dbmate", "goose", "flyway", "diesel", "efcore"]
        ),
        adopt_table=dict(type="str", default=""),
        allow_out_of_order=dict(type="bool", default=False),
        repair=dict(type="bool", default=False),
        verify=dict(type="bool", default=True),
        rehearse=dict(type="bool", default=False),
        group_transactions=dict(type="bool", default=False),
        expected=dict(type="dict"),
        probes=dict(type="dict"),
        probe_lock_timeout=dict(type="str", default="1s"),
        force=dict(type="bool", default=False),
        # After a successful migrate: the verify scripts, probes and (with expected) the live catalog.
        verify_schema=dict(type="bool", default=False),
        # After a successful migrate: the operator's health query (one number), at most health_max to pass.
        health_query=dict(type="str"),
        health_max=dict(type="float", default=0.0),
        health_timeout=dict(type="str", default="5s"),
    )


def backfill_options() -> dict:
    return dict(
        backfill=dict(type="dict"),
        batch_size=dict(type="int", default=5000),
        cursor=dict(type="raw", default=0),
        max_seconds=dict(type="float", default=0),
        batch_pause=dict(type="float", default=0),
        measure=dict(type="bool", default=True),
        phase=dict(type="str", default="forward", choices=["forward", "sweep"]),
        high_water=dict(type="raw"),
    )


def server_options() -> dict:
    """The server beyond the database (documented in doc_fragments/session.py, SERVER)."""
    return dict(
        # The preflight (skipped when preflight is false: the backfill loop's later batches).
        preflight=dict(type="bool", default=False),
        inventory_host=dict(type="str", default=""),
        required_extensions=dict(type="list", elements="str", default=[]),
        min_server_version=dict(type="int", default=12),
        on_standby=dict(type="str", default="skip", choices=["skip", "fail"]),
        # A fleet's per-server limit: at most per_server changing runs on this server at once (advisory-lock
        # slots in slot_db); 0 sets no limit. fleet_server names the server in messages.
        fleet_server=dict(type="str", default=""),
        per_server=dict(type="int", default=0),
        slot_db=dict(type="str", default="postgres"),
        # Return before changing anything when the action would change something (result deferred=true):
        # the role then runs the change as a background job.
        defer_changes=dict(type="bool", default=False),
        progress_file=dict(type="path"),
        # The background job's own stop (run/time_limit.py): 0 leaves the run unlimited.
        run_timeout=dict(type="float", default=0),
    )


def host_options() -> dict:
    """The change set as one tar on the managed host, unpacked into scripts_dir first (the role's copy)."""
    return dict(
        bundle=dict(type="path"),
        dir_mode=dict(type="str", default="0750"),
        remote_owner=dict(type="str"),
        remote_group=dict(type="str"),
    )
