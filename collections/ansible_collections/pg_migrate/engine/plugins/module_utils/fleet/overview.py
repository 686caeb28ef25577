# pg_migrate: the top of the fleet page - the failures first (what an operator acts on), then a grid per server
# with a cell per database coloured by its state, so that 1,000 databases read at a glance. Inline SVG; every
# database name and message is untrusted text and is escaped here. Cells and failures link to the database's
# row of the table below (id "d<its index>": an index, never the name, makes a safe anchor).

from __future__ import annotations

import html

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import clip
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.report import xml_text
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.rules import (
    APPLIED,
    CURRENT,
    FAILED,
    NOT_ATTEMPTED,
    NOT_IN_RUN,
    PENDING,
    SKIPPED,
    STATES,
    WOULD_APPLY,
)

# Failed (red, outlined) and halted (dark grey: it never ran) are saturated and far apart, the rest pastel: the
# eye finds a failed cell among hundreds of halted ones, and both among the rest.
STATE_COLOURS = {
    FAILED: "#d93025",
    NOT_ATTEMPTED: "#5f6368",
    APPLIED: "#a8dab5",
    CURRENT: "#c6dafc",
    SKIPPED: "#fde293",
    WOULD_APPLY: "#8ab4f8",
    PENDING: "#dadce0",
    NOT_IN_RUN: "#f1f3f4",
}
PROMINENT = (FAILED, NOT_ATTEMPTED)
CELL = 12  # a grid cell, in px, with GAP between cells
GAP = 2
COLUMNS = 50  # cells per row of a server's grid
FAILURES_SHOWN = 100  # the failures listed on top; the table lists every one
MESSAGE_SHOWN = 300  # characters of a failure's message on top (the table has the rest)


def text(value: object) -> str:
    """VALUE as escaped text of the page (quotes too: the same text goes into attributes; control characters a
    server message may hold are replaced, as in the JUnit file)."""
    return html.escape(xml_text("" if value is None else str(value)))


def state_class(state: str) -> str:
    """The short class of a state's colour (a page of 1,000 cells says it 1,000 times)."""
    return "s%d" % STATES.index(state) if state in STATES else "s%d" % STATES.index(NOT_IN_RUN)


def state_css() -> str:
    """Each state's colour, as an SVG fill (cells) and a background (swatches); the prominent ones outlined."""
    rules = [
        "%s{fill:%s}.%sb{background:%s}" % ("." + state_class(state), colour, state_class(state), colour)
        for state, colour in STATE_COLOURS.items()
    ]
    rules.append(".%s{stroke:#202124;stroke-width:2}" % state_class(FAILED))
    return "".join(rules)


def legend(counts: dict) -> str:
    """What each colour means, with how many databases are in that state (prominent states first)."""
    order = [*PROMINENT, *(state for state in STATES if state not in PROMINENT)]
    items = [
        '<span class="sw %sb"></span> %s: %d' % (state_class(state), text(state), counts.get(state, 0))
        for state in order
        if counts.get(state) or state in PROMINENT
    ]
    return '<p class="legend">%s</p>' % " ".join(items)


def failure_row(index: int, entry: dict) -> str:
    """A failed database's line on top: database, server, wave, script, SQLSTATE, message (clipped)."""
    failure = entry.get("failure") or {}
    message = failure.get("message") or (entry.get("health") or {}).get("message") or ""
    return (
        '<tr><td><a href="#d%d">%s</a></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class="msg">%s</td></tr>'
        % (
            index,
            text(entry.get("database") or entry["host"]),
            text(entry.get("server")),
            text(entry.get("wave")),
            text(failure.get("script") or ""),
            text(failure.get("sqlstate") or ""),
            text(clip(message, MESSAGE_SHOWN, "...")),
        )
    )


def failures_section(databases: list[dict], halt_reason: str | None) -> str:
    """The failures on top (in rollout order, the first FAILURES_SHOWN) and why the waves stopped; '' when
    nothing failed or halted."""
    failed = [(index, entry) for index, entry in enumerate(databases) if entry["state"] == FAILED]
    halted = sum(1 for entry in databases if entry["state"] == NOT_ATTEMPTED)
    parts = []
    if halt_reason or halted:
        parts.append(
            '<p class="halt">Halted: %s - %d database(s) not attempted.</p>'
            % (text(halt_reason or "the waves stopped"), halted)
        )
    if failed:
        rows = "".join(failure_row(index, entry) for index, entry in failed[:FAILURES_SHOWN])
        more = len(failed) - FAILURES_SHOWN
        parts.append(
            '<table class="failures"><tr><th>database</th><th>server</th><th>wave</th><th>script</th>'
            "<th>SQLSTATE</th><th>message</th></tr>%s</table>%s"
            % (rows, "<p>... and %d more failed: the table below lists every one.</p>" % more if more > 0 else "")
        )
    if not parts:
        return ""
    return '<section id="failures"><h2>Failures (%d)</h2>%s</section>' % (len(failed), "".join(parts))


def cell(index: int, entry: dict, position: int) -> str:
    """A database's cell at POSITION of its server's grid: its state's colour, a tooltip, a link to its row."""
    x, y = (position % COLUMNS) * (CELL + GAP), (position // COLUMNS) * (CELL + GAP)
    tooltip = "%s: %s, %s -> %s" % (
        entry.get("database") or entry["host"],
        entry["state"],
        entry.get("version_before") or "?",
        entry.get("version_after") or "?",
    )
    return '<a href="#d%d"><rect x="%d" y="%d" class="%s"><title>%s</title></rect></a>' % (
        index,
        x,
        y,
        state_class(entry["state"]),
        text(tooltip),
    )


def server_grid(server: str, members: list[tuple[int, dict]]) -> str:
    """A server's heading (its counts of failed and halted) and its grid, a cell per database in rollout order."""
    rows = (len(members) + COLUMNS - 1) // COLUMNS
    width = min(len(members), COLUMNS) * (CELL + GAP)
    height = rows * (CELL + GAP)
    failed = sum(1 for _index, entry in members if entry["state"] == FAILED)
    halted = sum(1 for _index, entry in members if entry["state"] == NOT_ATTEMPTED)
    trouble = ", ".join(
        part for part in ("%d failed" % failed if failed else "", "%d halted" % halted if halted else "") if part
    )
    return '<h3>%s <small>%d database(s)%s</small></h3><svg class="grid" width="%d" height="%d">%s</svg>' % (
        text(server or "(no server)"),
        len(members),
        ": " + trouble if trouble else "",
        width,
        height,
        "".join(cell(index, entry, position) for position, (index, entry) in enumerate(members)),
    )


def grids_section(databases: list[dict], counts: dict) -> str:
    """A grid per server (in the order servers first appear), under the states' legend."""
    servers: dict[str, list[tuple[int, dict]]] = {}
    for index, entry in enumerate(databases):
        servers.setdefault(str(entry.get("server") or ""), []).append((index, entry))
    return '<section id="servers"><h2>Servers</h2>%s%s</section>' % (
        legend(counts),
        "".join(server_grid(server, members) for server, members in servers.items()),
    )
