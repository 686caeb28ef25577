"""The collection in an execution environment (AWX, Automation Platform): docs/awx.md's build, without the image.

The collection declares what it needs in an EE the way ansible-builder v3 reads it from an installed collection:
meta/execution-environment.yml naming requirements.txt (Python) and bindep.txt (system packages), both in the
built tarball. The example definition docs/awx/execution-environment.yml is copied beside a freshly built tarball
and `ansible-builder create` (offline; no image is built, no registry is reached) writes the build context. Then
the context's own introspection script runs as its Containerfile runs it in the builder stage, over the collection
installed from the context's tarball (and community.postgresql, as the galaxy stage would install it): the
Python and system requirements it writes must hold the entries of the collection's files, marked as coming from
pg_migrate.engine. The tarball must carry meta/execution-environment.yml and both files (ansible-builder 3 would
also find a requirements.txt and a bindep.txt at the collection's root without it; the metadata file is the
declared convention, and the first test holds its content).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tarfile
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml
from bindep.depends import Depends
from packaging.requirements import Requirement

from tests.ansible_run import BIN, ROOT
from tests.collection import readme

ENGINE = ROOT / "collections/ansible_collections/pg_migrate/engine"
EXAMPLE = ROOT / "docs/awx/execution-environment.yml"
AWX_DOC = ROOT / "docs/awx.md"
PLACEHOLDER = "ee-base-image-placeholder:set-me"
FROM_ENGINE = "  # from collection pg_migrate.engine"
# community.postgresql as the `ansible` package ships it: what the galaxy stage installs from a Galaxy server.
POSTGRESQL = Path(find_spec("ansible_collections.community.postgresql").submodule_search_locations[0])


def _entries(path: Path) -> list[str]:
    """A requirements or bindep file's entries: no comments, no blank lines."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, f"{shlex.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def _version() -> str:
    return yaml.safe_load((ENGINE / "galaxy.yml").read_text())["version"]


def test_the_collection_declares_its_execution_environment_needs():
    meta = yaml.safe_load((ENGINE / "meta/execution-environment.yml").read_text())
    assert meta == {"version": 1, "dependencies": {"python": "requirements.txt", "system": "bindep.txt"}}
    python = {Requirement(line).name: Requirement(line) for line in _entries(ENGINE / "requirements.txt")}
    # What the plugins import: psycopg (connections), pglast (the SQL parser), squawk-cli (the check-mode lint).
    assert set(python) == {"psycopg", "pglast", "squawk-cli"}
    for name, requirement in python.items():  # the versions the test suite runs with are inside the ranges
        assert requirement.specifier.contains(version(name)), f"{requirement} excludes the tested {version(name)}"
    system = Depends((ENGINE / "bindep.txt").read_text())
    assert [rule[0] for rule in system.active_rules(["platform:dpkg"])] == ["libpq5"]
    assert [rule[0] for rule in system.active_rules(["platform:rpm"])] == ["libpq"]
    ignored = yaml.safe_load((ENGINE / "galaxy.yml").read_text())["build_ignore"]
    for kept in ("meta/execution-environment.yml", "requirements.txt", "bindep.txt"):
        assert not any(Path(kept).match(pattern) for pattern in ignored), kept


def test_the_example_definition_leaves_the_base_image_to_the_user():
    definition = yaml.safe_load(EXAMPLE.read_text())
    assert definition["version"] == 3
    assert definition["images"]["base_image"]["name"] == PLACEHOLDER
    collections = definition["dependencies"]["galaxy"]["collections"]
    assert collections[0] == {"name": f"/build/collections/pg_migrate-engine-{_version()}.tar.gz", "type": "file"}, (
        "docs/awx/execution-environment.yml must install the tarball of the collection's current version"
    )
    assert collections[1]["name"] == "community.postgresql"
    # No registry: an image reference in the example and the page is the placeholder or the user's own
    # (`<your base image>`), never a host/name address (links to web pages aside).
    for text in (EXAMPLE.read_text(), AWX_DOC.read_text()):
        text = re.sub(r"https?://\S+", "", text)
        found = re.search(r"\b[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?/[a-z0-9._/-]+", text)
        assert not found, f"a registry address? {found.group(0)}"


