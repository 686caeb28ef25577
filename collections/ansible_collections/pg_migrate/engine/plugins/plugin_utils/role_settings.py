# pg_migrate: the role's variables as pg_migrate_run reads them. Which variables there are, their types and
# defaults come from one declaration, the role's meta/argument_specs.yml: a new setting is one entry there, then
# `python3 tools/gen_settings.py --write` (defaults/main.yml and module_utils/settings/declared.py are GENERATED
# from the argument spec; tests/unit/plugins/plugin_utils/test_role_settings.py fails while either differs from
# what it renders), and the code that uses it. The settings of a run are a RunSettings (declared.py, frozen): code reads
# `settings.lock_timeout`, and nothing writes into them. The action reads the variables from the task's
# variables itself instead of taking a templated dict as its argument: a forked Ansible worker compiles every
# template it renders anew, so only the variables whose values are templates are compiled. The host path's
# finish task gets the validated settings back from the first task (RunSettings.to_dict(), read back with
# settings_from_argument).

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import yaml
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.pg_migrate.engine.plugins.module_utils.settings.declared import RunSettings
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

# The role's variables that are no setting of a run: the role's own tasks read them (fail_host), or only
# other variables' defaults do (project_dir).
ROLE_TASKS_ONLY = frozenset(("fail_host", "project_dir"))
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
# A declared default that depends on the run ("<project directory>/migrations"): the role's defaults/main.yml
# gives it its value, a settings argument that leaves the setting out does not.
RUN_DEPENDENT = re.compile(r"<[a-z_ ]+>")


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
    provided = {name: plain(value_of(name)) for name in options if defined(name)}
    result = ArgumentSpecValidator(options).validate(provided, validate_role_argument_spec=True)
    if result.error_messages:
        raise AnsibleActionFail("Validation of arguments failed:\n%s" % "\n".join(result.error_messages))
    return result.validated_parameters


def rendered(templar, value: Any) -> Any:
    """VALUE rendered by TEMPLAR as a task would see it. A number, a boolean or a string without a brace cannot
    be a template: it is taken as it is, without Ansible's templating machinery - most of the role's variables
    are such values, and a fleet renders all of them for every database."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str) and "{" not in value:
        return value
    return templar.template(value)


def plain(value: Any) -> Any:
    """VALUE with Ansible's tagged strings, dicts and lists (what templating returns) as Python's own: the
    validator deep-copies what it checks, and copying a tagged value goes the slow way (__reduce_ex__) - that
    copy was the largest part of a fleet database's validation."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {plain(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def setting_names(options: dict | None = None) -> list[str]:
    """The settings of a run (names without the prefix), in the argument spec's order: every option but the
    connection's and the role tasks' own."""
    options = role_options() if options is None else options
    connection = set(CONNECTION_VARIABLES.values())
    return [
        name[len(PREFIX) :]
        for name in options
        if name.startswith(PREFIX) and name not in connection and name[len(PREFIX) :] not in ROLE_TASKS_ONLY
    ]


def normalised(kind: str | None, value: Any) -> Any:
    """VALUE as its declared type reads it: a bool from yes/no/true/1, a str from a number (a version given
    as 3), an absent str as ""."""
    if kind == "bool":
        return boolean(value, strict=False) if value is not None else False
    if kind == "str":
        return "" if value is None else str(value)
    return value


def settings_from_variables(value_of: Callable[[str], Any]) -> RunSettings:
    """The run's settings from VALUE_OF(variable name), which renders one variable, each normalised by its
    declared type."""
    options = role_options()
    return RunSettings.from_dict(
        {
            name: normalised(options[PREFIX + name].get("type"), value_of(PREFIX + name))
            for name in setting_names(options)
        }
    )


def settings_from_argument(given: dict) -> RunSettings:
    """The run's settings from pg_migrate_run's settings argument (names without the prefix): all of them as
    the host path's first task returned them (RunSettings.to_dict()), or some, as a playbook may give them. A
    setting left out takes its declared default (unset where that default depends on the run); keys that are
    no setting (the changeset job.yml adds for the finish task) are not read."""
    options = role_options()

    def value_of(variable: str) -> Any:
        name = variable[len(PREFIX) :]
        if name in given:
            return given[name]
        default = options[variable].get("default")
        return None if isinstance(default, str) and RUN_DEPENDENT.search(default) else default

    return settings_from_variables(value_of)


def connection_from_variables(value_of: Callable[[str], Any]) -> dict:
    """The engine's connection options from the role's variables; an empty CA certificate is left out."""
    connection = {option: value_of(variable) for option, variable in CONNECTION_VARIABLES.items()}
    if not connection.get("ca_cert"):
        connection.pop("ca_cert", None)
    if connection.get("login_port") not in (None, ""):
        connection["login_port"] = int(connection["login_port"])
    return connection
