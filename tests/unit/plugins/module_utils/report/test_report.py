"""What the operator and CI read: the summary lines, the state after a dead job, the JUnit files."""

from __future__ import annotations

import json

from ansible_collections.pg_migrate.engine.plugins.module_utils.report import junit, report_files, summary_lines


def test_check_mode_summary_names_versions_drift_and_findings():
    result = {
        "action": "migrate",
        "database": "xp",
        "plan": {
            "from_version": "001",
            "to_version": "005",
            "applied": ["001"],
            "pending": [{"version": v} for v in ("002", "003", "004", "005")],
            "drift": [{"script": "V001__x.sql", "recorded_checksum": "a" * 64, "file_checksum": "b" * 64}],
            "problems": ["checksum drift: ..."],
        },
    }
    stdout = json.dumps([{"file": "V002__a.sql", "line": 0, "rule_name": "r", "message": "m"}])
    lines = summary_lines.summary(result, "db1", True, [{"rc": 1, "stdout": stdout}])
    assert lines[0] == "db1 xp: 001 -> 005 (check mode: would apply 4)"
    assert "  pending: 002 003 004 005" in lines
    assert "  drift: V001__x.sql (applied sha256 aaaaaaaaaaaa, file bbbbbbbbbbbb)" in lines
    assert "  problem: checksum drift: ..." in lines
    assert "  squawk: 1 finding(s)" in lines and "    V002__a.sql:1 r: m" in lines


def test_summary_of_an_apply_lists_durations_and_retries():
    result = {
        "action": "migrate",
        "database": "xp",
        "plan": {"from_version": "000", "to_version": "002", "applied": [], "pending": []},
        "applied": [
            {"version": "001", "script": "V001__a.sql", "duration_ms": 12.4, "attempts": 1},
            {"version": "002", "script": "V002__b.sql", "duration_ms": 3.0, "attempts": 3},
        ],
    }
    lines = summary_lines.summary(result, "db1")
    assert "  applied V001__a.sql in 12 ms" in lines
    assert "  applied V002__b.sql in 3 ms after 3 attempts" in lines
    waited = summary_lines.summary(dict(result, standby_lag={"standbys": [], "waited_s": 12.4}), "db1")
    assert "  waited 12 s for the server's standbys to replay" in waited
    assert not any("standbys" in line for line in lines)


def test_summary_of_a_run_with_nothing_to_do_says_so():
    result = {
        "action": "migrate",
        "database": "xp",
        "plan": {"from_version": "005", "to_version": "005", "applied": ["005"], "pending": []},
    }
    assert summary_lines.summary(result, "db1") == ["db1 xp: 005 -> 005", "  nothing pending: already at 005"]


def test_a_plan_that_does_not_say_its_versions_reads_as_question_marks_not_none():
    # A result from before the typed plan, or one a test or a tool wrote by hand, may leave the versions out.
    result = {"action": "migrate", "database": "xp", "plan": {"applied": [], "pending": []}}
    assert summary_lines.summary(result, "db1") == ["db1 xp: ? -> ?", "  nothing pending: already at ?"]
    assert summary_lines.summary({"action": "migrate", "database": "xp"}, "db1")[0] == "db1 xp: ? -> ?"


def test_summary_of_a_seed_names_what_it_applied_or_says_nothing_was_new():
    plan = {"from_version": "005", "to_version": "005", "applied": ["005"], "pending": []}
    seeded = {
        "action": "seed",
        "database": "xp",
        "plan": dict(plan, repeatables=[{"script": "R__default_policy.sql", "reason": "new"}]),
        "repeatables_applied": [{"script": "R__default_policy.sql", "checksum": "ab", "duration_ms": 7.2}],
    }
    assert summary_lines.summary(seeded, "db1") == [
        "db1 xp: 005 -> 005",
        "  repeatable new: R__default_policy.sql",
        "  seeded R__default_policy.sql in 7 ms",
    ]
    unchanged = {"action": "seed", "database": "xp", "plan": dict(plan, repeatables=[])}
    assert summary_lines.summary(unchanged, "db1")[1].startswith("  seed: nothing new (unchanged since it was applied")


