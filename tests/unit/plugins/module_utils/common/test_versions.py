"""What a version is, and which versions a history says are applied."""

from __future__ import annotations

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.common import versions


def test_versions_compare_numerically():
    assert versions.version_key("002") == versions.version_key("2") == versions.version_key("2.0")
    assert versions.version_key("1.10") > versions.version_key("1.9")


@pytest.mark.parametrize("bad", ["", "abc", "1.x", None])
def test_version_key_rejects_non_versions(bad):
    with pytest.raises(ValueError):
        versions.version_key(bad)


def row(version: str | None, kind: str = "migration", success: bool = True) -> dict:
    return {"version": version, "kind": kind, "success": success}


HISTORY = [
    row("1.10"),
    row("001", kind="baseline"),
    row("1.9"),
    row("002", success=False),  # a failed attempt of a marked script: not in force
    row(None, kind="repeatable"),  # seeds have no version
]


def test_only_successful_migrations_and_baselines_are_applied():
    assert [versions.is_applied(r) for r in HISTORY] == [True, True, True, False, False]
    assert versions.is_applied({"version": "3", "kind": "migration"})  # rows of old reports lack "success"


def test_applied_versions_sort_numerically_and_the_current_one_is_the_highest():
    assert versions.applied_versions(HISTORY) == ["001", "1.9", "1.10"]
    assert versions.current_version(HISTORY) == "1.10"
    assert versions.current_version([row("002", success=False)]) == versions.NO_VERSION == "000"


def test_a_rollback_leaves_the_highest_applied_version_below_its_target():
    assert versions.highest_applied_below(HISTORY, "1.10") == "1.9"
    assert versions.highest_applied_below(HISTORY, "1") == versions.NO_VERSION
