# pg_migrate: the documentation of the pg_migrate_watch action (plugins/action/pg_migrate_watch.py).
# The action runs on the controller; this file holds only its documentation, for ansible-doc.

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_migrate_watch
short_description: Follow a pg_migrate job running in the background, with progress lines
description:
  - Follows a run of the module C(pg_migrate.engine.pg_migrate) (O(pg_migrate.engine.pg_migrate#module:action=migrate)
    or O(pg_migrate.engine.pg_migrate#module:action=rollback)) started with C(async) and C(poll=0), until it ends,
    and returns the module's own result, so the tasks after it read it as if the module had run in the foreground.
  - While the job runs it reads the module's progress file (O(progress_file)) and prints a line when the running
    script changes and every O(every) seconds after that (which script, number N of M, for how long), or that the
    run waits for another run's lock. A run that ends quickly prints nothing extra.
  - When the job's process is gone without a result (killed, or the host rebooted), it fails with a message that
    says which script was running, and sets RV(job_lost). When the job outlives O(timeout) or its results file
    disappears, it fails with advice on how to find out whether the job still runs.
  - Given a result that is not a job (the module ran in the foreground, as in check mode, where Ansible allows no
    C(async)), it returns that result unchanged, without its diff (already shown with it).
  - This is an action plugin. It runs on the controller and reads the job's files on the managed host through the
    connection with small shell commands (no module transfer), and may remove the job's results file there.
options:
  job:
    description: The registered result of the task that started the module with C(async) and C(poll=0).
    type: dict
    required: true
  progress_file:
    description: The module's O(pg_migrate.engine.pg_migrate#module:progress_file) on the managed host.
    type: str
    default: /dev/null
  every:
    description: Seconds between progress lines about the same script.
    type: float
    default: 15
  timeout:
    description: The job's C(async) time limit in seconds; the watch gives up a minute after it.
    type: float
    default: 86400
  database:
    description: The database's name, for the progress lines and messages.
    type: str
    default: "?"
  password_handoff:
    description:
      - The module's O(pg_migrate.engine.pg_migrate#module:password_handoff) FIFO on the managed host. With
        O(password), the watch writes the password into it once the job has created it, over the connection's
        standard input (never on a command line).
    type: str
  password:
    description: The login password to hand over through O(password_handoff); it is never part of the result.
    type: str
attributes:
  check_mode:
    support: full
    details: In check mode the module runs in the foreground, and the watch returns its result unchanged.
  platform:
    platforms: posix
extends_documentation_fragment:
  - pg_migrate.engine.controller_action
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
"""

EXAMPLES = r"""
- name: Run the migration in the background
  pg_migrate.engine.pg_migrate:
    action: migrate
    changeset: "{{ discovery.changeset }}"
    scripts_dir: /var/lib/pg_migrate/app
    login_db: app
    progress_file: /var/lib/pg_migrate/app/.progress
  async: 3600
  poll: 0
  register: job

- name: Follow it until it ends, with progress for long steps
  pg_migrate.engine.pg_migrate_watch:
    job: "{{ job }}"
    progress_file: /var/lib/pg_migrate/app/.progress
    every: 15
    timeout: 3600
    database: app
  register: result
"""

RETURN = r"""
job_lost:
  description: The job's process ended without a result (or the host rebooted); RV(msg) says what was running.
  returned: when the job was lost
  type: bool
msg:
  description: Why the run failed, worded for an operator.
  returned: failure
  type: str
plan:
  description:
    - What the run found and decided, as the module C(pg_migrate.engine.pg_migrate) returned it.
    - The other keys of the module's result (RV(pg_migrate.engine.pg_migrate#module:applied),
      RV(pg_migrate.engine.pg_migrate#module:reverted), RV(pg_migrate.engine.pg_migrate#module:failure), ...) are
      returned as the module returned them too.
  returned: when the job finished
  type: dict
"""