def test_summary_of_a_migrate_lists_the_seed_it_applied():
    result = {
        "action": "migrate",
        "database": "xp",
        "plan": {
            "from_version": "005",
            "to_version": "005",
            "applied": ["005"],
            "pending": [],
            "repeatables": [{"script": "R__default_policy.sql", "reason": "changed"}],
        },
        "repeatables_applied": [{"script": "R__default_policy.sql", "checksum": "ab", "duration_ms": 3}],
    }
    assert "  applied R__default_policy.sql in 3 ms" in summary_lines.summary(result, "db1")


def test_summary_of_a_failed_run_names_what_was_not_applied():
    result = {
        "action": "migrate",
        "database": "xp",
        "msg": "V003 failed",
        "plan": {
            "from_version": "001",
            "to_version": "004",
            "applied": ["001"],
            "pending": [{"version": v} for v in ("002", "003", "004")],
        },
        "applied": [{"version": "002", "script": "V002__b.sql", "duration_ms": 5, "attempts": 1}],
    }
    lines = summary_lines.summary(result, "db1")
    assert "  not applied: 003 004" in lines and lines[-1] == "  FAILED (details below)"


def test_summary_of_a_rollback_lists_its_rehearsal():
    result = {
        "action": "rollback",
        "database": "xp",
        "plan": {"from_version": "005", "to_version": "003", "revert_versions": ["005", "004"]},
        "rehearsal": {
            "rehearsed": [{"script": "U004__d.sql", "duration_ms": 7.2}],
            "not_rehearsed": [{"script": "U005__e.sql", "reason": "runs outside a transaction"}],
            "rolled_back": True,
        },
    }
    lines = summary_lines.summary(result, "db1", check_mode=True)
    assert lines == [
        "db1 xp: rollback 005 -> 003 (check mode: would revert 005 004)",
        "  rehearsed U004__d.sql in 7 ms (rolled back)",
        "  not rehearsed U005__e.sql: runs outside a transaction",
    ]


def test_junit_has_one_case_per_check_and_failures_carry_the_message():
    from xml.etree import ElementTree as ET

    checks = [
        {"id": "a", "kind": "index", "status": "pass", "message": "ok: a"},
        {
            "id": "b",
            "kind": "probe",
            "status": "fail",
            "message": "probe failed: b",
            "expected": "23P01",
            "found": "success",
        },
        {"id": "c", "kind": "table", "status": "warn", "message": "extra: table c"},
    ]
    suite = ET.fromstring(junit.junit_xml(checks, "db1", "xp", "005"))
    assert suite.get("tests") == "3" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["a", "b", "c"]
    assert cases[1].find("failure").get("message") == "probe failed: b"
    assert cases[2].find("system-out").text == "warning: extra: table c"


CHECKSUM = "a" * 64


def _pending(*scripts: str) -> list[dict]:
    return [
        {"version": s[1:4], "description": "d", "script": s, "checksum": CHECKSUM, "transactional": True}
        for s in scripts
    ]


def _report(kind: str = "migrate", **fields) -> dict:
    """A run report as report.yml assembles it (docs/reports.md)."""
    report = {
        "schema_version": 1,
        "kind": kind,
        "host": "db1",
        "database": "xp",
        "check_mode": False,
        "generated_at": "2026-01-02T03:04:05Z",
        "plan": {"from_version": "000", "to_version": "002", "pending": [], "repeatables": [], "problems": []},
        "applied": [],
        "reverted": [],
        "repeatables_applied": [],
        "rehearsal": None,
        "squawk": {"findings": [], "problems": []},
        "error": None,
    }
    report.update(fields)
    return report


def _suite(report: dict):
    from xml.etree import ElementTree as ET

    suite = ET.fromstring(junit.run_junit(report))
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    return suite, cases


def _outcome(case) -> str:
    return "fail" if case.find("failure") is not None else "skip" if case.find("skipped") is not None else "pass"


