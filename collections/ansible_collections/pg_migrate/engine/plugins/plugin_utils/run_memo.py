# pg_migrate: a memo shared by the forked workers of one ansible-playbook run. Every database of a fleet reads
# and parses the same change set and verification files; Ansible forks a fresh worker per host and task, so a
# result kept in memory dies with the worker. The memo keeps it as a file in Ansible's per-run temporary
# directory (private to the user, removed when ansible-playbook exits), keyed by the inputs' names, sizes and
# modification times, so a file edited during the run is read again.

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from typing import TypeVar

from ansible import constants as C

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.files import write_atomically

T = TypeVar("T")


def fingerprint(*paths: str | None) -> list[tuple]:
    """(path, size, mtime) of each file, and of each file directly inside each directory, of PATHS."""
    found: list[tuple] = []
    for path in paths:
        if not path:
            continue
        try:
            if os.path.isdir(path):
                for entry in sorted(os.scandir(path), key=lambda item: item.name):
                    stat = entry.stat()
                    found.append((entry.path, stat.st_size, stat.st_mtime_ns))
            else:
                stat = os.stat(path)
                found.append((path, stat.st_size, stat.st_mtime_ns))
        except OSError:
            found.append((path, None, None))  # missing: computed (and reported) every time
    return found


def remembered(kind: str, key: object, compute: Callable[[], T], memo_dir: str | None = None) -> T:
    """compute(), or what an earlier worker of this run computed for the same KIND and KEY. A value that fails
    to compute (raises) is never remembered, so each database reports its own error."""
    directory = memo_dir or os.path.join(C.DEFAULT_LOCAL_TMP, "pg_migrate-memo")
    name = "%s-%s.pickle" % (kind, hashlib.sha256(repr(key).encode("utf-8")).hexdigest()[:32])
    path = os.path.join(directory, name)
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError):
        pass
    value = compute()
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        # Whole or absent: a parallel worker never reads half a file.
        write_atomically(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), 0o600)
    except OSError:
        pass  # a memo that cannot be written only costs the next worker the same work again
    return value
