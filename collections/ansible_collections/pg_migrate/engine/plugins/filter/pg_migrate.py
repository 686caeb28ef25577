"""Filters of the pg_migrate role: turn the module's result into what an operator reads.

The logic is in module_utils (report.py: summaries and JUnit; catalog.py: verification checks; lint.py:
squawk); this plugin gives it the filter names the role uses (pg_migrate.engine.summary, ...).
"""

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.catalog import (
    probe_checks,
    verification_summary,
    verify_catalog,
)
from ansible_collections.pg_migrate.engine.plugins.module_utils.lint import lint_groups, squawk_findings
from ansible_collections.pg_migrate.engine.plugins.module_utils.report import (
    junit_xml,
    lost_job_state,
    run_junit,
    summary,
)


class FilterModule:
    def filters(self):
        return {
            "lint_groups": lint_groups,
            "squawk_findings": squawk_findings,
            "summary": summary,
            "lost_job_state": lost_job_state,
            "verify_catalog": verify_catalog,
            "probe_checks": probe_checks,
            "verification_summary": verification_summary,
            "junit": junit_xml,
            "run_junit": run_junit,
        }