def test_run_junit_has_one_passed_case_per_applied_migration_with_its_duration():
    plan = {"from_version": "000", "to_version": "002", "pending": _pending("V001__a.sql", "V002__b.sql")}
    plan["repeatables"] = [{"script": "R__seed.sql", "checksum": CHECKSUM, "reason": "new"}]
    applied = [
        {"version": "001", "script": "V001__a.sql", "duration_ms": 12.4},
        {"version": "002", "script": "V002__b.sql", "duration_ms": 3000.0},
    ]
    seeds = [{"script": "R__seed.sql", "checksum": CHECKSUM, "duration_ms": 1.0}]
    suite, cases = _suite(_report(plan=plan, applied=applied, repeatables_applied=seeds))
    assert list(cases) == ["V001__a.sql", "V002__b.sql", "R__seed.sql"]
    assert [c.get("time") for c in cases.values()] == ["0.012", "3.000", "0.001"]
    assert {_outcome(c) for c in cases.values()} == {"pass"}
    assert cases["R__seed.sql"].get("classname") == "db1.repeatable"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("time")) == (
        "3",
        "0",
        "0",
        "3.013",
    )
    assert suite.get("timestamp") == "2026-01-02T03:04:05" and suite.get("hostname") == "db1"


def test_run_junit_fails_the_migration_the_error_names_and_skips_the_rest():
    error = "V002__b.sql failed at statement 2 (line 3) [SQLSTATE 22012]: division by zero. Statement: SELECT 1/0."
    plan = {
        "from_version": "000",
        "to_version": "003",
        "pending": _pending("V001__a.sql", "V002__b.sql", "V003__c.sql"),
    }
    applied = [{"version": "001", "script": "V001__a.sql", "duration_ms": 1.0}]
    suite, cases = _suite(_report(plan=plan, applied=applied, error=error))
    assert [_outcome(c) for c in cases.values()] == ["pass", "fail", "skip"]
    failure = cases["V002__b.sql"].find("failure")
    assert failure.get("message") == error and failure.text == error and failure.get("type") == "migration"
    assert cases["V003__c.sql"].find("skipped").get("message") == "not run: the run stopped at V002__b.sql"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")


def test_run_junit_takes_the_failed_script_from_the_failure_fields_when_the_report_has_them():
    plan = {"from_version": "000", "to_version": "002", "pending": _pending("V001__a.sql", "V002__b.sql")}
    failure = {"script": "V002__b.sql", "statement": 1, "line": 1, "sqlstate": "57P01", "error": "terminated"}
    error = "the connection broke off at the second migration"  # names no script
    _, cases = _suite(_report(plan=plan, error=error, failure=failure))
    assert {name: _outcome(case) for name, case in cases.items()} == {"V001__a.sql": "skip", "V002__b.sql": "fail"}
    assert "run" not in cases  # the error is carried by the migration that failed, not a case of its own


def test_run_junit_of_a_rollback_lists_the_reverts():
    plan = {
        "from_version": "003",
        "to_version": "001",
        "revert": [{"version": "003", "script": "U003__c.sql"}, {"version": "002", "script": "U002__b.sql"}],
        "problems": [],
    }
    reverted = [{"version": "003", "script": "U003__c.sql", "duration_ms": 5.0, "attempts": 1}]
    error = "U002__b.sql failed at statement 1 (line 1) [SQLSTATE 55000]: refused. The revert was rolled back"
    _, cases = _suite(_report("rollback", plan=plan, reverted=reverted, error=error))
    assert [(name, _outcome(c)) for name, c in cases.items()] == [("U003__c.sql", "pass"), ("U002__b.sql", "fail")]
    assert cases["U003__c.sql"].get("classname") == "db1.revert"


def test_run_junit_in_check_mode_and_status_skips_what_would_run_and_fails_each_problem():
    plan = {"from_version": "001", "to_version": "002", "pending": _pending("V002__b.sql"), "problems": ["drift: x"]}
    for kind, message in (("migrate", "check mode: would run"), ("status", "pending: the next migrate applies it")):
        suite, cases = _suite(_report(kind, plan=plan, check_mode=kind == "migrate", error=None))
        assert cases["V002__b.sql"].find("skipped").get("message") == message
        assert cases["problem 1"].find("failure").get("message") == "drift: x"
        assert cases["problem 1"].get("classname") == "db1.version check"
        assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "1", "1")


