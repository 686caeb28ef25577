"""module_utils/changeset/bundle.py: the change set's tar for the managed host, written and unpacked."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset import bundle
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset import discovery as changeset

ROOT = Path(__file__).resolve().parents[5]  # the repository: tests/unit/plugins/module_utils/changeset/<this file>


def test_bundle_is_deterministic_and_carries_the_modes(tmp_path: Path):
    found, _, _ = changeset.build_changeset(str(ROOT / "files/migrations"), str(ROOT / "files/seeds"))
    roots = {"migrations": str(ROOT / "files/migrations"), "seeds": str(ROOT / "files/seeds")}
    first = bundle.write_bundle(found, roots, str(tmp_path / "a.tar"), 0o600, 0o700)
    second = bundle.write_bundle(found, roots, str(tmp_path / "b.tar"), 0o600, 0o700)
    assert first == second
    with tarfile.open(tmp_path / "a.tar") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["migrations"].isdir() and members["migrations"].mode == 0o700
    assert members["migrations/V002__policy_as_data.sql"].mode == 0o600
    assert "seeds/R__default_policy.sql" in members
    assert len([m for m in members.values() if m.isfile()]) == 16


def test_unpacking_gives_the_files_with_their_modes_and_a_second_unpack_writes_nothing(tmp_path: Path):
    found, _, _ = changeset.build_changeset(str(ROOT / "files/migrations"), str(ROOT / "files/seeds"))
    roots = {"migrations": str(ROOT / "files/migrations"), "seeds": str(ROOT / "files/seeds")}
    bundle.write_bundle(found, roots, str(tmp_path / "c.tar"), 0o600, 0o700)
    target = tmp_path / "scripts"
    assert bundle.extract_bundle(str(tmp_path / "c.tar"), str(target), 0o700) == 16
    copied = target / "migrations/V002__policy_as_data.sql"
    assert copied.read_bytes() == (ROOT / "files/migrations/V002__policy_as_data.sql").read_bytes()
    assert copied.stat().st_mode & 0o777 == 0o600 and (target / "migrations").stat().st_mode & 0o777 == 0o700
    assert bundle.extract_bundle(str(tmp_path / "c.tar"), str(target), 0o700) == 0
    copied.write_text("altered")
    assert bundle.extract_bundle(str(tmp_path / "c.tar"), str(target), 0o700) == 1
    assert copied.read_bytes() == (ROOT / "files/migrations/V002__policy_as_data.sql").read_bytes()


def test_a_bundle_with_a_path_outside_its_directory_is_refused(tmp_path: Path):
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        info = tarfile.TarInfo("../outside.sql")
        tar.addfile(info)
    with pytest.raises(ValueError, match=r"unexpected member '\.\./outside\.sql'"):
        bundle.extract_bundle(str(evil), str(tmp_path / "scripts"), 0o700)
    assert not os.path.exists(tmp_path / "outside.sql")
