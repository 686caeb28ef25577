"""plugin_utils/conclusion.py: a run's report as the file holds it."""

from __future__ import annotations

import datetime
import json

from ansible_collections.pg_migrate.engine.plugins.plugin_utils.conclusion import report_text


def test_the_report_file_is_the_report_with_a_line_per_field_and_per_field_of_an_object():
    report = {
        "verification": {"checks": [{"name": "fk", "passed": True}], "passed": True},
        "action": "migrate",
        "applied": [{"version": "002", "duration_ms": 12.5}],
        "empty": {},
        "at": datetime.date(2026, 12, 7),  # what JSON cannot hold is written as its text
    }
    text = report_text(report)
    assert json.loads(text) == dict(report, at="2026-12-07")
    assert text.splitlines() == [
        "{",
        '    "action": "migrate",',
        '    "applied": [{"duration_ms": 12.5, "version": "002"}],',
        '    "at": "2026-12-07",',
        '    "empty": {},',
        '    "verification": {',
        '        "checks": [{"name": "fk", "passed": true}],',
        '        "passed": true',
        "    }",
        "}",
    ]
    assert report_text({}) == "{}\n" and text.endswith("}\n")
