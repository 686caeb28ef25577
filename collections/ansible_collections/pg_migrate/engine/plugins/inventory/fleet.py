# pg_migrate: the fleet inventory plugin - one inventory host per database, from a fleet file.

from __future__ import annotations

import os
import re

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet import spread

DOCUMENTATION = r"""
name: fleet
short_description: One inventory host per database of a fleet file (servers -> databases)
description:
  - Reads a fleet file (a YAML file whose name ends in C(fleet.yml) or C(fleet.yaml), with
    C(plugin=pg_migrate.engine.fleet)) and adds one host per database, named C(<server>-<database>), to the group
    C(pg_migrate_targets), with C(pg_migrate_db), C(pg_migrate_fleet_server) and the server's connection
    settings as host variables.
  - Hosts are added in rollout order - the canary databases first, then one database of each server in turn - so
    that a play with C(order=inventory) and C(serial) waves spreads every server over the waves.
  - Groups - C(pg_migrate_targets), C(pg_migrate_fleet_canary), C(pg_migrate_server_<server>) and
    C(pg_migrate_wave_tag_<tag>) for databases tagged in the file.
options:
  plugin:
    description: The name of this plugin.
    required: true
    choices: [pg_migrate.engine.fleet]
  runner:
    description:
      - Host variables of where the runs execute, for every database. By default the controller
        (C(ansible_connection=local)), which runs the database work in-process; set C(ansible_host) and the
        SSH settings to run it on a bastion instead.
    type: dict
    default: {ansible_connection: local, ansible_python_interpreter: "{{ ansible_playbook_python }}"}
  vars:
    description: Variables for every database (e.g. C(pg_migrate_login_user)); a server's C(vars) override them.
    type: dict
    default: {}
  servers:
    description:
      - Server name -> C(vars) (connection settings, e.g. C(pg_migrate_login_host), C(pg_migrate_login_port)),
        C(databases) (a list of names, or of mappings with C(name), C(canary), C(tags) and C(vars)) and/or
        C(database_range) (C(prefix), C(count), C(first) (default 1), C(width) (default 3), C(count_env) (an
        environment variable that overrides the count)).
    type: dict
    required: true
  canary:
    description: Databases (C(<server>-<database>) or a database name) that go first, as the canary wave.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
# inventories/fleet-local/fleet.yml
plugin: pg_migrate.engine.fleet
vars:
  pg_migrate_login_user: "{{ lookup('ansible.builtin.env', 'PGUSER') }}"
servers:
  db1:
    vars: {pg_migrate_login_host: db1.internal, pg_migrate_login_port: 5432}
    databases: [xp_eu_1, {name: xp_eu_2, tags: [eu]}]
  db2:
    vars: {pg_migrate_login_host: db2.internal}
    database_range: {prefix: xp_shard_, count: 40}
canary: [db1-xp_eu_1]
"""

GROUP = "pg_migrate_targets"
NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _problem(path: str, what: str) -> AnsibleParserError:
    return AnsibleParserError("fleet file %s: %s" % (path, what))


def expand_databases(path: str, server: str, spec: dict) -> list[dict]:
    """The databases of one server as {name, canary, tags, vars}, in the file's order."""
    found = []
    for entry in spec.get("databases") or []:
        entry = {"name": entry} if isinstance(entry, str) else dict(entry or {})
        if not entry.get("name"):
            raise _problem(path, "server %s: a database entry without a name" % server)
        found.append(entry)
    ranged = spec.get("database_range")
    if ranged:
        count = os.environ.get(str(ranged.get("count_env") or ""), "") or ranged.get("count")
        try:
            count, first, width = int(count), int(ranged.get("first", 1)), int(ranged.get("width", 3))
        except (TypeError, ValueError):
            raise _problem(
                path, "server %s: database_range needs a numeric count (and first, width)" % server
            ) from None
        prefix = str(ranged.get("prefix") or "")
        found += [{"name": "%s%0*d" % (prefix, width, number)} for number in range(first, first + count)]
    for entry in found:
        if not NAME.match(str(entry["name"])):
            raise _problem(path, "server %s: database name %r: use letters, digits, _ . -" % (server, entry["name"]))
    return found


class InventoryModule(BaseInventoryPlugin):
    NAME = "pg_migrate.engine.fleet"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("fleet.yml", "fleet.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        config = self._read_config_data(path)
        servers = config.get("servers") or {}
        if not isinstance(servers, dict) or not servers:
            raise _problem(path, "'servers' must map at least one server name to its databases")
        canary_names = [str(name) for name in config.get("canary") or []]
        shared = dict(config.get("vars") or {})
        runner = dict(self.get_option("runner") or {})
        entries, per_server, canaries = {}, {}, []
        for server, spec in servers.items():
            if not NAME.match(str(server)):
                raise _problem(path, "server name %r: use letters, digits, _ . -" % server)
            spec = spec or {}
            hosts = per_server.setdefault(server, [])
            for database in expand_databases(path, server, spec):
                host = "%s-%s" % (server, database["name"])
                if host in entries:
                    raise _problem(path, "database %s is listed twice on server %s" % (database["name"], server))
                entries[host] = (server, spec, database)
                hosts.append(host)
                if database.get("canary") or host in canary_names or database["name"] in canary_names:
                    canaries.append(host)
        unknown = [
            name
            for name in canary_names
            if name not in entries and not any(entry[2]["name"] == name for entry in entries.values())
        ]
        if unknown:
            raise _problem(path, "canary %s: no such database in the file" % ", ".join(unknown))
        self.inventory.add_group(GROUP)
        self.inventory.add_group("pg_migrate_fleet_canary")
        for host in spread(per_server, canaries):
            server, spec, database = entries[host]
            self.inventory.add_host(host, group=GROUP)
            self.inventory.add_host(host, group=self.inventory.add_group("pg_migrate_server_%s" % server))
            if host in canaries:
                self.inventory.add_host(host, group="pg_migrate_fleet_canary")
            for tag in database.get("tags") or []:
                self.inventory.add_host(host, group=self.inventory.add_group("pg_migrate_wave_tag_%s" % tag))
            variables = {**runner, **shared, **(spec.get("vars") or {}), **(database.get("vars") or {})}
            variables.update(pg_migrate_db=database["name"], pg_migrate_fleet_server=server)
            for name, value in variables.items():
                self.inventory.set_variable(host, name, value)
