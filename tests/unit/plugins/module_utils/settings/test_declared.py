"""One declaration per setting: the module's argument spec (module_utils/engine.py) and its documentation (the
module's DOCUMENTATION and doc_fragments/session.py) say the same type and default for every option, and an
option the role also has (pg_migrate_<option>) has the role's default - so a default is changed in one place
and a test names every other copy that disagrees."""

from __future__ import annotations

import yaml
from ansible_collections.community.postgresql.plugins.module_utils.postgres import postgres_common_argument_spec

from ansible_collections.pg_migrate.engine.plugins.doc_fragments.session import ModuleDocFragment
from ansible_collections.pg_migrate.engine.plugins.module_utils.engine import argument_spec
from ansible_collections.pg_migrate.engine.plugins.plugin_utils import role_settings
from tests.unit.plugins import load

# Options whose module default differs from the role's on purpose: the role always passes its own value, the
# module's default is for a task that calls the module directly (action plan: a read-only default; the
# versions and owners: none; verify_schema: the role's verification is on, a bare module call only applies;
# run_timeout: a bare module call has no time limit, the role's job has pg_migrate_run_timeout).
MODULE_OWN_DEFAULT = {
    "action",
    "target_version",
    "baseline_version",
    "probes",
    "min_server_version",
    "verify_schema",
    "remote_owner",
    "remote_group",
    "run_timeout",
}


def documented_options() -> dict:
    module = load("modules/pg_migrate.py", "pg_migrate_module")
    options = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    options.update(yaml.safe_load(ModuleDocFragment.SERVER)["options"])
    options.update(yaml.safe_load(module.DOCUMENTATION)["options"])
    return options


def test_the_module_documents_every_option_with_the_type_and_default_it_has():
    documented = documented_options()
    common = set(postgres_common_argument_spec())
    wrong = {
        name: ((documented.get(name) or {}).get("type", "str"), (documented.get(name) or {}).get("default"))
        for name, option in argument_spec().items()
        if name not in common
        and (
            name not in documented
            or documented[name].get("type", "str") != option.get("type", "str")
            or documented[name].get("default") != option.get("default")
        )
    }
    assert wrong == {}


def test_an_option_the_role_also_has_has_the_roles_default():
    role = role_settings.role_options()
    # The connection's options keep community.postgresql's defaults (the role always passes its own).
    common = set(postgres_common_argument_spec()) | set(role_settings.CONNECTION_VARIABLES)
    differing = {
        name
        for name, option in argument_spec().items()
        if name not in common
        and role_settings.PREFIX + name in role
        and role[role_settings.PREFIX + name].get("default") != option.get("default")
    }
    assert differing == MODULE_OWN_DEFAULT
