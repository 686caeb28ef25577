# pg_migrate: what the controller does before a run touches a database — every input checked, the change
# set discovered (and packed for the managed host), the verification files read — and the run's options
# for the engine. Used by the pg_migrate_run action plugin; each failure names the variable and the fix.

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile

import yaml
from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.bundle import write_bundle
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.discovery import (
    build_changeset,
    changeset_problems_message,
    read_backfill,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.lint import lint_groups, run_squawk
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Changeset
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.sql_analysis import PGLAST_MISSING, pglast
from ansible_collections.pg_migrate.engine.plugins.module_utils.engine import argument_spec
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.model import plan_from_dict
from ansible_collections.pg_migrate.engine.plugins.module_utils.settings.checks import (
    input_problems,
    inputs_problems_message,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.settings.declared import RunSettings
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.role_settings import CONNECTION_VARIABLES
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.run_memo import fingerprint, remembered

# The engine's connection options: the task may give them instead of the role's variables.
CONNECTION_OPTIONS = tuple(CONNECTION_VARIABLES)
# The engine's options that carry whole documents (options of type dict, their contents not checked).
DOCUMENT_OPTIONS = ("changeset", "expected", "probes")
DIR_MODES = {"0600": "0700", "0640": "0750", "0400": "0500", "0440": "0550"}


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What the controller prepared for a run: the change set as the engine takes it (the module option's JSON
    form, Changeset.to_dict()), discovery's warnings, the change set packed for the managed host (None when the
    run does not go there), and the parsed verification documents of pg_migrate_expected_schema and
    pg_migrate_probes ({} when not read)."""

    changeset: dict
    warnings: list[str]
    bundle: str | None = None
    expected: dict = dataclasses.field(default_factory=dict)
    probes: dict = dataclasses.field(default_factory=dict)


def durations(settings: RunSettings) -> dict:
    """The duration settings, by variable name, as the input checks take them."""
    return {
        "pg_migrate_lock_timeout": settings.lock_timeout,
        "pg_migrate_statement_timeout": settings.statement_timeout,
        "pg_migrate_probe_lock_timeout": settings.probe_lock_timeout,
        "pg_migrate_lock_wait_limit": settings.lock_wait_limit,
        "pg_migrate_lock_blocker_age": settings.lock_blocker_age,
        "pg_migrate_standby_max_lag": settings.standby_max_lag,
        "pg_migrate_standby_wait": settings.standby_wait,
        **{"pg_migrate_lock_ladder[%d]" % index: rung for index, rung in enumerate(settings.lock_ladder or [])},
    }


def minimums(settings: RunSettings) -> dict:
    """The numeric settings with a lower bound, by variable name: [value, lowest allowed]."""
    return {
        "pg_migrate_lock_retries": [settings.lock_retries, 0],
        "pg_migrate_lock_retry_delay": [settings.lock_retry_delay, 0],
        "pg_migrate_advisory_lock_wait": [settings.advisory_lock_wait, 0],
        "pg_migrate_standby_max_lag_bytes": [settings.standby_max_lag_bytes, 0],
        "pg_migrate_parallel_maintenance_workers": [settings.parallel_maintenance_workers, -1],
        "pg_migrate_run_timeout": [settings.run_timeout, 1],
        "pg_migrate_progress_every": [settings.progress_every, 0],
        "pg_migrate_backfill_batch_size": [settings.backfill_batch_size, 1],
        "pg_migrate_backfill_pause": [settings.backfill_pause, 0],
        "pg_migrate_backfill_progress_every": [settings.backfill_progress_every, 0],
    }


def check_inputs(settings: RunSettings, connection: dict, host: str, check: bool) -> None:
    """Every problem of the inputs in one message, before anything connects."""
    problems = input_problems(
        {
            "database": connection.get("login_db"),
            "login_user": connection.get("login_user"),
            "login_host": connection.get("login_host"),
            "durations": durations(settings),
            "minimums": minimums(settings),
            "reports_dir": "%s/%s" % (settings.reports_dir, host),
            "check_mode": check,
            "action": settings.action,
            "history_schema": settings.history_schema,
            "history_table": settings.history_table,
            "target_version": settings.target_version,
            "baseline_version": settings.baseline_version,
            "adopt": settings.adopt,
            "adopt_table": settings.adopt_table,
            "backfill_script": settings.backfill_script,
            "require_approval": bool(settings.require_approval),
            "approved": bool(settings.approved),
        }
    )
    if problems:
        raise AnsibleActionFail(inputs_problems_message(problems, host))


def discover(settings: RunSettings) -> tuple[Changeset, list[str]]:
    """The change set of the migrations (and, where enabled, seeds) directory; every problem in one message."""
    if pglast is None:
        raise AnsibleActionFail(PGLAST_MISSING)
    migrations_dir = settings.migrations_dir
    if not migrations_dir:
        raise AnsibleActionFail("pg_migrate_migrations_dir is empty: point it at the directory of V*.sql files")
    seeds_dir = settings.seeds_dir if settings.seeds_enabled else None
    # Parsing every script (pglast) is most of this; the workers of one run share the result.
    changeset, problems, warnings = remembered(
        "changeset",
        (migrations_dir, seeds_dir, fingerprint(migrations_dir, seeds_dir)),
        lambda: build_changeset(migrations_dir, seeds_dir or None),
    )
    problems = list(problems)  # the remembered list stays as discovery left it
    if settings.action == "backfill":
        changeset = dataclasses.replace(changeset, backfill=read_backfill(settings.backfill_script, problems))
    if problems:
        raise AnsibleActionFail(changeset_problems_message(problems, migrations_dir))
    return changeset, warnings


def script_roots(settings: RunSettings) -> dict:
    """Where the bundle's top directories are on the controller."""
    return {
        "migrations": settings.migrations_dir,
        "seeds": settings.seeds_dir or "",
        "backfill": os.path.dirname(settings.backfill_script or ""),
    }


def pack(changeset: Changeset, settings: RunSettings) -> str:
    """The change set as one tar for the managed host, in Ansible's per-run temporary directory (removed when
    ansible-playbook exits)."""
    bundle_dir = tempfile.mkdtemp(prefix="pg_migrate-", dir=C.DEFAULT_LOCAL_TMP)
    bundle = os.path.join(bundle_dir, "changeset.tar")
    mode = str(settings.remote_mode or "0640")
    write_bundle(changeset, script_roots(settings), bundle, int(mode, 8), int(DIR_MODES.get(mode, "0750"), 8))
    return bundle


# libyaml parses the expected schema ~8x faster than PyYAML's pure-Python loader: ~65 ms of CPU per database.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: str):
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=SAFE_LOADER)


