"""module_utils/fleet/page.py, overview.py and timeline.py: the pieces of fleet.html - the failures on top, the
grid per server, the timeline's scale and lanes, and escaping of every untrusted text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.durations import utc_instant
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet import overview, timeline
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet import rules as fleet
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.page import html_page
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.timeline import Bar
from tests.unit.plugins.module_utils.fleet.synthetic import HOSTILE_MESSAGE, HOSTILE_NAME, synthetic_report

VOID = {"meta", "br", "hr", "img", "input", "link"}


def bar(start: float, end: float, wave: int = 1, state: str = fleet.APPLIED, controller: str = "") -> Bar:
    return Bar(0, "h", wave, state, controller, start, end)


def test_instants_are_written_to_the_millisecond_and_read_back():
    assert utc_instant(1714564803.25) == "2024-05-01T12:00:03.250Z"
    assert timeline.instant("2024-05-01T12:00:03.250Z") == pytest.approx(1714564803.25)
    assert timeline.instant("2024-05-01T12:00:03") == 1714564803  # a bare time is UTC too
    assert timeline.instant("yesterday") is None and timeline.instant(None) is None and timeline.instant("") is None


def test_overlapping_runs_take_separate_lanes_and_touching_ones_share():
    bars = [bar(0, 2), bar(1, 3), bar(2, 4), bar(3.5, 5), bar(0.5, 0.9)]
    lanes = timeline.lanes_of(bars)
    assert lanes == [0, 1, 0, 1, 1]  # (0.5, 0.9) ends before (1, 3) starts: they share lane 1
    for one, lane in zip(bars, lanes, strict=True):  # no two bars of a lane overlap
        assert all(
            other.end <= one.start or one.end <= other.start
            for other, other_lane in zip(bars, lanes, strict=True)
            if other is not one and other_lane == lane
        )


@pytest.mark.parametrize(
    ("span", "step"), [(0.5, 0.1), (3, 0.5), (13, 2), (40, 5), (600, 120), (7200, 900), (10**6, 172800)]
)
def test_the_axis_has_at_most_eight_round_ticks(span: float, step: float):
    assert timeline.tick_step(span) == step and span / step <= timeline.MAX_TICKS


def test_tick_labels_read_as_time_since_the_first_run():
    assert [timeline.offset_label(s) for s in (0, 0.5, 45, 120, 150, 3600, 5400)] == [
        "+0 s",
        "+0.5 s",
        "+45 s",
        "+2 min",
        "+2 min 30 s",
        "+1 h",
        "+1 h 30 min",
    ]


def test_the_scale_maps_the_first_start_and_the_last_end_to_the_axis_ends():
    assert timeline.x_of(100.0, 100.0, 20.0) == timeline.LEFT
    assert timeline.x_of(120.0, 100.0, 20.0) == timeline.LEFT + timeline.WIDTH
    assert timeline.x_of(110.0, 100.0, 20.0) == timeline.LEFT + timeline.WIDTH / 2


def test_bars_are_the_runs_with_times_and_controllers_get_colours_in_order():
    entries = [
        {"host": "a", "wave": 1, "state": fleet.APPLIED, "started_at": "2024-05-01T12:00:00Z",
         "finished_at": "2024-05-01T12:00:01Z", "controller": "east"},
        {"host": "b", "wave": 2, "state": fleet.FAILED, "started_at": "2024-05-01T12:00:02Z",
         "finished_at": "2024-05-01T12:00:03Z", "controller": "west"},
        {"host": "c", "wave": 2, "state": fleet.APPLIED, "started_at": None, "finished_at": None},
        {"host": "d", "wave": 3, "state": fleet.NOT_ATTEMPTED},
        {"host": "e", "wave": 2, "state": fleet.SKIPPED, "started_at": "2024-05-01T12:00:02Z",
         "finished_at": "2024-05-01T12:00:03Z"},
    ]  # fmt: skip
    bars = timeline.bars_of(entries)
    assert [(one.index, one.host, one.controller) for one in bars] == [(0, "a", "east"), (1, "b", "west")]
    assert timeline.controller_index(bars) == {"east": 0, "west": 1}
    svg = timeline.timeline_svg(bars)
    assert svg.count("<rect") == 2 and 'href="#d1"' in svg and 'class="c1 bf"' in svg  # failed: outlined
    assert "wave 1" in svg and "wave 2" in svg and "wave 3" not in svg
    section = timeline.timeline_section(entries)
    assert "east" in section and "west" in section and "1 database(s) ran without recorded start" in section


def test_one_controller_is_said_once_and_no_times_draw_no_timeline():
    assert "one controller ran every database" in timeline.controllers_legend([bar(0, 1), bar(1, 2)])
    section = timeline.timeline_section([{"host": "a", "wave": 1, "state": fleet.APPLIED, "duration_ms": 5.0}])
    assert "<svg" not in section and "No run has recorded start and end times" in section


def test_a_crowded_wave_gets_thinner_lanes_within_the_band_limit():
    crowded = [bar(0, 10) for _ in range(200)]
    _svg, height = timeline.band_svg(1, crowded, 0, 0, 10, {"": 0})
    assert height == 200 * timeline.LANE_MIN  # at the thinnest: taller than BAND_MAX, never overlapping
    _svg, height = timeline.band_svg(1, crowded[:10], 0, 0, 10, {"": 0})
    assert height == 10 * timeline.LANE


def test_the_grid_has_a_cell_per_database_in_rows_linked_to_its_row():
    members = [
        (index, {"host": "h%d" % index, "database": "db%d" % index, "state": fleet.APPLIED}) for index in range(120)
    ]
    grid = overview.server_grid("eu", members)
    cells = re.findall(r'<a href="#d(\d+)"><rect x="(\d+)" y="(\d+)"', grid)
    assert [int(index) for index, _x, _y in cells] == list(range(120))
    step = overview.CELL + overview.GAP
    assert (cells[50][1], cells[50][2]) == ("0", str(step)) and cells[49][1] == str(49 * step)
    assert 'height="%d"' % (3 * step) in grid  # 120 cells: three rows of 50


def test_failed_and_halted_cells_stand_out():
    css = overview.state_css()
    failed, halted = overview.state_class(fleet.FAILED), overview.state_class(fleet.NOT_ATTEMPTED)
    assert ".%s{stroke:" % failed in css and overview.STATE_COLOURS[fleet.FAILED] in css
    legend = overview.legend({fleet.APPLIED: 5, fleet.FAILED: 0, fleet.NOT_ATTEMPTED: 0})
    assert legend.index("failed: 0") < legend.index("halted-not-attempted: 0") < legend.index("applied: 5")
    assert halted != failed


def test_the_failures_on_top_name_database_server_script_sqlstate_and_the_message_escaped():
    report = synthetic_report(count=200, failures=(3, 42, 77), sizes=(1, "50%", "100%"), halted_wave=3)
    section = overview.failures_section(report["databases"], report["halt_reason"])
    assert section.startswith('<section id="failures"><h2>Failures (3)</h2><p class="halt">Halted: the failure')
    assert "not attempted" in section and HOSTILE_NAME not in section and HOSTILE_MESSAGE not in section
    assert "o&#x27;brien&quot;&lt;script&gt;alert(1)&lt;/script&gt;" in section
    assert "&lt;script&gt;alert(&quot;m&quot;)&lt;/script&gt; &amp; friends" in section
    assert section.count("<td>V002__policy.sql</td><td>23505</td>") == 3 and "<script" not in section
    assert overview.failures_section([{"host": "a", "state": fleet.APPLIED}], None) == ""


def test_many_failures_show_the_first_hundred_and_say_how_many_more():
    failed = [{"host": "h%d" % n, "state": fleet.FAILED, "failure": {"message": "x" * 5000}} for n in range(130)]
    section = overview.failures_section(failed, "the failure budget is exhausted")
    assert section.count('<a href="#d') == overview.FAILURES_SHOWN and "and 30 more failed" in section
    assert "x" * overview.MESSAGE_SHOWN not in section and "x" * (overview.MESSAGE_SHOWN - 3) + "..." in section


class Balance(HTMLParser):
    """Every element closed, in order (void ones aside): the page's markup holds together."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.errors.append(tag)


def test_the_page_is_well_formed_linked_and_holds_no_script_from_hostile_text():
    report = synthetic_report(count=120, sizes=(1, "50%", "100%"), halted_wave=3)
    page = html_page(report)
    checker = Balance()
    checker.feed(page)
    assert checker.errors == [] and checker.open == []
    assert "<script" not in page and "http" not in page and "@import" not in page and "url(" not in page
    rows = re.findall(r'<tr id="d(\d+)"', page)
    assert rows == [str(index) for index in range(120)]
    assert set(re.findall(r'href="#d(\d+)"', page)) <= set(rows)
    assert page.index('id="failures"') < page.index('id="servers"') < page.index('id="timeline"')
    assert page.index('id="timeline"') < page.index("<h2>Databases</h2>")
