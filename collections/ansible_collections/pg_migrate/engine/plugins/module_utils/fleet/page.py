# pg_migrate: fleet.html - the fleet report as a self-contained page (inline CSS and SVG; no scripts, fonts or
# network resources: it is opened from CI artifacts and mail). Top to bottom: the verdict, the failures, a grid
# per server, the timeline of the waves, the waves table and a row per database. Measured at 1,000 databases
# (tests/unit/plugins/module_utils/fleet/test_page_browser.py) it stays well under a megabyte.

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.overview import (
    failures_section,
    grids_section,
    state_css,
    text,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.report import IN_PROGRESS
from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.timeline import controller_css, timeline_section

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em} table{border-collapse:collapse;margin:1em 0} td,th{border:1px solid #ccc;padding:.3em .6em}
th{background:#f3f3f3;text-align:left} .applied{background:#e6f4ea} .already-current{background:#eef3fb}
.failed{background:#fce8e6} .skipped{background:#fef7e0} .halted-not-attempted{background:#eee;color:#666}
.would-apply{background:#eef3fb} .pending{background:#eee}
.verdict{font-weight:bold}
.halt{font-weight:bold;color:#a50e0e;background:#fce8e6;padding:.5em;border-left:6px solid #d93025}
.failures td{vertical-align:top}
.failures .msg{white-space:pre-wrap;font-family:monospace;font-size:.9em;max-width:60em}
.grid rect{width:12px;height:12px} h3{margin:.8em 0 .2em;font-size:1em} h3 small{font-weight:normal;color:#555}
.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;border:1px solid #999}
.legend{margin:.3em 0} .legend .sw{margin-left:.8em}
.tk{stroke:#ddd} .tl{font-size:11px;fill:#555} .bf{stroke:#d93025;stroke-width:2} .fo{border:2px solid #d93025}
:target{outline:3px solid #1a73e8}
"""


def html_detail(entry: dict) -> str:
    """The detail cell of a database: what failed, its health gate's message, why it was skipped."""
    failure = entry["failure"] or {}
    parts = (
        failure.get("script") or "",
        "SQLSTATE %s" % failure["sqlstate"] if failure.get("sqlstate") else "",
        failure.get("message", "") if not failure.get("script") else "",
        (entry["health"] or {}).get("message", ""),
        entry["skip_reason"] or "",
    )
    return " ".join(part for part in parts if part)


def html_row(index: int, entry: dict) -> str:
    """A database's row of the page's table (id d<INDEX>: where its grid cell and its bar link to)."""
    return (
        '<tr id="d%d" class="%s" data-host="%s" data-state="%s"><td>%s</td><td>%s</td><td>%s</td><td>%s</td>'
        "<td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>"
        % (
            index,
            entry["state"].replace(" ", "-"),
            text(entry["host"]),
            text(entry["state"]),
            text(entry["host"]),
            text(entry["server"]),
            entry["wave"],
            text(entry["state"]),
            text(entry["version_before"] or ""),
            text(entry["version_after"] or ""),
            "" if entry["duration_ms"] is None else "%.0f ms" % entry["duration_ms"],
            text(html_detail(entry)),
        )
    )


def html_wave_row(wave: dict) -> str:
    return (
        "<tr><td>%(wave)d%(canary)s</td><td>%(databases)d</td><td>%(done)d</td><td>%(failed)d</td>"
        "<td>%(status)s</td></tr>" % dict(wave, canary=" (canary)" if wave["canary"] else "")
    )


def html_verdict(report: dict) -> str:
    """The verdict as the page says it: in check mode, or of a rollout that has not finished."""
    return (
        text(report["verdict"])
        + (" (check mode: nothing was changed)" if report["check_mode"] else "")
        + (" - the rollout has not finished (or was interrupted)" if report["verdict"] == IN_PROGRESS else "")
    )


PAGE = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>pg_migrate fleet: %s</title>'
    "<style>%s</style></head><body>\n<h1>pg_migrate fleet rollout</h1>\n"
    '<p class="verdict" id="verdict">Verdict: %s</p>\n'
    "<p>%d databases. Failure budget: %d failed of %d allowed. Generated %s.</p>\n%s\n%s\n%s\n%s"
    "<h2>Waves</h2><table><tr><th>wave</th><th>databases</th><th>done</th><th>failed</th><th>status</th></tr>"
    "%s</table>\n<h2>Databases</h2><table><tr><th>database</th><th>server</th><th>wave</th><th>state</th>"
    "<th>before</th><th>after</th><th>duration</th><th>detail</th></tr>\n%s\n</table></body></html>\n"
)


def html_page(report: dict) -> str:
    """The page of REPORT (fleet.json's content)."""
    databases = report["databases"]
    problems = "".join("<li>%s</li>" % text(problem) for problem in report["preflight_problems"])
    return PAGE % (
        text(report["verdict"]),
        STYLE + state_css() + controller_css(),
        html_verdict(report),
        len(databases),
        report["budget"]["failed"],
        report["budget"]["allowed"],
        text(report["generated_at"]),
        "<h2>Preflight problems</h2><ul>%s</ul>" % problems if problems else "",
        failures_section(databases, report["halt_reason"]),
        grids_section(databases, report["counts"]),
        timeline_section(databases),
        "".join(html_wave_row(wave) for wave in report["waves"]),
        "\n".join(html_row(index, entry) for index, entry in enumerate(databases)),
    )