def read_yaml_setting(path: str | None, name: str) -> dict:
    """The YAML document at PATH, the value of pg_migrate_NAME ({} when it is not set)."""
    if not path:
        return {}
    try:
        loaded = remembered("yaml", (path, fingerprint(path)), lambda: load_yaml(path))
    except OSError as exc:
        raise AnsibleActionFail(
            "pg_migrate_%s: cannot read %s (%s): point it at the file, or leave it empty to skip that part of "
            "the verification" % (name, path, exc.strerror or exc)
        ) from None
    except yaml.YAMLError as exc:
        raise AnsibleActionFail("pg_migrate_%s: %s is not valid YAML: %s" % (name, path, exc)) from None
    if not isinstance(loaded, dict):
        raise AnsibleActionFail("pg_migrate_%s: %s must hold a YAML mapping" % (name, path))
    return loaded


def prepare(settings: RunSettings, connection: dict, host: str, check: bool, execution: str) -> Prepared:
    """The run prepared (SETTINGS are only read); raises before anything connects."""
    check_inputs(settings, connection, host, check)
    changeset, warnings = discover(settings)
    expected, probes = {}, {}
    if settings.action in ("migrate", "verify"):
        expected = read_yaml_setting(settings.expected_schema, "expected_schema")
        probes = read_yaml_setting(settings.probes, "probes")
    # The backfill's batches always run on the managed host (pg_migrate_backfill), so its scripts go there.
    on_host = execution == "host" or settings.action == "backfill"
    bundle = pack(changeset, settings) if on_host and settings.action != "status" else None
    # The one place the change set becomes JSON: the module option (and job.yml) carry that form.
    return Prepared(changeset.to_dict(), warnings, bundle, expected, probes)


