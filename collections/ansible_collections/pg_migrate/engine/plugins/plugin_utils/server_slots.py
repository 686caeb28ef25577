# pg_migrate: at most K databases of one server changed at the same time, whatever Ansible's forks
# (pg_migrate_fleet_per_server). Every run of a fleet on the controller is a forked worker of one
# ansible-playbook process; a slot is an exclusive lock (flock) on one of K files per server in that run's
# private temporary directory, held while the run works on its database. The kernel releases the lock when
# a worker dies, so a killed run never keeps a slot.

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator

from ansible import constants as C

POLL_SECONDS = 0.05


def slot_dir() -> str:
    return os.path.join(C.DEFAULT_LOCAL_TMP, "pg_migrate-server-slots")


@contextlib.contextmanager
def server_slot(
    server: str, limit: int, directory: str | None = None, on_wait: Callable[[float], None] | None = None
) -> Iterator[int | None]:
    """Hold one of LIMIT slots of SERVER for the duration (the slot's number; None when there is no limit).
    ON_WAIT(seconds waited so far) is called about every 15 s while all slots are taken."""
    if not server or not limit or int(limit) <= 0:
        yield None
        return
    directory = directory or slot_dir()
    os.makedirs(directory, mode=0o700, exist_ok=True)
    stem = hashlib.sha256(server.encode("utf-8")).hexdigest()[:16]
    started, told = time.monotonic(), 0.0
    while True:
        for number in range(int(limit)):
            handle = os.open(os.path.join(directory, "%s.%d" % (stem, number)), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)
                continue
            try:
                yield number
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                os.close(handle)
            return
        waited = time.monotonic() - started
        if on_wait and waited - told >= 15:
            told = waited
            on_wait(waited)
        time.sleep(POLL_SECONDS)
