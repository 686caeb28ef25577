# pg_migrate: another host's role variables, as the role's task on that host would read them, for a task that
# runs once for every database (the fleet preflight's status read): that host's own variables (inventory, the
# fleet file's vars, group_vars, extra vars: Ansible's hostvars), the play's variables, and the role's
# defaults - each rendered with that host's variables, as Ansible renders them for a task on that host.

from __future__ import annotations

import os
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

import yaml
from ansible.template import trust_as_template

from ansible_collections.pg_migrate.engine.plugins.plugin_utils.render_memo import RenderMemo
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.role_settings import ARGUMENT_SPECS, rendered
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.run_memo import fingerprint, remembered

ROLE_DEFAULTS = os.path.join(os.path.dirname(os.path.dirname(ARGUMENT_SPECS)), "defaults", "main.yml")


def role_defaults(path: str = ROLE_DEFAULTS) -> dict:
    """The role's defaults/main.yml, its templates marked as templates (the role's own file: trusted)."""

    def load() -> dict:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle) or {}

    return {name: trust(value) for name, value in remembered("defaults", (path, fingerprint(path)), load).items()}


def trust(value: Any) -> Any:
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [trust(item) for item in value]
    if isinstance(value, dict):
        return {key: trust(item) for key, item in value.items()}
    return value


class HostVariables:
    """The variables of one host (RAW: its hostvars, unrendered) under PLAY (the play's own variables, which
    this task sets for every host: they win over the host's), then BELOW and the role's DEFAULTS (role_defaults())
    where the host gives no value, rendered with TEMPLAR's settings on that host's variables (MEMO: renders shared
    with the task's other hosts, render_memo.py)."""

    def __init__(
        self,
        templar,
        raw: Mapping,
        play: dict,
        below: dict,
        hostvars: Any,
        defaults: dict,
        memo: RenderMemo | None = None,
    ) -> None:
        self.values = ChainMap(play, raw, {"hostvars": hostvars}, below, defaults)
        self.templar = templar.copy_with_new_env(available_variables=self.values)
        self.memo = memo  # renders shared with the other hosts of the task

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def render(self, name: str) -> Any:
        value = self.values[name]
        if self.memo is None:
            return rendered(self.templar, value)
        return self.memo.render(value, self.values, lambda: rendered(self.templar, value))

    def get(self, name: str, default: Any = None) -> Any:
        return self.render(name) if name in self.values else default


# The results the fleet's tasks register on a host. Taken as they are: they are data, never templates, and
# rendering one walks all of it - a wave's result holds every database of the wave, and it is registered on each
# of them, so reading the fleet's runs through hostvars[host] grew with the square of a wave.
REGISTERED = frozenset(("__pg_migrate_run", "__pg_migrate_finish", "__pg_migrate_fleet_wave"))


class HostView(Mapping):
    """HOST's variables as hostvars[host] gives them (each rendered on that host's variables), except the fleet's
    registered results (REGISTERED), which are taken as they are."""

    def __init__(self, templar, hostvars: Any, host: str) -> None:
        self.raw = registered_of(hostvars, host)
        self.variables = HostVariables(templar, self.raw, {}, {}, hostvars, {})

    def __getitem__(self, name: str) -> Any:
        if name in REGISTERED:
            return self.raw[name]
        return self.variables.render(name)

    def __contains__(self, name: object) -> bool:
        return name in self.raw

    def __iter__(self):
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


def registered_of(hostvars: Any, host: str) -> Mapping:
    """HOST's variables unrendered (Ansible's hostvars.raw_get), else as hostvars gives them."""
    raw_get = getattr(hostvars, "raw_get", None)
    return raw_get(host) if raw_get is not None else hostvars[host]
