"""plugins/inventory/fleet.py: the InventoryModule itself, as Ansible's inventory_loader gives it, parsing fleet files
of the test's own into Ansible's real InventoryData with a real DataLoader (as community.general tests inventory
plugins). test_fleet_file.py covers the fleet file's forms and refusals through InventoryManager;
this file covers the plugin's own steps: which files it takes, the file as a whole, the variables it sets."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader

pytestmark = pytest.mark.usefixtures("collection_loader")


@pytest.fixture
def plugin():
    return inventory_loader.get("pg_migrate.engine.fleet")


def fleet_file(tmp_path: Path, text: str, name: str = "fleet.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def parse(plugin, path: Path) -> InventoryData:
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(path), cache=False)
    return inventory


def refusal(plugin, path: Path) -> str:
    with pytest.raises(AnsibleParserError) as refused:
        parse(plugin, path)
    return refused.value.message


@pytest.mark.parametrize(
    ("name", "taken"),
    [("fleet.yml", True), ("eu-fleet.yaml", True), ("fleet.yml.bak", False), ("hosts.yml", False), ("fleet", False)],
)
def test_it_takes_only_files_whose_names_end_in_fleet_yml(plugin, tmp_path: Path, name: str, taken: bool):
    path = fleet_file(tmp_path, "plugin: pg_migrate.engine.fleet\nservers: {a: {databases: [x]}}\n", name)
    assert plugin.verify_file(str(path)) is taken
    assert plugin.verify_file(str(tmp_path / "missing-fleet.yml")) is False  # and only files that exist


def test_each_host_gets_the_runner_the_vars_in_layers_and_its_database_and_server(plugin, tmp_path: Path):
    path = fleet_file(
        tmp_path,
        """
        plugin: pg_migrate.engine.fleet
        vars: {pg_migrate_login_user: migrator, pg_migrate_db: not-this}
        servers:
          db1:
            vars: {pg_migrate_login_host: db1.internal, pg_migrate_login_port: 5433}
            databases: [{name: library, vars: {pg_migrate_fleet_server: not-this-either, note: mine}}]
        """,
    )
    variables = parse(plugin, path).get_host("db1-library").vars
    assert variables["ansible_connection"] == "local"  # the runner's default: the controller
    assert variables["ansible_python_interpreter"] == "{{ ansible_playbook_python }}"
    assert (variables["pg_migrate_login_user"], variables["pg_migrate_login_host"]) == ("migrator", "db1.internal")
    assert variables["pg_migrate_login_port"] == 5433 and variables["note"] == "mine"
    # The host's database and server are the file's structure, whatever a vars block says.
    assert (variables["pg_migrate_db"], variables["pg_migrate_fleet_server"]) == ("library", "db1")


def test_a_runner_of_the_file_replaces_the_default_one(plugin, tmp_path: Path):
    path = fleet_file(
        tmp_path,
        """
        plugin: pg_migrate.engine.fleet
        runner: {ansible_host: bastion.internal, ansible_user: deploy}
        servers: {db1: {databases: [library]}}
        """,
    )
    variables = parse(plugin, path).get_host("db1-library").vars
    assert (variables["ansible_host"], variables["ansible_user"]) == ("bastion.internal", "deploy")
    assert "ansible_connection" not in variables


def test_a_range_is_numbered_from_first_padded_to_width(plugin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = fleet_file(
        tmp_path,
        """
        plugin: pg_migrate.engine.fleet
        servers: {s: {database_range: {prefix: notes_, count: 3, first: 9, width: 2, count_env: NOTES_N}}}
        """,
    )
    monkeypatch.setenv("NOTES_N", "  ")  # set but empty: the file's count
    assert [host.name for host in parse(plugin, path).groups["pg_migrate_targets"].get_hosts()] == [
        "s-notes_09",
        "s-notes_10",
        "s-notes_11",
    ]
    monkeypatch.setenv("NOTES_N", "1")
    assert list(parse(plugin, path).hosts) == ["s-notes_09"]


def test_a_canary_list_may_be_one_comma_separated_string(plugin, tmp_path: Path):
    path = fleet_file(
        tmp_path,
        """
        plugin: pg_migrate.engine.fleet
        servers: {a: {databases: [x, y, z]}}
        canary: "a-z, y"
        """,
    )
    inventory = parse(plugin, path)
    assert [host.name for host in inventory.groups["pg_migrate_fleet_canary"].get_hosts()] == ["a-y", "a-z"]
    assert [host.name for host in inventory.groups["pg_migrate_targets"].get_hosts()] == ["a-y", "a-z", "a-x"]


def test_a_database_named_by_a_number_is_a_database(plugin, tmp_path: Path):
    path = fleet_file(tmp_path, "plugin: pg_migrate.engine.fleet\nservers: {archive: {databases: [2024]}}\n")
    assert parse(plugin, path).get_host("archive-2024").vars["pg_migrate_db"] == "2024"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "- plugin: pg_migrate.engine.fleet\n",
            "must be a mapping (plugin: pg_migrate.engine.fleet, servers: {...}), not a list",
        ),
        (
            "plugin: other.fleet\nservers: {a: {databases: [x]}}\n",
            "plugin must be pg_migrate.engine.fleet, not 'other.fleet'",
        ),
        ("plugin: pg_migrate.engine.fleet\nservers: {a: {databases: [x]}}\n  bad: [\n", "cannot be read: "),
        (
            "plugin: pg_migrate.engine.fleet\nservers: {a: {databases: [{name: x, tags: ['e u']}]}}\n",
            "server a, database x: tag 'e u': use letters, digits, _ . -",
        ),
        (
            "plugin: pg_migrate.engine.fleet\nservers: {a: {database_range: {prefix: [x], count: 2}}}\n",
            "server a: database_range prefix must be text (prefix: xp_shard_), not a list",
        ),
        (
            "plugin: pg_migrate.engine.fleet\nservers: {a: {databases: [x]}}\ncanary: ['']\n",
            "canary '': give <server>-<database> or a database name",
        ),
    ],
    ids=["a list", "another plugin", "broken YAML", "bad tag", "prefix a list", "empty canary"],
)
def test_a_file_it_cannot_use_is_refused_naming_the_file_and_what_is_wrong(
    plugin, tmp_path: Path, text: str, said: str
):
    path = fleet_file(tmp_path, text)
    message = refusal(plugin, path)
    assert message.startswith("fleet file %s: " % path), message
    assert said in " ".join(message.split()), message


def test_a_refused_file_adds_no_host(plugin, tmp_path: Path):
    path = fleet_file(tmp_path, "plugin: pg_migrate.engine.fleet\nservers: {a: {databases: [x]}, b: {databases: []}}\n")
    inventory = InventoryData()
    with pytest.raises(AnsibleParserError, match="server b lists no databases"):
        plugin.parse(inventory, DataLoader(), str(path), cache=False)
    assert "a-x" not in inventory.hosts and "pg_migrate_targets" not in inventory.groups
