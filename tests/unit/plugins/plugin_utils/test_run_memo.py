"""plugin_utils/run_memo.py: what one forked worker computed, the next reads (keyed by the files' state)."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from ansible_collections.pg_migrate.engine.plugins.plugin_utils.run_memo import fingerprint, remembered


def _compute_in_a_fork(memo: str, marker: str, queue) -> None:
    def compute() -> dict:
        Path(marker).write_text("computed")
        return {"value": 42}

    queue.put(remembered("kind", ("key",), compute, memo))


def test_a_value_computed_in_one_forked_worker_is_read_by_the_next(tmp_path: Path):
    context = multiprocessing.get_context("fork")  # as Ansible starts its workers
    memo, queue = str(tmp_path / "memo"), context.Queue()
    answers = []
    for worker in ("first", "second"):
        process = context.Process(target=_compute_in_a_fork, args=(memo, str(tmp_path / worker), queue))
        process.start()
        answers.append(queue.get(timeout=30))
        process.join(30)
    assert answers == [{"value": 42}, {"value": 42}]
    assert (tmp_path / "first").exists() and not (tmp_path / "second").exists()


def test_a_changed_file_changes_the_key(tmp_path: Path):
    script = tmp_path / "migrations" / "V001__a.sql"
    script.parent.mkdir()
    script.write_text("SELECT 1;\n")
    before = fingerprint(str(script.parent))
    script.write_text("SELECT 1; SELECT 2;\n")
    os.utime(script, ns=(1, 1))
    assert fingerprint(str(script.parent)) != before
    assert fingerprint(str(tmp_path / "absent")) == [(str(tmp_path / "absent"), None, None)]


def test_a_failure_is_not_remembered(tmp_path: Path):
    calls = []

    def failing():
        calls.append(1)
        raise ValueError("broken input")

    for _ in range(2):
        with pytest.raises(ValueError):
            remembered("kind", ("key",), failing, str(tmp_path))
    assert len(calls) == 2
    assert remembered("kind", ("key",), lambda: "fine", str(tmp_path)) == "fine"
