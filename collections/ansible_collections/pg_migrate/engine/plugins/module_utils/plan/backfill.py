# pg_migrate: the backfill's keyset loop as a pure step, so the run (run/backfill.py) only executes batches
# and the tests can walk every path of the loop without a database.

from __future__ import annotations


def next_backfill_step(
    phase: str, cursor: object, linked: int, last: object, high_water: object
) -> tuple[str, object, bool]:
    """The keyset loop as a pure step: (phase, cursor, done) after one batch.

    A forward pass walks the cursor up; once it links nothing, or passes the newest row that existed
    when the backfill started (high_water), one sweep from the start picks up rows skipped while
    another session held them. The backfill is done when the sweep ends the same way. Rows added
    after the start are not chased: with claims arriving all the time, that would never end.
    """
    beyond_mark = high_water is not None and last is not None and last >= high_water
    if linked and not beyond_mark:
        return phase, last, False
    if phase == "forward" and (cursor or linked):
        return "sweep", 0, False
    return phase, cursor, True
