# pg_migrate: one way to write a file that a reader may open at any moment (a report a CI job collects, a
# progress note a watcher polls, a memo a parallel worker reads, a script the job runs): written under a
# scratch name beside it and renamed over it, so a reader sees the old file or the new one, never half of one.

from __future__ import annotations

import contextlib
import os
import tempfile


def write_atomically(path: str, data: str | bytes, mode: int = 0o644) -> None:
    """Replace PATH with DATA (text as UTF-8), with MODE; the directory must exist. A failure leaves PATH as
    it was and no scratch file behind."""
    handle, scratch = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".%s-" % os.path.basename(path))
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(scratch, mode)
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
        raise
