"""The collection's changelog is antsibull-changelog's: fragments that lint clean, a changelog.yaml that lints
clean, a CHANGELOG.md that is exactly what `antsibull-changelog generate` writes from it, and every plugin,
module and role of the collection listed under the release that brought it (or documented as added in a release
still to come, where `antsibull-changelog release` will list it).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from pathlib import Path

import yaml
from packaging.version import Version

from tests.ansible_run import BIN, ROOT

COLLECTION = ROOT / "collections" / "ansible_collections" / "pg_migrate" / "engine"
CHANGELOGS = COLLECTION / "changelogs"


def _changelog_tool(*args: str, cwd: Path = COLLECTION) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")  # its ansible-doc: ours
    return subprocess.run(
        [str(BIN / "antsibull-changelog"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _releases() -> dict:
    return yaml.safe_load((CHANGELOGS / "changelog.yaml").read_text())["releases"]


def test_the_fragments_and_the_changelog_yaml_lint_clean():
    assert sorted(p.name for p in (CHANGELOGS / "fragments").iterdir())  # the unreleased work has fragments
    for args in (["lint"], ["lint-changelog-yaml", str(CHANGELOGS / "changelog.yaml")]):
        linted = _changelog_tool(*args)
        findings = linted.stdout.strip()
        assert linted.returncode == 0 and not findings, f"antsibull-changelog {args[0]}:\n{findings}{linted.stderr}"


def test_changelog_md_is_what_generate_writes(tmp_path: Path):
    written = tmp_path / "CHANGELOG.md"
    generated = _changelog_tool("generate", "--output", str(written), "--output-format", "md")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert (COLLECTION / "CHANGELOG.md").read_text() == written.read_text(), (
        "CHANGELOG.md is not what changelogs/changelog.yaml gives: run `antsibull-changelog generate` in "
        f"{COLLECTION.relative_to(ROOT)} (and edit changelogs/changelog.yaml or a fragment, not CHANGELOG.md)"
    )


def _filters() -> set[str]:
    """The filter plugins' names (ansible-doc lists only the documented ones)."""
    names = set()
    for path in (COLLECTION / "plugins" / "filter").glob("*.py"):
        module = importlib.import_module(f"ansible_collections.pg_migrate.engine.plugins.filter.{path.stem}")
        names.update(module.FilterModule().filters())
    return names


def test_every_plugin_module_and_role_is_listed_under_its_release(tmp_path: Path):
    # antsibull-changelog's own view of the collection (what `release` lists), from a copy: it writes
    # changelogs/.plugin-cache.yaml
    copy = tmp_path / "ansible_collections" / "pg_migrate" / "engine"
    shutil.copytree(COLLECTION, copy, ignore=shutil.ignore_patterns("__pycache__", "output", ".plugin-cache.yaml"))
    loaded = _changelog_tool("generate", "--reload-plugins", "--output", str(tmp_path / "out.md"), cwd=copy)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    cache = yaml.safe_load((copy / "changelogs" / ".plugin-cache.yaml").read_text())
    found = {
        (kind, name): entry.get("version_added")
        for group in ("plugins", "objects")
        for kind, entries in cache[group].items()
        for name, entry in entries.items()
    }
    found.update({("filter", name): None for name in _filters() if ("filter", name) not in found})

    releases = _releases()
    listed = {}
    for version, release in releases.items():
        for module in release.get("modules", []):
            listed.setdefault(("module", module["name"]), []).append(version)
        for group in ("plugins", "objects"):
            for kind, entries in release.get(group, {}).items():
                for entry in entries:
                    listed.setdefault((kind, entry["name"]), []).append(version)

    latest = max(releases, key=Version)
    unlisted = [
        f"{kind} {name}"
        for (kind, name), added in sorted(found.items(), key=lambda item: (item[0], str(item[1])))
        if (kind, name) not in listed and not (added and Version(str(added)) > Version(latest))
    ]
    assert not unlisted, (
        f"not in changelogs/changelog.yaml: {', '.join(unlisted)} - a new one says version_added (a version after "
        f"{latest}) in its documentation, and `antsibull-changelog release` lists it"
    )
    assert not [key for key, versions in listed.items() if len(versions) > 1], "listed under two releases"
    gone = sorted(f"{kind} {name}" for kind, name in listed if (kind, name) not in found)
    assert not gone, f"listed in changelogs/changelog.yaml but not in the collection: {', '.join(gone)}"