# The engine's options that are settings of the same name and meaning, handed over as they are.
SAME_AS_SETTINGS = (
    "history_schema",
    "history_table",
    "allow_out_of_order",
    "repair",
    "verify",
    "lock_timeout",
    "statement_timeout",
    "lock_retries",
    "lock_retry_delay",
    "advisory_lock_wait",
    "lock_ladder",
    "lock_wait_limit",
    "lock_blocker_age",
    "parallel_maintenance_workers",
    "standby_max_lag",
    "standby_max_lag_bytes",
    "standby_wait",
    "standby_catch_up",
    "rehearse",
    "group_transactions",
    "probe_lock_timeout",
    "min_server_version",
)


def run_options(settings: RunSettings, action: str) -> dict:
    """The engine's options that come from the settings, for ACTION (None: the engine's default)."""
    return {
        **{name: getattr(settings, name) for name in SAME_AS_SETTINGS},
        "scripts_dir": settings.remote_dir or "",
        "target_version": str(settings.target_version or "") or None,
        "baseline_version": str(settings.baseline_version or "") or None,
        "adopt": settings.adopt or "",
        "adopt_table": settings.adopt_table or "",
        "force": settings.seed_force,
        "required_extensions": list(settings.required_extensions or []),
        "on_standby": settings.on_standby or "skip",
        "health_query": (settings.fleet_health_query or None) if action == "migrate" else None,
        "health_max": settings.fleet_health_max,
        "health_timeout": settings.fleet_health_timeout or None,
        "fleet_server": settings.fleet_server or None,
        "per_server": int(settings.fleet_per_server or 0) if action in ("migrate", "rollback") else 0,
        "slot_db": settings.fleet_slot_db or None,
    }


def engine_params(
    settings: RunSettings,
    connection: dict,
    changeset: dict,
    host: str,
    action: str,
    preflight: bool = True,
    verify_schema: bool | None = None,
    documents: Prepared | None = None,
) -> dict:
    """The engine's options (module_utils/engine.argument_spec) for ACTION, validated, defaults applied; the
    verification documents from DOCUMENTS (none without)."""
    if verify_schema is None:
        verify_schema = bool(settings.verify_schema) and action == "migrate"
    params = dict(connection)
    params.update(run_options(settings, action))
    params.update(
        action=action,
        changeset=changeset,
        expected=documents.expected if documents else {},
        probes=documents.probes if documents else {},
        preflight=preflight,
        inventory_host=host,
        verify_schema=verify_schema,
    )
    params = {key: value for key, value in params.items() if value is not None}
    # The change set and the verification documents are dicts this controller made (their options are of type
    # dict, nothing inside is checked): they are validated as empty dicts and put back, because the validator
    # deep-copies what it checks - for a fleet database, a large share of its cost.
    documents_of = {key: params[key] for key in DOCUMENT_OPTIONS if isinstance(params.get(key), dict)}
    validated = ArgumentSpecValidator(argument_spec()).validate(dict(params, **{key: {} for key in documents_of}))
    if validated.error_messages:
        raise AnsibleActionFail("pg_migrate: %s" % "; ".join(validated.error_messages))
    return dict(validated.validated_parameters, **documents_of)


def squawk_binary(settings: RunSettings) -> str:
    """pg_migrate_squawk, else the squawk installed beside Ansible's Python, else squawk on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "squawk")
    return settings.squawk or (beside if os.path.exists(beside) else "squawk")


def lint_pending(run: dict, settings: RunSettings, check: bool) -> list[dict]:
    """squawk's outcomes for the scripts a check-mode migrate would run ([] when it does not lint)."""
    plan = plan_from_dict(run.get("plan"), rollback=False)
    if not (check and settings.lint and plan and run.get("server")):
        return []
    groups = lint_groups(
        [(m.script, m.transactional) for m in plan.pending],
        [(r.script, r.transactional is not False) for r in plan.repeatables],  # a forced seed's entry says nothing
        settings.migrations_dir,
        settings.seeds_dir or "",
    )
    version = settings.squawk_pg_version or str(int(run["server"]["server_version_num"]) // 10000)
    return run_squawk(groups, version, squawk_binary(settings), settings.squawk_exclude)
