"""Fixtures of the plugin tests: Ansible's own plugin loader over the repository's collections/."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from ansible.plugins.loader import init_plugin_loader
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

from tests.unit.plugins import COLLECTIONS


@pytest.fixture(scope="module")
def collection_loader() -> Iterator[None]:
    """Ansible's collection loader over the repository's collections/, as ansible-playbook sets it up: a plugin
    got from Ansible's loaders (callback_loader.get("pg_migrate.engine.fleet"), `plugin: pg_migrate.engine.fleet`)
    is the plugin as Ansible runs it, with its documented options loaded. The other tests import the collection's
    code as a plain namespace package (tests/conftest.py), which the loader cannot use: a module that asks for this
    fixture gets its own ansible_collections modules, and the others' come back afterwards."""
    others = {name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] == "ansible_collections"}
    init_plugin_loader([str(COLLECTIONS)])
    yield
    _AnsibleCollectionFinder._remove()
    for name in [name for name in sys.modules if name.split(".")[0] == "ansible_collections"]:
        del sys.modules[name]
    sys.modules.update(others)
