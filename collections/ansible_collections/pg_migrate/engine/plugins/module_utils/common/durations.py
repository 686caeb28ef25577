# pg_migrate: PostgreSQL's duration syntax (what lock_timeout and statement_timeout take), once: whether a text
# is one, and how many seconds it means - for the run's own waits, which the settings give the same way; and the
# instants a run began and ended, as its result records them.

from __future__ import annotations

import re
import time

# A number, optionally with a unit (no unit means milliseconds). Units are case-sensitive on the server
# ("2S" is rejected there too).
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$")
SECONDS_PER_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def is_duration(value: object) -> bool:
    """Whether VALUE is a PostgreSQL duration (a bool is not, though Python would call it a number)."""
    return not isinstance(value, bool) and DURATION.match(str(value)) is not None


def duration_seconds(value: object) -> float:
    """The seconds of the PostgreSQL duration VALUE ("2s", "500ms", "30min", "100" = 100 ms); ValueError else."""
    found = None if isinstance(value, bool) else DURATION.match(str(value))
    if found is None:
        raise ValueError("%r is not a PostgreSQL duration (a number with us, ms, s, min, h or d)" % (value,))
    number, unit = found.groups()
    return float(number) * SECONDS_PER_UNIT[unit or "ms"]


def utc_instant(epoch: float) -> str:
    """EPOCH (seconds) as UTC ISO 8601 to the millisecond ("2024-05-01T12:00:03.250Z"): a fleet's runs last
    fractions of a second, and the fleet page's timeline places each by its start and end."""
    whole = int(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + ".%03dZ" % min(999, int((epoch - whole) * 1000))
