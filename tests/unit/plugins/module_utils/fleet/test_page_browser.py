"""The browser check of fleet.html at fleet scale: a synthetic 1,000-database report (four servers, every state,
failures, two controllers) rendered by real headless Chromium - its DOM (every grid cell, the failures on top,
a bar per run) and a screenshot that shows the colours of the grid and the timeline. No PostgreSQL."""

from __future__ import annotations

import time

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet import rules as fleet
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.overview import STATE_COLOURS
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.page import html_page
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.timeline import CONTROLLER_COLOURS
from tests.unit.plugins.module_utils.fleet.browser import page_shape, png_colours, run_chromium
from tests.unit.plugins.module_utils.fleet.synthetic import HOSTILE_NAME, synthetic_report

pytestmark = pytest.mark.browser
# At 1,000 databases the page must stay small enough to mail and to open at once (measured: about 440 KB).
MAX_BYTES = 600_000


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    """The page of a halted 1,000-database rollout, as Chromium's DOM and as a screenshot."""
    scratch = tmp_path_factory.mktemp("fleet-page")
    report = synthetic_report()
    page = scratch / "fleet.html"
    page.write_text(html_page(report), encoding="utf-8")
    started = time.monotonic()
    dom = run_chromium(scratch, "--dump-dom", page.as_uri())
    seconds = time.monotonic() - started
    shot = scratch / "fleet.png"
    # Half scale: the whole top of the page (grids, timeline) in few pixels, so decoding it in Python is quick.
    run_chromium(
        scratch, "--force-device-scale-factor=0.5", "--window-size=1280,2000", "--screenshot=%s" % shot, page.as_uri()
    )
    return {"report": report, "page": page, "dom": dom, "seconds": seconds, "png": shot.read_bytes()}


def test_the_page_of_1000_databases_is_small_and_renders_fast(rendered: dict):
    size = rendered["page"].stat().st_size
    assert len(rendered["report"]["databases"]) == 1000
    assert 100_000 < size < MAX_BYTES, size
    assert rendered["seconds"] < 60, rendered["seconds"]  # a browser start included, on a busy 2-core machine


def test_the_dom_has_every_cell_the_failures_on_top_and_a_bar_per_run(rendered: dict):
    report, shape = rendered["report"], page_shape(rendered["dom"])
    ran = [entry for entry in report["databases"] if entry["started_at"]]
    failed = [entry for entry in report["databases"] if entry["state"] == fleet.FAILED]
    assert shape.grid_cells == 1000
    assert shape.timeline_bars == len(ran) and 250 < len(ran) < 1000  # the halted wave never ran
    assert shape.failure_rows == len(failed) + 1 and len(failed) == 4  # a head row and one per failure
    # The failures (with their table) on top, the grids, the timeline, then the waves' and the databases' tables.
    assert shape.sections == ["failures", "table", "servers", "timeline", "table", "table"], shape.sections
    assert shape.scripts == 0  # a database name and a message hold <script>: text, never an element
    assert HOSTILE_NAME in "".join(shape.texts)


def test_the_screenshot_shows_the_states_and_the_controllers(rendered: dict):
    report, colours = rendered["report"], png_colours(rendered["png"])
    assert len(colours) > 50, len(colours)  # a blank or unstyled page has a handful
    # At half scale a 12 px cell is 36 pixels (a failed one's outline takes some): each state's colour covers
    # at least 16 pixels per database in that state - the grid's cells, not just the legend's swatch.
    for state in (fleet.FAILED, fleet.NOT_ATTEMPTED, fleet.APPLIED):
        painted = colours[rgb(STATE_COLOURS[state])]
        assert painted >= 16 * report["counts"][state] > 0, (state, painted)
    # Each controller's bars: a run of about half a second is 15 to 35 pixels wide and 3 high at this scale.
    for index, controller in enumerate(("ctl-a", "ctl-b")):
        bars = sum(1 for entry in report["databases"] if entry["started_at"] and entry["controller"] == controller)
        painted = colours[rgb(CONTROLLER_COLOURS[index])]
        assert painted >= 20 * bars > 0, (controller, painted)