def test_run_junit_problems_that_stopped_the_run_are_not_reported_twice():
    plan = {"from_version": "001", "to_version": "002", "pending": _pending("V002__b.sql"), "problems": ["a", "b"]}
    suite, cases = _suite(_report(plan=plan, error="the version check stopped the run on xp: a, b"))
    assert list(cases) == ["V002__b.sql", "problem 1", "problem 2"]
    assert cases["V002__b.sql"].find("skipped").get("message") == "not run: the run stopped before it"
    assert suite.get("failures") == "2"


def test_run_junit_has_a_run_case_for_an_error_nothing_else_carries_or_when_nothing_was_to_do():
    suite, cases = _suite(_report(plan={}, error="could not connect to server"))
    assert list(cases) == ["run"] and cases["run"].find("failure").get("message") == "could not connect to server"
    suite, cases = _suite(_report(plan={"from_version": "005", "to_version": "005", "pending": [], "problems": []}))
    assert list(cases) == ["run"] and _outcome(cases["run"]) == "pass" and suite.get("failures") == "0"
    assert cases["run"].find("system-out").text == "nothing to do: at version 005"


def test_run_junit_of_a_backfill_is_one_case_with_its_progress():
    progress = {
        "batches": 3,
        "linked": 12000,
        "remaining": 0,
        "done": True,
        "batch_size": 5000,
        "duration_s": 1.5,
        "dry_run": False,
    }
    _, cases = _suite(_report("backfill", backfill=progress))
    assert list(cases) == ["backfill"] and cases["backfill"].get("time") == "1.500"
    assert cases["backfill"].find("system-out").text == "linked 12000 row(s) in 3 batch(es) of 5000; done"
    dry = {**progress, "linked": 0, "remaining": 9000, "linkable": 8500, "done": False, "dry_run": True}
    _, cases = _suite(_report("backfill", check_mode=True, backfill=dry))
    assert (
        cases["backfill"].find("skipped").get("message")
        == "check mode: would link 8500 of 9000 unlinked row(s), 3 batch(es) of 5000"
    )
    _, cases = _suite(_report("backfill", backfill=progress, error="batch failed [SQLSTATE 55P03]"))
    assert cases["backfill"].find("failure").get("message") == "batch failed [SQLSTATE 55P03]"


def test_run_junit_replaces_characters_xml_cannot_carry():
    _, cases = _suite(_report(plan={}, error="Key (reason)=(a\x01b) already exists"))
    assert cases["run"].find("failure").get("message") == "Key (reason)=(a\ufffdb) already exists"


def test_the_state_after_a_dead_job_comes_from_a_status_read():
    status = {
        "plan": {
            "from_version": "005",
            "pending_versions": ["006"],
            "failed_attempts": [{"version": "006", "script": "V006__idx.sql", "at": "t", "by": "u"}],
            "invalid_indexes": ["xp_awards_reason_idx"],
        }
    }
    text = summary_lines.lost_job_state(status)
    assert text.startswith("The database is now at version 005, with 006 pending. Each migration is one transaction")
    assert "A failed attempt of V006__idx.sql is recorded" in text
    assert "DROP INDEX CONCURRENTLY xp_awards_reason_idx;" in text
    assert "Each revert is one transaction" in summary_lines.lost_job_state(status, "rollback")
    unread = summary_lines.lost_job_state({"msg": "connection refused", "plan": {}})
    assert unread.startswith("Where the database stands could not be read (connection refused)")
    assert summary_lines.lost_job_state({"skipped": True}) == ""


def test_status_shows_failed_attempts_invalid_indexes_and_a_wait():
    result = {
        "action": "plan",
        "database": "xp",
        "lock_waited_s": 7.2,
        "plan": {
            "from_version": "005",
            "to_version": "005",
            "failed_attempts": [{"version": "006", "script": "V006__idx.sql", "at": "2026-01-01", "by": "postgres"}],
            "invalid_indexes": ["xp_awards_reason_idx"],
        },
    }
    lines = summary_lines.summary(result, "db1", True)
    assert "  waited 7 s for the lock of another pg_migrate run" in lines
    assert any(line.startswith("  failed attempt: 006 (V006__idx.sql, at 2026-01-01 by postgres)") for line in lines)
    assert any(line.startswith("  INVALID index: xp_awards_reason_idx") for line in lines)


