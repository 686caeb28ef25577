# pg_migrate: the fleet page's timeline - each database's run as a bar from its start to its end, in a band per
# wave, coloured by the controller (or slice) that ran it; inline SVG, as pure functions of fleet.json's entries.
# Parallel runs of a wave are packed into lanes (first fit), so a band is as tall as the wave was parallel, not
# as long as it was: a wave of 700 databases run 20 at a time takes 20 lanes.

from __future__ import annotations

import datetime
import html
import math
from dataclasses import dataclass

from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.rules import APPLIED, CURRENT, FAILED, WOULD_APPLY

WIDTH = 960  # the time axis, in px
LEFT = 90  # the wave labels
LANE = 8  # a lane's height when the band is not crowded
BAND_MAX = 240  # a band's tallest: crowded lanes get thinner (at least LANE_MIN)
LANE_MIN = 2
GAP = 14  # between bands
LABEL = 14  # a band is at least as tall as its label
AXIS = 22  # the tick labels under the bands
# Controllers in the order they first appear (colour-blind-safe hues, Okabe-Ito); a ninth repeats the first.
CONTROLLER_COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)
MAX_TICKS = 8
RAN = (APPLIED, CURRENT, FAILED, WOULD_APPLY)  # the states of a database whose migrate ran (check mode too)


@dataclass(frozen=True)
class Bar:
    """A database's run on the timeline: INDEX its row in the table, START and END epoch seconds."""

    index: int
    host: str
    wave: int
    state: str
    controller: str
    start: float
    end: float


