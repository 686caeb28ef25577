# pg_migrate: the role's variables as pg_migrate_run reads them, in one place. The action reads them from the
# task's variables itself instead of taking a templated dict as its argument: a forked Ansible worker compiles
# every template it renders anew, and a dict of ~45 "{{ pg_migrate_... }}" entries (plus nine connection
# options in module_defaults) was most of a database's CPU in a fleet. Read this way, only the variables whose
# values are templates are compiled. roles/pg_migrate/vars/main.yml builds the same dict for the tasks that
# still pass it (the host path's job); tests/unit/test_role_settings.py keeps the two lists equal.

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import yaml
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.pg_migrate.engine.plugins.plugin_utils.run_memo import fingerprint, remembered

PREFIX = "pg_migrate_"
# The role's inputs: the argument spec Ansible checks them against when the role is used with `roles:`.
ARGUMENT_SPECS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "roles",
    "pg_migrate",
    "meta",
    "argument_specs.yml",
)

# Normalised as the role's vars/main.yml does with `| bool` and `| string`.
BOOLEANS = frozenset(
    (
        "seeds_enabled",
        "seed_force",
        "allow_out_of_order",
        "repair",
        "verify",
        "verify_schema",
        "group_transactions",
        "rehearse",
        "lint",
        "require_approval",
        "approved",
    )
)
TEXTS = frozenset(("target_version", "baseline_version", "squawk_pg_version"))
NAMES = (
    "action",
    "execution",
    "migrations_dir",
    "seeds_enabled",
    "seeds_dir",
    "seed_force",
    "backfill_script",
    "backfill_batch_size",
    "backfill_pause",
    "backfill_progress_every",
    "remote_dir",
    "remote_owner",
    "remote_group",
    "remote_mode",
    "history_schema",
    "history_table",
    "target_version",
    "baseline_version",
    "allow_out_of_order",
    "repair",
    "verify",
    "verify_schema",
    "expected_schema",
    "probes",
    "probe_lock_timeout",
    "reports_dir",
    "lock_timeout",
    "statement_timeout",
    "lock_retries",
    "lock_retry_delay",
    "advisory_lock_wait",
    "group_transactions",
    "run_timeout",
    "progress_every",
    "min_server_version",
    "on_standby",
    "required_extensions",
    "rehearse",
    "lint",
    "squawk",
    "squawk_pg_version",
    "require_approval",
    "approved",
    "fleet_server",
    "fleet_per_server",
    "fleet_health_query",
    "fleet_health_max",
    "fleet_health_timeout",
    "fleet_slot_db",
)
# The connection options of the engine and the role variable each comes from.
CONNECTION_VARIABLES = {
    "login_db": "pg_migrate_db",
    "login_host": "pg_migrate_login_host",
    "login_port": "pg_migrate_login_port",
    "login_user": "pg_migrate_login_user",
    "login_password": "pg_migrate_login_password",
    "login_unix_socket": "pg_migrate_login_unix_socket",
    "ssl_mode": "pg_migrate_ssl_mode",
    "ca_cert": "pg_migrate_ca_cert",
    "connect_params": "pg_migrate_connect_params",
}


def role_options(path: str = ARGUMENT_SPECS) -> dict:
    """The options of the role's main entry point (parsed once per run)."""

    def load() -> dict:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))

    return remembered("argspec", (path, fingerprint(path)), load)["argument_specs"]["main"]["options"]


def validated_role_variables(value_of: Callable[[str], Any], defined: Callable[[str], bool]) -> dict:
    """The role's variables checked against its argument spec, as Ansible's validate_argument_spec does (the
    playbooks import the role with rolespec_validate: false, so this is the one check and one rendering of
    each variable per database): every error in one message, before anything connects."""
    options = role_options()
    provided = {name: value_of(name) for name in options if defined(name)}
    result = ArgumentSpecValidator(options).validate(provided, validate_role_argument_spec=True)
    if result.error_messages:
        raise AnsibleActionFail("Validation of arguments failed:\n%s" % "\n".join(result.error_messages))
    return result.validated_parameters


def normalised(name: str, value: Any) -> Any:
    if name in BOOLEANS:
        return boolean(value, strict=False)
    if name in TEXTS:
        return "" if value is None else str(value)
    return value


def settings_from_variables(value_of: Callable[[str], Any]) -> dict:
    """The settings dict (names without the prefix) from VALUE_OF(variable name), which renders one variable."""
    return {name: normalised(name, value_of(PREFIX + name)) for name in NAMES}


def connection_from_variables(value_of: Callable[[str], Any]) -> dict:
    """The engine's connection options from the role's variables; an empty CA certificate is left out."""
    connection = {option: value_of(variable) for option, variable in CONNECTION_VARIABLES.items()}
    if not connection.get("ca_cert"):
        connection.pop("ca_cert", None)
    if connection.get("login_port") not in (None, ""):
        connection["login_port"] = int(connection["login_port"])
    return connection