def test_report_files_are_written_whole_with_their_modes_into_a_created_folder(tmp_path):
    folder = tmp_path / "reports" / "db1"
    paths = report_files.write_report_files(str(folder), "migrate", '{\n    "schema_version": 1\n}\n', "<testsuite/>\n")
    assert paths == [str(folder / "migrate.json"), str(folder / "migrate.junit.xml")]
    assert (folder / "migrate.json").read_text() == '{\n    "schema_version": 1\n}\n'
    assert (folder / "migrate.junit.xml").read_text() == "<testsuite/>\n"
    assert oct(folder.stat().st_mode & 0o777) == "0o755"
    assert {oct(p.stat().st_mode & 0o777) for p in folder.iterdir()} == {"0o644"}
    report_files.write_report_files(str(folder), "migrate", "{}\n", "<testsuite/>\n")  # a second run replaces them
    assert sorted(p.name for p in folder.iterdir()) == ["migrate.json", "migrate.junit.xml"]  # no .partial left
    assert (folder / "migrate.json").read_text() == "{}\n"


def test_summary_of_a_long_history_stays_short_and_sends_to_the_report():
    """170 migrations, 20 of them drifted, 160 applied before one failed: a few lines of each kind and a count;
    the report keeps every one."""
    versions = ["%03d" % n for n in range(1, 171)]
    result = {
        "action": "migrate",
        "database": "xp",
        "msg": "V170 failed",
        "plan": {
            "from_version": "000",
            "to_version": "170",
            "applied": [],
            "pending": [{"version": v} for v in versions],
            "drift": [
                {"version": v, "script": "V%s__x.sql" % v, "recorded_checksum": "a" * 64, "file_checksum": "b" * 64}
                for v in versions[:20]
            ],
            "problems": ["checksum drift: V%s__x.sql" % v for v in versions[:20]],
        },
        "applied": [
            {"version": v, "script": "V%s__x.sql" % v, "duration_ms": 2, "attempts": 1} for v in versions[:160]
        ],
    }
    lines = summary_lines.summary(result, "db1")
    assert len(lines) < 30
    assert "  not applied: 161 162 163 164 165 166 167 168 169 170" in lines
    applied = [line for line in lines if line.startswith("  applied V")]
    assert applied[:3] == ["  applied V%s__x.sql in 2 ms" % v for v in ("001", "002", "003")]
    assert applied[-1] == "  applied V160__x.sql in 2 ms"
    assert "  ... 154 more (the report lists every one: applied)" in lines
    assert "  ... 15 more (the report lists every one: plan.drift)" in lines
    assert "  ... 15 more (the report lists every one: plan.problems)" in lines


def test_summary_of_a_rollback_says_an_empty_revert_has_nothing_to_undo():
    plan = {
        "from_version": "002",
        "to_version": "000",
        "revert_versions": ["002", "001"],
        "revert": [
            {"version": "002", "script": "U002__b.sql", "checksum": "c", "transactional": True},
            {
                "version": "001",
                "script": "U001__a.sql",
                "checksum": "c",
                "transactional": True,
                "nothing_to_undo": True,
            },
        ],
    }
    checked = summary_lines.summary({"action": "rollback", "database": "xp", "plan": plan}, "db1", check_mode=True)
    assert "  nothing to undo: U001__a.sql is empty or comments only; reverting 001 removes its history row only" in (
        checked
    )
    reverted = [
        {"version": "002", "script": "U002__b.sql", "duration_ms": 3, "attempts": 1},
        {"version": "001", "script": "U001__a.sql", "duration_ms": 1, "attempts": 1, "nothing_to_undo": True},
    ]
    done = summary_lines.summary({"action": "rollback", "database": "xp", "plan": plan, "reverted": reverted}, "db1")
    assert done[1:] == [
        "  reverted U002__b.sql in 3 ms",
        "  reverted U001__a.sql in 1 ms (nothing to undo: an empty revert)",
    ]
