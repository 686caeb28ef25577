# pg_migrate: the options of the pg_migrate module about its session with the database: the connection beyond
# community.postgresql's own options (community.postgresql.postgres documents login_user, login_password,
# login_host, login_port, ...), the history table, timeouts and locks. In the role the connection comes from one
# module_defaults block (group/pg_migrate.engine.all).

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
"""