@pytest.fixture
def context(tmp_path: Path) -> dict:
    """The build context `ansible-builder create` writes from the example, beside a freshly built tarball."""
    env = readme.operator_shell(tmp_path)
    build = tmp_path / "ee"
    build.mkdir()
    _run([str(BIN / "ansible-galaxy"), "collection", "build", str(ENGINE), "--output-path", str(build)], ROOT, env)
    tarball = build / f"pg_migrate-engine-{_version()}.tar.gz"
    assert tarball.is_file(), sorted(p.name for p in build.iterdir())
    (build / EXAMPLE.name).write_text(EXAMPLE.read_text())
    out = _run(
        [
            str(BIN / "ansible-builder"),
            "create",
            "--file",
            EXAMPLE.name,
            "--context",
            "context",
            "--output-filename",
            "Containerfile",
        ],
        build,
        env,
    )
    return {"dir": build / "context", "tarball": tarball, "env": env, "tmp": tmp_path, "output": out}


def test_ansible_builder_create_writes_a_context_that_carries_the_collections_requirements(context: dict):
    ctx: Path = context["dir"]
    containerfile = (ctx / "Containerfile").read_text()
    assert f'ARG EE_BASE_IMAGE="{PLACEHOLDER}"' in containerfile and "FROM $EE_BASE_IMAGE AS base" in containerfile
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    # The tarball is in the context as it was built, and requirements.yml installs it and community.postgresql.
    carried = ctx / "_build/collections" / context["tarball"].name
    assert carried.read_bytes() == context["tarball"].read_bytes()
    galaxy = yaml.safe_load((ctx / "_build/requirements.yml").read_text())
    assert [entry["name"] for entry in galaxy["collections"]] == [
        f"/build/{carried.relative_to(ctx / '_build')}",
        "community.postgresql",
    ]
    with tarfile.open(carried) as archive:
        names = set(archive.getnames())
    assert {"meta/execution-environment.yml", "requirements.txt", "bindep.txt"} <= names

    # The galaxy stage: the collections installed where the image keeps them (here: a scratch directory).
    installed = context["tmp"] / "usr-share-ansible-collections"
    _run(
        [str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(installed), str(carried)],
        ctx / "_build",
        context["env"],
    )
    (installed / "ansible_collections/community").mkdir()
    (installed / "ansible_collections/community/postgresql").symlink_to(POSTGRESQL)

    # The builder stage: the introspection RUN line of the Containerfile, with the image's paths made local.
    introspect = next(line for line in containerfile.splitlines() if "/output/scripts/introspect.py" in line)
    argv = shlex.split(introspect.removeprefix("RUN "))
    assert argv[:3] == ["$PYCMD", "/output/scripts/introspect.py", "introspect"], introspect
    written = {"--write-pip": context["tmp"] / "pip.txt", "--write-bindep": context["tmp"] / "bindep.txt"}
    options = [
        f"{name}={written[name]}" if name in written else f"{name}={value}"
        for name, value in (option.split("=", 1) for option in argv[3:])
    ]
    assert {option.split("=", 1)[0] for option in options} >= set(written), introspect
    report = _run(
        [str(BIN / "python"), str(ctx / "_build/scripts/introspect.py"), "introspect", *options, str(installed)],
        ctx / "_build",  # WORKDIR /build: the files the RUN line names are copied there
        dict(context["env"], PYTHONPATH=""),
    )
    found = yaml.safe_load(report.split("---", 1)[1])

    python = written["--write-pip"].read_text().splitlines()
    ours = [line + FROM_ENGINE for line in _entries(ENGINE / "requirements.txt")]
    assert [line for line in python if line.endswith(FROM_ENGINE)] == ours, json.dumps(found, indent=1)
    assert any(line.startswith("pglast") for line in ours) and any(line.startswith("psycopg") for line in ours)
    # community.postgresql's own requirements.txt comes along; its test tools do not (the example's exclude and
    # ansible-builder's list of test packages).
    assert any(line.startswith("psycopg2-binary") for line in python), python
    assert not any(line.startswith(("pytest", "pytest-mock")) for line in python), python

    system = written["--write-bindep"].read_text().splitlines()
    assert system == [line + FROM_ENGINE for line in _entries(ENGINE / "bindep.txt")], system


def test_the_awx_page_is_linked_and_names_the_example():
    text = AWX_DOC.read_text()
    assert text.startswith("# Run it in AWX / Automation Platform\n")
    assert "awx/execution-environment.yml" in text
    for setting in ("pg_migrate_login_password", "pg_migrate_reports_dir", "PGPASSWORD"):
        assert setting in text, setting
    assert "docs/awx.md" in (ROOT / "README.md").read_text()
    assert "docs/awx.md" in (ENGINE / "README.md").read_text()
    assert os.path.isfile(EXAMPLE)
