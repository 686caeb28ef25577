# pg_migrate: the options of the pg_migrate module about its session with the database: the connection beyond
# community.postgresql's own options (community.postgresql.postgres documents login_user, login_password,
# login_host, login_port, ...), the history table, timeouts and locks. In the role the connection comes from one
# module_defaults block (group/pg_migrate.engine.all).
#
# SERVER (pg_migrate.engine.session.server) is the pg_migrate module's alone: what a run does about the server
# beyond its database, kept here so the module's file holds what it does, not pages of option text.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_db:
    description: The database to work on.
    type: str
    required: true
  password_handoff:
    description:
      - A path on the managed host where the module creates a FIFO (mode 0600) and reads the login password from
        it, written there by the role's pg_migrate_watch over the connection. Used for background (async) runs,
        whose arguments sit in a file on the host while they run; the password is then not among them, and
        C(login_password) is left empty.
    type: path
  history_schema:
    description: Schema of the history table (created when absent).
    type: str
    default: public
  history_table:
    description: Name of the history table (created when absent).
    type: str
    default: pg_migrate_history
  lock_timeout:
    description: C(lock_timeout) for every migration, revert, seed script and backfill batch.
    type: str
    default: 2s
  statement_timeout:
    description: C(statement_timeout) for every migration, revert, seed script and backfill batch.
    type: str
    default: 30min
  lock_retries:
    description: How often a script (or batch) is retried after its lock timeout fired (SQLSTATE 55P03).
    type: int
    default: 3
  lock_retry_delay:
    description: Seconds before the first retry; doubled for each further one.
    type: float
    default: 2.0
  advisory_lock_wait:
    description: Seconds to wait for another run's advisory lock on the same database before failing.
    type: float
    default: 120
  lock_ladder:
    description:
      - C(lock_timeout) of a unit's first attempts, in order, before the attempts at O(lock_timeout) (retried
        O(lock_retries) times); a rung not shorter than O(lock_timeout) is left out. An empty list leaves those
        alone.
    type: list
    elements: str
    default: [50ms, 100ms, 200ms, 500ms, 1s]
  lock_wait_limit:
    description: The most one unit waits for its table locks in all (looking, queued, sleeping) before it fails
      naming its blockers (a PostgreSQL duration).
    type: str
    default: 2min
  parallel_maintenance_workers:
    description: C(max_parallel_maintenance_workers) of the run's session (0 builds an index with one process,
      leaving the other cores to the application); -1 leaves the server's setting.
    type: int
    default: 0
  lock_blocker_age:
    description: A session holding or awaiting a conflicting lock on a table a statement is about to lock blocks
      it when its transaction is at least this old; the run then waits without queueing (a PostgreSQL duration).
    type: str
    default: 50ms
  standby_max_lag:
    description: The most replay lag of a standby (pg_stat_replication.replay_lag) before a change; 0 sets no
      limit.
    type: str
    default: 30s
  standby_max_lag_bytes:
    description: The most WAL bytes a standby may have left to replay before a change; 0 sets no limit.
    type: int
    default: 0
  standby_wait:
    description: The most the run waits for its standbys before it fails naming them (a PostgreSQL duration).
    type: str
    default: 5min
  standby_catch_up:
    description: Also wait until every standby has replayed all WAL written before the run looked.
    type: bool
    default: false
"""

    # The options of one run about the server beyond this database: the preflight of its facts, its
    # per-server slots, and a change handed over to a background job that notes its progress.
    SERVER = r"""
options:
  progress_file:
    description:
      - A file on the managed host where O(action=migrate) and O(action=rollback) note which script is running
        (JSON), so a watcher (the role's pg_migrate_watch) can show progress of a long run; removed at the end.
    type: path
  preflight:
    description:
      - Before the action, read the server's facts and refuse (or skip, see O(on_standby)) a server this change set
        cannot run on - a hot standby, a version below O(min_server_version), O(required_extensions) that are
        missing or that the login role may not create, no CREATE in the current schema. Read-only.
    type: bool
    default: false
  inventory_host:
    description: The inventory host name, for messages.
    type: str
    default: ""
  required_extensions:
    description: Extensions the change set creates; the preflight checks that they are available and creatable.
    type: list
    elements: str
    default: []
  min_server_version:
    description: The lowest PostgreSQL major version the change set supports.
    type: int
    default: 12
  on_standby:
    description: What the preflight does on a hot standby (except for O(action=plan), which reads it) - skip or fail.
    type: str
    choices: [skip, fail]
    default: skip
  verify_schema:
    description:
      - After a successful O(action=migrate), run the applied migrations' verify scripts and the probes of
        O(probes), and read the live catalog when O(expected) is given; returned as RV(verification).
    type: bool
    default: false
  health_query:
    description:
      - After a successful O(action=migrate) (and its verification), run this query read-only; it must return
        one number, at most O(health_max), for the health gate to pass (returned as RV(health)).
    type: str
  health_max:
    description: The largest value of O(health_query) that passes the health gate.
    type: float
    default: 0.0
  health_timeout:
    description: The lock timeout and statement timeout of O(health_query); a query that waits or runs longer
      fails the gate.
    type: str
    default: 5s
  fleet_server:
    description: The fleet's name of the server the database lives on (for messages of O(per_server)).
    type: str
    default: ""
  per_server:
    description:
      - With O(action=migrate) or O(action=rollback) outside check mode, at most this many runs change
        databases of this server at the same time - each holds a slot, an advisory lock (key namespace
        1885826413, slot number) taken in O(slot_db) on a second connection, until the run ends. 0 sets no
        limit.
    type: int
    default: 0
  slot_db:
    description: The database of the server in which the O(per_server) slots are taken.
    type: str
    default: postgres
  defer_changes:
    description:
      - With O(action=migrate) or O(action=rollback) outside check mode, return RV(deferred)=true instead of
        changing anything when the action has work to do (the role then runs it as a background job). A run with
        nothing to do runs here and now.
    type: bool
    default: false
  run_timeout:
    description:
      - Seconds a O(action=migrate) or O(action=rollback) outside check mode may run (the role's
        C(pg_migrate_run_timeout)); 0 sets no limit. Run as a background job (C(async)), the module stops itself
        10 seconds after this - its statement cancelled, its open transaction rolled back - should Ansible's
        kill of the job at C(async) seconds not reach it (a job whose process escaped the killed process group
        on a busy host).
    type: float
    default: 0
"""
