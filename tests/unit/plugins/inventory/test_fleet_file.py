"""The fleet file (plugin_utils/fleet_inventory.py) through the fleet inventory plugin (pg_migrate.engine.fleet) and
Ansible's own inventory machinery, on fleet files of the test's own: a good file gives one host per database in
rollout order; every broken one is refused with an AnsibleParserError that names the file, the server, database or
key, and the fix - never an empty fleet."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml
from ansible import constants as C
from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader

from ansible_collections.pg_migrate.engine.plugins.plugin_utils.fleet_inventory import TOP_KEYS
from tests.ansible_run import BIN, ROOT

PLUGIN = "plugin: pg_migrate.engine.fleet\n"


# Ansible's collection loader (conftest.py): a file's `plugin: pg_migrate.engine.fleet` finds the plugin.
pytestmark = pytest.mark.usefixtures("collection_loader")


def write(tmp_path: Path, text: str) -> Path:
    """A fleet file of TEXT (after its `plugin:` line)."""
    path = tmp_path / "fleet.yml"
    path.write_text(PLUGIN + textwrap.dedent(text))
    return path


def hosts(path: Path) -> InventoryManager:
    """The inventory Ansible makes of PATH (-i PATH)."""
    return InventoryManager(DataLoader(), sources=[str(path)])


def refusal(path: Path) -> str:
    """The message the plugin refuses PATH with, raised through the `auto` inventory plugin as Ansible reads a
    YAML file with a `plugin:` key (InventoryManager itself only lists a failed source's errors as warnings)."""
    with pytest.raises(AnsibleParserError) as caught:
        inventory_loader.get("auto").parse(InventoryData(), DataLoader(), str(path))
    message = caught.value.message
    assert message.startswith("fleet file %s: " % path), message
    return message


# --- good fleet files --------------------------------------------------------------------------------------


def test_the_example_fleet_gives_a_host_per_database_from_count_env_or_the_count(monkeypatch):
    example = ROOT / "inventories" / "fleet-local" / "fleet.yml"
    monkeypatch.delenv("PG_MIGRATE_FLEET_SIZE", raising=False)
    inventory = hosts(example)
    targets = inventory.get_groups_dict()["pg_migrate_targets"]
    assert len(targets) == 50 and targets[0] == "local-xp_shard_001" and targets[-1] == "local-xp_shard_050"
    variables = inventory.get_host("local-xp_shard_007").vars
    assert variables["pg_migrate_db"] == "xp_shard_007" and variables["pg_migrate_fleet_server"] == "local"
    assert variables["pg_migrate_fleet_per_server"] == 4 and variables["ansible_connection"] == "local"

    monkeypatch.setenv("PG_MIGRATE_FLEET_SIZE", "3")
    assert hosts(example).get_groups_dict()["pg_migrate_targets"] == [
        "local-xp_shard_001",
        "local-xp_shard_002",
        "local-xp_shard_003",
    ]


def test_the_readme_fleet_puts_canaries_first_spreads_the_servers_and_layers_the_vars(tmp_path: Path):
    path = write(
        tmp_path,
        """
        vars: {pg_migrate_login_user: migrator, where: shared}
        servers:
          db-eu-1:
            vars: {pg_migrate_login_host: db-eu-1.internal, where: server}
            databases: [xp_eu_001, {name: xp_eu_002, canary: true, tags: [eu], vars: {where: database}}]
          db-us-1:
            vars: {pg_migrate_login_host: db-us-1.internal}
            database_range: {prefix: xp_us_, count: "3", width: 2, first: 0}
        canary: [db-us-1-xp_us_01]
        """,
    )
    inventory = hosts(path)
    groups = inventory.get_groups_dict()
    assert groups["pg_migrate_targets"] == [
        "db-eu-1-xp_eu_002",
        "db-us-1-xp_us_01",
        "db-eu-1-xp_eu_001",
        "db-us-1-xp_us_00",
        "db-us-1-xp_us_02",
    ]
    assert groups["pg_migrate_fleet_canary"] == ["db-eu-1-xp_eu_002", "db-us-1-xp_us_01"]
    assert groups["pg_migrate_wave_tag_eu"] == ["db-eu-1-xp_eu_002"]
    assert groups["pg_migrate_server_db-us-1"] == ["db-us-1-xp_us_01", "db-us-1-xp_us_00", "db-us-1-xp_us_02"]
    variables = {host: inventory.get_host(host).vars for host in groups["pg_migrate_targets"]}
    assert variables["db-eu-1-xp_eu_002"]["where"] == "database"
    assert variables["db-eu-1-xp_eu_001"]["where"] == "server"
    assert variables["db-us-1-xp_us_00"]["where"] == "shared"
    assert variables["db-us-1-xp_us_00"]["pg_migrate_login_host"] == "db-us-1.internal"
    assert variables["db-us-1-xp_us_00"]["pg_migrate_login_user"] == "migrator"
    assert variables["db-us-1-xp_us_00"]["pg_migrate_db"] == "xp_us_00"


def test_a_canary_may_be_a_database_name_and_similar_names_need_not_collide(tmp_path: Path):
    path = write(
        tmp_path,
        """
        vars:
        servers:
          a: {databases: [b-c, x]}
          a_b: {databases: [c]}
        canary: c
        """,
    )
    groups = hosts(path).get_groups_dict()
    assert groups["pg_migrate_targets"] == ["a_b-c", "a-b-c", "a-x"]
    assert groups["pg_migrate_fleet_canary"] == ["a_b-c"]


def test_the_plugin_documentation_examples_parse(tmp_path: Path):
    # The plugin's module as the loader (active for this file) imports it: an earlier file's copy may be cached.
    module = importlib.import_module(type(inventory_loader.get("pg_migrate.engine.fleet")).__module__)
    example = yaml.safe_load(module.EXAMPLES)
    path = tmp_path / "fleet.yml"
    path.write_text(yaml.safe_dump(example))
    assert len(hosts(path).get_groups_dict()["pg_migrate_targets"]) == 42
    # The keys a fleet file may have are the plugin's documented options.
    assert set(yaml.safe_load(module.DOCUMENTATION)["options"]) == set(TOP_KEYS)


# --- broken fleet files: (the file after `plugin:`, what the message must say) --------------------------------

ONE_SERVER = "servers:\n  a: {databases: [x]}\n"
BROKEN = {
    "no servers": ("vars: {pg_migrate_login_user: u}\n", ["no servers", "servers:", "databases"]),
    "empty servers": ("servers: {}\n", ["no servers"]),
    "servers is a list": ("servers: [a, b]\n", ["'servers' must be a mapping", "not a list"]),
    "range count 0": (
        "servers:\n  local: {database_range: {prefix: xp_, count: 0}}\n",
        ["server local", "database_range count is 0", "1 or more", "remove the server"],
    ),
    "count_env 0": (
        "servers:\n  local: {database_range: {prefix: xp_, count: 50, count_env: FLEET_N}}\n",
        [
            "server local: database_range count is 0 (from count_env: FLEET_N=0)",
            "set FLEET_N to 1 or more",
            "unset it for the file's count (50)",
            "remove the server",
        ],
    ),
    "count_env not a number": (
        "servers:\n  local: {database_range: {prefix: xp_, count: 50, count_env: FLEET_N}}\n",
        ["server local", "FLEET_N", "'lots'", "not a whole number"],
    ),
    "count_env not a name": (
        "servers:\n  local: {database_range: {prefix: xp_, count: 5, count_env: [FLEET_N]}}\n",
        ["server local", "count_env", "name of an environment variable"],
    ),
    "negative count": (
        "servers:\n  a: {database_range: {prefix: xp_, count: -3}}\n",
        ["server a: database_range count is -3", "1 or more"],
    ),
    "non-numeric count": (
        "servers:\n  a: {database_range: {prefix: xp_, count: forty}}\n",
        ["server a: database_range count 'forty' is not a whole number"],
    ),
    "boolean count": (
        "servers:\n  a: {database_range: {prefix: xp_, count: true}}\n",
        ["server a: database_range count true is not a whole number"],
    ),
    "range without count": (
        "servers:\n  a: {database_range: {prefix: xp_}}\n",
        ["server a", "database_range needs a count"],
    ),
    "bad first": ("servers:\n  a: {database_range: {prefix: xp_, count: 2, first: -1}}\n", ["server a", "first", "-1"]),
    "bad width": (
        "servers:\n  a: {database_range: {prefix: xp_, count: 2, width: wide}}\n",
        ["server a", "width", "'wide'"],
    ),
    "range is a number": ("servers:\n  a: {database_range: 40}\n", ["server a", "database_range must be a mapping"]),
    "range unknown key": (
        "servers:\n  a: {database_range: {prefix: xp_, count: 2, start: 5}}\n",
        ["server a", "database_range", "unknown key 'start'", "prefix, count, first, width, count_env"],
    ),
    "server without databases": (
        "servers:\n  a: {databases: [x]}\n  b: {vars: {pg_migrate_login_host: b.internal}}\n",
        ["server b lists no databases", "databases: [", "database_range: {"],
    ),
    "server with nothing": ("servers:\n  a:\n", ["server a lists no databases"]),
    "server with an empty list": ("servers:\n  a: {databases: []}\n", ["server a lists no databases"]),
    "server is a list": (
        "servers:\n  a: [x, y]\n",
        ["server a must be a mapping", "not a list", "write a: {databases: [x, y]}"],
    ),
    "typo servers": ("server:\n  a: {databases: [x]}\n", ["unknown key 'server'", "did you mean 'servers'?"]),
    "typo canary": (
        ONE_SERVER + "canaries: [a-x]\n",
        ["unknown key 'canaries'", "did you mean 'canary'?", "plugin, servers, vars, canary, runner"],
    ),
    "typo databases": (
        "servers:\n  a: {database: [x]}\n",
        ["server a", "unknown key 'database'", "did you mean 'databases'?", "databases, database_range, vars"],
    ),
    "vars is a list": ("vars: [pg_migrate_login_user]\n" + ONE_SERVER, ["'vars' must be a mapping", "a list"]),
    "server vars is a string": (
        "servers:\n  a: {vars: 'pg_migrate_login_host=x', databases: [x]}\n",
        ["server a", "'vars' must be a mapping", "a string"],
    ),
    "database vars is a list": (
        "servers:\n  a: {databases: [{name: x, vars: [1]}]}\n",
        ["server a, database x", "'vars' must be a mapping"],
    ),
    "runner is a string": ("runner: local\n" + ONE_SERVER, ["'runner' must be a mapping"]),
    "database entry unknown key": (
        "servers:\n  a: {databases: [{name: x, tag: [eu]}]}\n",
        ["server a, database x", "unknown key 'tag'", "did you mean 'tags'?", "name, canary, tags, vars"],
    ),
    "database entry without name": (
        "servers:\n  a: {databases: [x, {canary: true}]}\n",
        ["server a", "database entry 2 has no name", "add name: <database>"],
    ),
    "database entry is a list": ("servers:\n  a: {databases: [[x, y]]}\n", ["server a", "database entry 1"]),
    "databases is a string": (
        "servers:\n  a: {databases: x}\n",
        ["server a", "databases must be a list", "databases: [x]"],
    ),
    "tags is a string": (
        "servers:\n  a: {databases: [{name: x, tags: eu}]}\n",
        ["server a, database x", "tags must be a list", "tags: [eu]"],
    ),
    "canary flag is a string": (
        "servers:\n  a: {databases: [{name: x, canary: 'no'}]}\n",
        ["server a, database x", "canary must be true or false"],
    ),
    "bad database name": ("servers:\n  a: {databases: ['x y']}\n", ["server a", "database name 'x y'"]),
    "bad server name": ("servers:\n  'a b': {databases: [x]}\n", ["server name 'a b'"]),
    "database listed twice": (
        "servers:\n  a: {databases: [x, y, x]}\n",
        ["server a lists database x twice, in databases - keep one"],
    ),
    "database in the list and the range": (
        "servers:\n  a: {databases: [xp_002], database_range: {prefix: xp_, count: 3}}\n",
        ["server a lists database xp_002 twice, in databases and database_range"],
    ),
    "two servers make one host name": (
        "servers:\n  a: {databases: [b-c]}\n  a-b: {databases: [c]}\n",
        [
            "database b-c of server a and database c of server a-b both make the host name a-b-c",
            "rename one of the servers",
            "a-b: -> a_b:",
        ],
    ),
    "canary names no database": (
        ONE_SERVER + "canary: [a-x, nope]\n",
        ["canary nope", "no database", "<server>-<database>", "a-x"],
    ),
    "canary near miss": (ONE_SERVER + "canary: [a_x]\n", ["canary a_x", "did you mean 'a-x'?"]),
    "canary is a mapping": (ONE_SERVER + "canary: {a: x}\n", ["canary must be a list", "not a mapping"]),
}
# The environment a case of BROKEN is read in (none: the test's own).
ENVIRONMENT = {
    "count_env 0": {"FLEET_N": "0"},
    "count_env not a number": {"FLEET_N": "lots"},
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_fleet_file_is_refused_naming_what_and_how_to_fix(case: str, tmp_path: Path, monkeypatch):
    text, fragments = BROKEN[case]
    for name, value in ENVIRONMENT.get(case, {}).items():
        monkeypatch.setenv(name, value)
    message = refusal(write(tmp_path, text))
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_an_empty_fleet_stops_ansible_with_the_plugin_message_when_unparsed_is_failed(
    tmp_path: Path, monkeypatch, capfd
):
    path = write(tmp_path, "servers:\n  local: {database_range: {prefix: xp_, count: 0}}\n")
    monkeypatch.setattr(C, "INVENTORY_UNPARSED_IS_FAILED", True)
    with pytest.raises(AnsibleError, match="No inventory was parsed"):
        hosts(path)
    assert "fleet file %s: server local: database_range count is 0" % path in " ".join(capfd.readouterr().err.split())


# --- the repository's ansible.cfg: [inventory] unparsed_is_failed ------------------------------------------


def ansible_inventory(source: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**_plain_environment(), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), **env}
    return subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(source), "--list"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        check=False,
    )


def _plain_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}


@pytest.mark.parametrize("name", ["local", "dev", "staging", "prod", "fleet-local"])
def test_every_inventory_of_the_repository_parses_under_its_ansible_cfg(name: str):
    listed = ansible_inventory(ROOT / "inventories" / name)
    assert listed.returncode == 0, listed.stderr[-3000:]
    listing = json.loads(listed.stdout)
    assert "pg_migrate_targets" in listing and listing["_meta"]["hostvars"], name


def test_the_repository_ansible_cfg_fails_on_a_broken_fleet_file_with_the_plugin_message(tmp_path: Path):
    path = write(tmp_path, ONE_SERVER + "canary: [a-nope]\n")
    refused = ansible_inventory(path)
    assert refused.returncode != 0
    folded = " ".join(refused.stderr.split())
    assert "fleet file %s: canary a-nope" % path in folded, folded[-3000:]
    assert "No inventory was parsed" in folded
    # Without the setting (a project whose ansible.cfg lacks it) Ansible only warns and lists an empty inventory.
    warned = ansible_inventory(path, ANSIBLE_INVENTORY_UNPARSED_FAILED="false")
    assert warned.returncode == 0 and "pg_migrate_targets" not in json.loads(warned.stdout)
