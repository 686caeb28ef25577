# pg_migrate: the login password of a background job on the managed host, handed over by the controller's
# watcher through a FIFO - a job's arguments sit in a file on the host for as long as it runs, so the password
# is never among them.

from __future__ import annotations

import contextlib
import os
import select
import time

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.errors import RunFailed


def receive_password(path: str, wait_s: float) -> str:
    """The login password, read from a FIFO at PATH that the role's watcher on the controller writes to.

    A background (async) job's arguments sit in a file on the managed host for as long as it runs, so the
    password is not among them: the job creates a FIFO (mode 0600, nothing is stored on disk), the watcher
    writes the password into it through its connection, and the job removes it. The FIFO appears under
    its final name only once the job reads it, so the writer never waits on a reader that is not there."""
    staging = path + ".new"
    for stale in (staging, path):
        with contextlib.suppress(FileNotFoundError):
            os.remove(stale)
    os.mkfifo(staging, 0o600)
    reader = os.open(staging, os.O_RDONLY | os.O_NONBLOCK)
    keep_open = os.open(staging, os.O_WRONLY | os.O_NONBLOCK)  # no end-of-file while no writer is attached
    os.rename(staging, path)
    received = b""
    deadline = time.monotonic() + wait_s
    try:
        while b"\n" not in received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RunFailed(
                    "the background job waited %ds for the login password from the controller and got none: the "
                    "controller went away, or its connection to this host broke. Nothing was changed; run the "
                    "playbook again." % wait_s
                )
            ready = select.select([reader], [], [], min(remaining, 1.0))[0]
            if ready:
                with contextlib.suppress(BlockingIOError):
                    received += os.read(reader, 4096)
    finally:
        os.close(reader)
        os.close(keep_open)
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    return received.split(b"\n", 1)[0].decode("utf-8")
