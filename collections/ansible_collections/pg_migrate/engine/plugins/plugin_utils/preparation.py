# pg_migrate: what the controller does before a run touches a database — every input checked, the change
# set discovered (and packed for the managed host), the verification files read — and the run's options
# for the engine. Used by the pg_migrate_run action plugin; each failure names the variable and the fix.

from __future__ import annotations

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
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.sql_analysis import PGLAST_MISSING, pglast
from ansible_collections.pg_migrate.engine.plugins.module_utils.engine import argument_spec
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.model import plan_from_dict
from ansible_collections.pg_migrate.engine.plugins.module_utils.settings.checks import (
    input_problems,
    inputs_problems_message,
)
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.run_memo import fingerprint, remembered

CONNECTION_OPTIONS = (
    "login_db",
    "login_host",
    "login_port",
    "login_user",
    "login_password",
    "login_unix_socket",
    "ssl_mode",
    "ca_cert",
    "connect_params",
)
DURATIONS = ("lock_timeout", "statement_timeout", "probe_lock_timeout")
MINIMUMS = {
    "lock_retries": 0,
    "lock_retry_delay": 0,
    "advisory_lock_wait": 0,
    "run_timeout": 1,
    "progress_every": 0,
    "backfill_batch_size": 1,
    "backfill_pause": 0,
    "backfill_progress_every": 0,
}
DIR_MODES = {"0600": "0700", "0640": "0750", "0400": "0500", "0440": "0550"}


def check_inputs(settings: dict, connection: dict, host: str, check: bool) -> None:
    """Every problem of the inputs in one message, before anything connects."""
    problems = input_problems(
        {
            "database": connection.get("login_db"),
            "login_user": connection.get("login_user"),
            "login_host": connection.get("login_host"),
            "durations": {"pg_migrate_" + name: settings.get(name) for name in DURATIONS},
            "minimums": {"pg_migrate_" + name: [settings.get(name), low] for name, low in MINIMUMS.items()},
            "reports_dir": "%s/%s" % (settings.get("reports_dir"), host),
            "check_mode": check,
            **{
                key: settings.get(key)
                for key in ("action", "history_schema", "history_table", "target_version", "backfill_script")
            },
            "require_approval": bool(settings.get("require_approval")),
            "approved": bool(settings.get("approved")),
        }
    )
    if problems:
        raise AnsibleActionFail(inputs_problems_message(problems, host))


def discover(settings: dict) -> tuple[dict, list[str]]:
    """The change set of the migrations (and, where enabled, seeds) directory; every problem in one message."""
    if pglast is None:
        raise AnsibleActionFail(PGLAST_MISSING)
    migrations_dir = settings.get("migrations_dir")
    if not migrations_dir:
        raise AnsibleActionFail("pg_migrate_migrations_dir is empty: point it at the directory of V*.sql files")
    seeds_dir = settings["seeds_dir"] if settings.get("seeds_enabled") else None
    # Parsing every script (pglast) is most of this; the workers of one run share the result.
    changeset, problems, warnings = remembered(
        "changeset",
        (migrations_dir, seeds_dir, fingerprint(migrations_dir, seeds_dir)),
        lambda: build_changeset(migrations_dir, seeds_dir or None),
    )
    if settings["action"] == "backfill":
        changeset["backfill"] = read_backfill(settings["backfill_script"], problems)
    if problems:
        raise AnsibleActionFail(changeset_problems_message(problems, migrations_dir))
    return changeset, warnings


def script_roots(settings: dict) -> dict:
    """Where the bundle's top directories are on the controller."""
    return {
        "migrations": settings["migrations_dir"],
        "seeds": settings.get("seeds_dir") or "",
        "backfill": os.path.dirname(settings.get("backfill_script") or ""),
    }


def pack(changeset: dict, settings: dict) -> str:
    """The change set as one tar for the managed host, in Ansible's per-run temporary directory (removed when
    ansible-playbook exits)."""
    bundle_dir = tempfile.mkdtemp(prefix="pg_migrate-", dir=C.DEFAULT_LOCAL_TMP)
    bundle = os.path.join(bundle_dir, "changeset.tar")
    mode = str(settings.get("remote_mode") or "0640")
    write_bundle(changeset, script_roots(settings), bundle, int(mode, 8), int(DIR_MODES.get(mode, "0750"), 8))
    return bundle


# libyaml parses the expected schema ~8x faster than PyYAML's pure-Python loader: ~65 ms of CPU per database.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: str):
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=SAFE_LOADER)


