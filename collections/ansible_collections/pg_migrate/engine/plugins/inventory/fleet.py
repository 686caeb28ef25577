# pg_migrate: the fleet inventory plugin - one inventory host per database, from a fleet file.

from __future__ import annotations

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
  - The group C(pg_migrate_targets) has the variable C(pg_migrate_fleet_members) - every database of the fleet
    in rollout order (C(host), C(server), C(database)) - so that a controller that runs part of the hosts (an AWX
    job slice) cuts the same waves as the others (see I(pg_migrate_fleet_ledger_db)).
  - Groups - C(pg_migrate_targets), C(pg_migrate_fleet_canary), C(pg_migrate_server_<server>) and
    C(pg_migrate_wave_tag_<tag>) for databases tagged in the file.
  - A fleet file with a mistake is refused with a message that names the server, database or key and the fix -
    an unknown key, a server without databases, a count that is not a number or is 0 (also through C(count_env)),
    two databases that make the same host name, a canary that names no database. Ansible stops on it with
    C([inventory] unparsed_is_failed = true) in C(ansible.cfg); without it, it only warns and goes on without hosts.
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

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin

from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_inventory import (
    check_top,
    fleet_hosts,
    mapping,
    problem,
)

GROUP = "pg_migrate_targets"


class InventoryModule(BaseInventoryPlugin):
    NAME = "pg_migrate.engine.fleet"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("fleet.yml", "fleet.yaml"))

    def _read_fleet(self, path: str) -> dict:
        """The file, checked for everything an operator might get wrong in it, then Ansible's options set from it
        (as _read_config_data does; its own errors name the plugin's module, not the file's key)."""
        try:
            config = self.loader.load_from_file(path, cache="none", trusted_as_template=True)
        except Exception as error:
            raise problem(path, "cannot be read: %s" % error) from None
        check_top(path, config, self.NAME, getattr(self, "_redirected_names", None) or [self.NAME])
        try:
            self.set_options(direct=config, var_options=self._vars)
        except AnsibleError as error:
            raise problem(path, error.message) from None
        return config

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        config = self._read_fleet(path)
        shared = mapping(path, "", config.get("vars"), "vars")
        runner = dict(self.get_option("runner") or {})
        hosts = fleet_hosts(path, config)
        self.inventory.add_group(GROUP)
        self.inventory.add_group("pg_migrate_fleet_canary")
        for host in hosts:
            self.inventory.add_host(host.name, group=GROUP)
            self.inventory.add_host(host.name, group=self.inventory.add_group("pg_migrate_server_%s" % host.server))
            if host.canary:
                self.inventory.add_host(host.name, group="pg_migrate_fleet_canary")
            for tag in host.database["tags"]:
                self.inventory.add_host(host.name, group=self.inventory.add_group("pg_migrate_wave_tag_%s" % tag))
            variables = {**runner, **shared, **host.server_vars, **host.database["vars"]}
            variables.update(pg_migrate_db=host.database["name"], pg_migrate_fleet_server=host.server)
            for name, value in variables.items():
                self.inventory.set_variable(host.name, name, value)
        # The whole fleet in rollout order, as a group variable: a controller that sees only part of the hosts
        # (an AWX job slice: hosts[k::n]) still cuts the same waves as every other, for the fleet ledger.
        self.inventory.set_variable(
            GROUP,
            "pg_migrate_fleet_members",
            [{"host": host.name, "server": host.server, "database": host.database["name"]} for host in hosts],
        )
