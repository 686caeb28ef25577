"""Work that goes on beside a playbook run in a test: a claim load, a scan of the files a run writes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def repeating(step: Callable[[], None], pause: float) -> Iterator[None]:
    """Call STEP, then sleep PAUSE seconds, over and over in a thread while the block runs. The thread is joined
    when the block ends; an exception of STEP ends the loop and is raised then (when the block itself did not
    fail), so a broken load cannot pass for a quiet one."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def loop() -> None:
        try:
            while not stop.is_set():
                step()
                time.sleep(pause)
        except BaseException as failure:  # handed to the test's thread below
            failures.append(failure)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    if failures:
        raise failures[0]