def read_yaml_setting(settings: dict, name: str) -> dict:
    """The YAML document that pg_migrate_NAME names ({} when it is not set)."""
    path = settings.get(name)
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


def prepare(settings: dict, connection: dict, host: str, check: bool, execution: str) -> tuple[dict, list, str | None]:
    """(changeset, warnings, bundle for the managed host or None); raises before anything connects."""
    check_inputs(settings, connection, host, check)
    changeset, warnings = discover(settings)
    if settings["action"] in ("migrate", "verify"):
        settings["expected_document"] = read_yaml_setting(settings, "expected_schema")
        settings["probes_document"] = read_yaml_setting(settings, "probes")
    # The backfill's batches always run on the managed host (pg_migrate_backfill), so its scripts go there.
    on_host = execution == "host" or settings["action"] == "backfill"
    bundle = pack(changeset, settings) if on_host and settings["action"] != "status" else None
    return changeset, warnings, bundle


def engine_params(
    settings: dict,
    connection: dict,
    changeset: dict,
    host: str,
    action: str,
    preflight: bool = True,
    verify_schema: bool | None = None,
) -> dict:
    """The engine's options (module_utils/engine.argument_spec) for ACTION, validated, defaults applied."""
    if verify_schema is None:
        verify_schema = bool(settings.get("verify_schema")) and action == "migrate"
    params = dict(connection)
    params.update(
        action=action,
        changeset=changeset,
        scripts_dir=settings.get("remote_dir") or "",
        history_schema=settings["history_schema"],
        history_table=settings["history_table"],
        target_version=str(settings.get("target_version") or "") or None,
        baseline_version=str(settings.get("baseline_version") or "") or None,
        allow_out_of_order=settings.get("allow_out_of_order", False),
        repair=settings.get("repair", False),
        verify=settings.get("verify", True),
        lock_timeout=settings.get("lock_timeout"),
        statement_timeout=settings.get("statement_timeout"),
        lock_retries=settings.get("lock_retries"),
        lock_retry_delay=settings.get("lock_retry_delay"),
        advisory_lock_wait=settings.get("advisory_lock_wait"),
        rehearse=settings.get("rehearse", False),
        group_transactions=settings.get("group_transactions", False),
        force=settings.get("seed_force", False),
        expected=settings.get("expected_document") or {},
        probes=settings.get("probes_document") or {},
        probe_lock_timeout=settings.get("probe_lock_timeout"),
        preflight=preflight,
        inventory_host=host,
        required_extensions=list(settings.get("required_extensions") or []),
        min_server_version=settings.get("min_server_version"),
        on_standby=settings.get("on_standby") or "skip",
        verify_schema=verify_schema,
        health_query=(settings.get("fleet_health_query") or None) if action == "migrate" else None,
        health_max=settings.get("fleet_health_max"),
        health_timeout=settings.get("fleet_health_timeout") or None,
        fleet_server=settings.get("fleet_server") or None,
        per_server=int(settings.get("fleet_per_server") or 0) if action in ("migrate", "rollback") else 0,
        slot_db=settings.get("fleet_slot_db") or None,
    )
    params = {key: value for key, value in params.items() if value is not None}
    validated = ArgumentSpecValidator(argument_spec()).validate(params)
    if validated.error_messages:
        raise AnsibleActionFail("pg_migrate: %s" % "; ".join(validated.error_messages))
    return validated.validated_parameters


def squawk_binary(settings: dict) -> str:
    """pg_migrate_squawk, else the squawk installed beside Ansible's Python, else squawk on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "squawk")
    return settings.get("squawk") or (beside if os.path.exists(beside) else "squawk")


def lint_pending(run: dict, settings: dict, check: bool) -> list[dict]:
    """squawk's outcomes for the scripts a check-mode migrate would run ([] when it does not lint)."""
    plan = plan_from_dict(run.get("plan"), rollback=False)
    if not (check and settings.get("lint") and plan and run.get("server")):
        return []
    groups = lint_groups(
        [(m.script, m.transactional) for m in plan.pending],
        [(r.script, r.transactional is not False) for r in plan.repeatables],  # a forced seed's entry says nothing
        settings["migrations_dir"],
        settings.get("seeds_dir") or "",
    )
    version = settings.get("squawk_pg_version") or str(int(run["server"]["server_version_num"]) // 10000)
    return run_squawk(groups, version, squawk_binary(settings))