def instant(text: object) -> float | None:
    """Epoch seconds of an ISO 8601 time as fleet.json holds it ("...T12:00:03.250Z"); None when absent or not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:  # fleet.json's times are UTC; a bare one is read as UTC too
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def bars_of(databases: list[dict]) -> list[Bar]:
    """A bar for every database whose run recorded when it started and ended (in the table's order)."""
    bars = []
    for index, entry in enumerate(databases):
        if entry["state"] not in RAN:
            continue
        start, end = instant(entry.get("started_at")), instant(entry.get("finished_at"))
        if start is None or end is None:
            continue
        controller = str(entry.get("controller") or "")
        bars.append(Bar(index, str(entry["host"]), int(entry["wave"] or 0), entry["state"], controller, start, end))
    return bars


def lanes_of(bars: list[Bar]) -> list[int]:
    """Each bar's lane within its band (first fit in order of start): bars that overlap in time never share one."""
    ends: list[float] = []
    lanes = [0] * len(bars)
    for position in sorted(range(len(bars)), key=lambda i: (bars[i].start, bars[i].end)):
        run_bar = bars[position]
        lane = next((number for number, end in enumerate(ends) if end <= run_bar.start), len(ends))
        if lane == len(ends):
            ends.append(run_bar.end)
        else:
            ends[lane] = run_bar.end
        lanes[position] = lane
    return lanes


def tick_step(span: float) -> float:
    """The smallest round step (seconds) that puts at most MAX_TICKS ticks on an axis SPAN seconds long."""
    return next(
        (step for step in STEPS if span / step <= MAX_TICKS), STEPS[-1] * math.ceil(span / STEPS[-1] / MAX_TICKS)
    )


def offset_label(seconds: float) -> str:
    """A tick's label: the time since the first run began (+0.5 s, +45 s, +2 min, +1 h 30 min)."""
    if seconds < 1 and seconds:
        return "+%.1f s" % seconds
    if seconds < 60:
        return "+%d s" % round(seconds)
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return "+%d min" % minutes + (" %d s" % rest if rest else "")
    hours, rest = divmod(round(seconds) // 60, 60)
    return "+%d h" % hours + (" %d min" % rest if rest else "")


def x_of(moment: float, first: float, span: float) -> float:
    """Where MOMENT falls on the axis running from FIRST for SPAN seconds (px, rounded to a tenth)."""
    return round(LEFT + (moment - first) / span * WIDTH, 1)


def controller_index(bars: list[Bar]) -> dict[str, int]:
    """Each controller's colour, in the order controllers first appear."""
    found: dict[str, int] = {}
    for run_bar in bars:
        found.setdefault(run_bar.controller, len(found) % len(CONTROLLER_COLOURS))
    return found


def bar_svg(run_bar: Bar, y: float, height: float, first: float, span: float, colour: int) -> str:
    """A bar, linked to its database's row, with its tooltip; a failed run is outlined in red."""
    left = x_of(run_bar.start, first, span)
    width = max(1.0, round(x_of(run_bar.end, first, span) - left, 1))
    title = "%s: %s, wave %d, %.1f s%s" % (
        run_bar.host,
        run_bar.state,
        run_bar.wave,
        run_bar.end - run_bar.start,
        ", controller %s" % run_bar.controller if run_bar.controller else "",
    )
    return '<a href="#d%d"><rect x="%s" y="%s" width="%s" height="%s" class="c%d%s"><title>%s</title></rect></a>' % (
        run_bar.index,
        left,
        round(y, 1),
        width,
        round(height, 1),
        colour,
        " bf" if run_bar.state == FAILED else "",
        html.escape(title),
    )


def band_svg(wave: int, bars: list[Bar], top: float, first: float, span: float, colours: dict) -> tuple[str, float]:
    """A wave's band (its label and its bars in lanes) starting at TOP: (its SVG, its height)."""
    lanes = lanes_of(bars)
    count = max(lanes) + 1
    lane = max(LANE_MIN, min(LANE, BAND_MAX / count))
    parts = ['<text x="0" y="%s" class="tl">wave %d</text>' % (round(top + LABEL - 3, 1), wave)]
    parts += [
        bar_svg(run_bar, top + number * lane, max(1.0, lane - 1), first, span, colours[run_bar.controller])
        for run_bar, number in zip(bars, lanes, strict=True)
    ]
    return "".join(parts), max(lane * count, LABEL)


def axis_svg(first: float, span: float, top: float, bottom: float) -> str:
    """The time axis: a line and a label per round step from the first run's start."""
    step = tick_step(span)
    parts = []
    for number in range(int(span // step) + 1):
        x = x_of(first + number * step, first, span)
        parts.append('<line x1="%s" y1="%s" x2="%s" y2="%s" class="tk"/>' % (x, top, x, bottom))
        parts.append('<text x="%s" y="%s" class="tl">%s</text>' % (x, bottom + 14, offset_label(number * step)))
    return "".join(parts)


def timeline_svg(bars: list[Bar]) -> str:
    """The timeline of BARS: a band per wave, the axis under them; '' without bars."""
    if not bars:
        return ""
    first = min(run_bar.start for run_bar in bars)
    span = max(max(run_bar.end for run_bar in bars) - first, 0.001)
    colours = controller_index(bars)
    parts, top = [], 0.0
    for wave in sorted({run_bar.wave for run_bar in bars}):
        band, height = band_svg(wave, [run_bar for run_bar in bars if run_bar.wave == wave], top, first, span, colours)
        parts.append(band)
        top += height + GAP
    height = top - GAP + AXIS
    return '<svg id="timeline" width="%d" height="%d" viewBox="0 0 %d %d">%s%s</svg>' % (
        LEFT + WIDTH + 40,
        round(height),
        LEFT + WIDTH + 40,
        round(height),
        axis_svg(first, span, 0, top - GAP),
        "".join(parts),
    )


def controllers_legend(bars: list[Bar]) -> str:
    """What the bars' colours mean: the controllers (or that one controller ran them all) and the red outline."""
    colours = controller_index(bars)
    if set(colours) == {""}:
        named = ['<span class="sw c0b"></span> one controller ran every database']
    else:
        named = [
            '<span class="sw c%db"></span> %s' % (colour, html.escape(name or "(unnamed)"))
            for name, colour in colours.items()
        ]
    return '<p class="legend">%s <span class="sw fo"></span> failed</p>' % " ".join(named)


def controller_css() -> str:
    """The bars' fills and the legend's swatches, one colour per controller."""
    return "".join(
        ".c%d{fill:%s}.c%db{background:%s}" % (index, colour, index, colour)
        for index, colour in enumerate(CONTROLLER_COLOURS)
    )


def timeline_section(databases: list[dict]) -> str:
    """The page's timeline section: the SVG, its legend, and what could not be drawn."""
    bars = bars_of(databases)
    ran = [entry for entry in databases if entry["state"] in RAN]
    missing = len(ran) - len(bars)
    note = (
        "<p>%d database(s) ran without recorded start and end times (a run before these were recorded): "
        "their durations are in the table.</p>" % missing
        if missing > 0
        else ""
    )
    if not bars:
        return "<h2>Timeline</h2><p>No run has recorded start and end times yet.</p>%s" % note
    return "<h2>Timeline</h2>%s%s%s" % (controllers_legend(bars), timeline_svg(bars), note)
