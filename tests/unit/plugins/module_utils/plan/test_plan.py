"""The version-check guard: pending, drift, missing, out of order, target, baseline, rollback."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset import discovery
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Changeset
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan import backfill, migrate, rollback
from ansible_collections.pg_migrate.engine.plugins.module_utils.plan.model import (
    MigratePlan,
    RollbackPlan,
    plan_from_dict,
)


def plan_migrate(changeset: dict, history: list[dict], **options: object) -> dict:
    """The migrate plan in its JSON form (the module's result, the reports): what docs/reports.md documents."""
    return migrate.plan_migrate(Changeset.from_dict(changeset), history, **options).to_dict()


def plan_rollback(changeset: dict, history: list[dict], target_version: str | None) -> dict:
    return rollback.plan_rollback(Changeset.from_dict(changeset), history, target_version).to_dict()


def migration(version: str, checksum: str | None = None, revert: bool = True, transactional: bool = True) -> dict:
    slug = f"step_{version}"
    return {
        "version": version,
        "description": slug.replace("_", " "),
        "description_slug": slug,
        "script": f"V{version}__{slug}.sql",
        "checksum": checksum or f"sum{version}",
        "transactional": transactional,
        "revert": {"script": f"U{version}__{slug}.sql", "checksum": f"rev{version}", "transactional": transactional}
        if revert
        else None,
    }


def applied(version: str, checksum: str | None = None, kind: str = "migration", success: bool = True) -> dict:
    return {
        "version": version,
        "script": f"V{version}__step_{version}.sql",
        "checksum": checksum or f"sum{version}",
        "kind": kind,
        "success": success,
    }


CHANGESET = {"migrations": [migration(v) for v in ("001", "002", "003", "004")], "repeatables": []}


def test_empty_database_has_everything_pending():
    result = plan_migrate(CHANGESET, [])
    assert result["pending_versions"] == ["001", "002", "003", "004"]
    assert (result["from_version"], result["to_version"], result["problems"]) == ("000", "004", [])


def test_up_to_date_database_has_nothing_pending():
    result = plan_migrate(CHANGESET, [applied(v) for v in ("001", "002", "003", "004")])
    assert result["pending"] == [] and result["problems"] == []
    assert result["from_version"] == result["to_version"] == "004"


def test_target_version_stops_early():
    result = plan_migrate(CHANGESET, [applied("001")], target_version="3")
    assert result["pending_versions"] == ["002", "003"]
    assert result["to_version"] == "003"


def test_unknown_target_version_is_a_problem():
    result = plan_migrate(CHANGESET, [], target_version="009")
    assert result["problems"] == ["pg_migrate_target_version 009 matches no migration (latest is 004)"]


def test_migrate_target_below_the_current_version_is_refused_and_points_at_rollback():
    result = plan_migrate(CHANGESET, [applied(v) for v in ("001", "002", "003")], target_version="001")
    assert result["problems"] == [
        "pg_migrate_target_version 001 is below the version the database is at (003): migrate only goes forward. "
        "To go back to 001, run a rollback (pg_migrate_action=rollback) with -e pg_migrate_target_version=001 "
        "instead (try it with --check first)."
    ]
    assert result["pending"] == []


@pytest.mark.parametrize("target", ["003", "3", "4", "004"])
def test_migrate_target_at_or_above_the_current_version_is_no_problem(target):
    result = plan_migrate(CHANGESET, [applied(v) for v in ("001", "002", "003")], target_version=target)
    assert result["problems"] == []
    assert result["to_version"] == ("003" if target in ("003", "3") else "004")


def test_drift_names_the_file_and_both_checksums():
    result = plan_migrate(CHANGESET, [applied("001"), applied("002", checksum="old")])
    assert result["drift"] == [
        {"version": "002", "script": "V002__step_002.sql", "recorded_checksum": "old", "file_checksum": "sum002"}
    ]
    assert len(result["problems"]) == 1
    assert "V002__step_002.sql was applied with sha256 old but the file now has sum002" in result["problems"][0]
    assert "pg_migrate_repair=true" in result["problems"][0]


def test_repair_turns_drift_into_a_repair():
    result = plan_migrate(CHANGESET, [applied("001", checksum="old")], repair_checksums=True)
    assert result["problems"] == []
    assert [item["version"] for item in result["repair"]] == ["001"]


def test_missing_file_of_an_applied_version_is_a_problem():
    result = plan_migrate(CHANGESET, [applied("001"), applied("007")])
    assert result["missing"] == [{"version": "007", "script": "V007__step_007.sql"}]
    assert "missing: version 007" in result["problems"][0]


def test_out_of_order_fails_unless_allowed():
    history = [applied("001"), applied("003")]
    result = plan_migrate(CHANGESET, history)
    assert result["out_of_order"] == ["002"]
    assert "out of order: pending version(s) 002 sort below the highest applied version 003" in result["problems"][0]
    allowed = plan_migrate(CHANGESET, history, allow_out_of_order=True)
    assert allowed["problems"] == [] and allowed["pending_versions"] == ["002", "004"]


def test_failed_non_transactional_attempt_is_retried():
    result = plan_migrate(CHANGESET, [applied("001"), applied("002", success=False)])
    assert result["pending_versions"] == ["002", "003", "004"]
    assert result["pending"][0]["retry_of_failed_run"] is True
    assert result["failed_before"] == ["002"]


def test_baseline_adopts_up_to_the_version_on_an_empty_history():
    result = plan_migrate(CHANGESET, [], baseline_version="001")
    assert [m["version"] for m in result["baseline"]] == ["001"]
    assert result["pending_versions"] == ["002", "003", "004"]
    assert result["from_version"] == "001"


def test_baseline_is_ignored_once_there_is_history():
    result = plan_migrate(CHANGESET, [applied("001")], baseline_version="003")
    assert result["baseline"] == [] and result["pending_versions"] == ["002", "003", "004"]


def test_repeatables_run_when_new_or_changed():
    changeset = {
        "migrations": [],
        "repeatables": [
            {"script": "R__a.sql", "description": "a", "checksum": "a2", "transactional": True},
            {"script": "R__b.sql", "description": "b", "checksum": "b1", "transactional": True},
            {"script": "R__c.sql", "description": "c", "checksum": "c1", "transactional": True},
        ],
    }
    history = [
        {"version": None, "script": "R__a.sql", "checksum": "a1", "kind": "repeatable", "success": True},
        {"version": None, "script": "R__b.sql", "checksum": "b1", "kind": "repeatable", "success": True},
    ]
    result = plan_migrate(changeset, history)
    assert [(r["script"], r["reason"]) for r in result["repeatables"]] == [("R__a.sql", "changed"), ("R__c.sql", "new")]


def test_rollback_reverts_newest_first_down_to_the_target():
    history = [applied(v) for v in ("001", "002", "003")]
    result = plan_rollback(CHANGESET, history, "001")
    assert result["revert_versions"] == ["003", "002"]
    assert (result["from_version"], result["to_version"], result["problems"]) == ("003", "001", [])


def test_rollback_refuses_when_a_revert_is_missing():
    changeset = {"migrations": [migration("001"), migration("002", revert=False), migration("003")]}
    result = plan_rollback(changeset, [applied(v) for v in ("001", "002", "003")], "000")
    assert result["problems"] == [
        "no revert script for V002__step_002.sql: add U002__step_002.sql before rolling back past it."
    ]


def test_rollback_will_not_revert_a_baselined_version():
    history = [applied("001", kind="baseline"), applied("002")]
    result = plan_rollback(CHANGESET, history, "000")
    assert result["revert_versions"] == ["002"]
    assert "version 001 was adopted by baseline" in result["problems"][0]


def test_rollback_to_a_version_above_the_current_one_is_refused_and_points_at_migrate():
    result = plan_rollback(CHANGESET, [applied(v) for v in ("001", "002")], "004")
    assert result["problems"] == [
        "pg_migrate_target_version 004 is above the version the database is at (002): a rollback only goes back. "
        "To go forward to 004, run a migrate (pg_migrate_action=migrate) with -e pg_migrate_target_version=004 "
        "instead."
    ]
    assert result["revert"] == [] and result["to_version"] == "002"


def test_rollback_of_an_empty_database_to_a_migration_is_above_it():
    result = plan_rollback(CHANGESET, [], "001")
    assert "pg_migrate_target_version 001 is above the version the database is at (000)" in result["problems"][0]


@pytest.mark.parametrize("target", ["009", "2.5"])
def test_rollback_to_a_version_that_matches_no_migration_is_refused(target):
    result = plan_rollback(CHANGESET, [applied(v) for v in ("001", "002", "003")], target)
    assert result["problems"] == [
        f"pg_migrate_target_version {target} matches no migration of the change set (versions 001 to 004): a "
        "rollback goes back to a version that exists. Choose one of them, or 000 to revert everything; "
        "a status (pg_migrate_action=status) lists the applied ones."
    ]


@pytest.mark.parametrize(
    ("history", "target"),
    [(("001", "002", "003"), "003"), (("001", "002", "003"), "3"), ((), "000"), (("001",), "000")],
)
def test_rollback_to_the_current_version_or_to_000_is_no_problem(history, target):
    result = plan_rollback(CHANGESET, [applied(v) for v in history], target)
    assert result["problems"] == []
    assert result["revert_versions"] == (list(reversed(history)) if target == "000" else [])


BOM = b"\xef\xbb\xbf"
SCRIPT_LF = b"CREATE TABLE t (id int);\nSELECT 1;\n"
SCRIPT_FORMS = {
    "lf": SCRIPT_LF,
    "crlf": SCRIPT_LF.replace(b"\n", b"\r\n"),
    "bom+lf": BOM + SCRIPT_LF,
    "bom+crlf": BOM + SCRIPT_LF.replace(b"\n", b"\r\n"),
}


def discovered(tmp_path: Path, data: bytes) -> dict:
    """The change set the controller builds from one migration (with its revert) and one seed holding DATA, in its
    JSON form."""
    files = {"V001__x.sql": data, "U001__x.sql": b"DROP TABLE t;\n"}
    directory = tmp_path / "m"
    directory.mkdir(parents=True)
    for name, content in {**files, "R__seed.sql": data}.items():
        (directory / name).write_bytes(content)
    found, problems, _ = discovery.build_changeset(str(directory))
    assert problems == []
    return found.to_dict()


def scheme_1(data: bytes) -> str:
    """What versions before checksum scheme 2 recorded: the SHA-256 of the raw bytes."""
    return hashlib.sha256(data).hexdigest()


def recorded_history(checksum: str) -> list[dict]:
    """The history of a database where V001__x.sql and R__seed.sql were applied with CHECKSUM."""
    return [
        {"version": "001", "script": "V001__x.sql", "checksum": checksum, "kind": "migration", "success": True},
        {"version": None, "script": "R__seed.sql", "checksum": checksum, "kind": "repeatable", "success": True},
    ]


@pytest.mark.parametrize("now", sorted(SCRIPT_FORMS))
@pytest.mark.parametrize("then", sorted(SCRIPT_FORMS))
def test_line_endings_and_bom_are_not_drift_in_either_scheme(tmp_path: Path, then: str, now: str):
    changeset = discovered(tmp_path, SCRIPT_FORMS[now])
    for recorded in (scheme_1(SCRIPT_FORMS[then]), changeset["migrations"][0]["checksum"]):
        history = recorded_history(recorded)
        result = plan_migrate(changeset, history)
        assert (result["drift"], result["repeatables"], result["problems"]) == ([], [], [])
        rollback = plan_rollback(changeset, history, "000")
        assert (rollback["revert_versions"], rollback["problems"]) == (["001"], [])


def test_a_real_edit_is_still_drift_with_the_scheme_2_checksum_to_repair(tmp_path: Path):
    recorded = scheme_1(SCRIPT_FORMS["bom+crlf"])
    changeset = discovered(tmp_path, SCRIPT_FORMS["bom+crlf"].replace(b"SELECT 1", b"SELECT 2"))
    file_checksum = changeset["migrations"][0]["checksum"]
    assert file_checksum == scheme_1(SCRIPT_LF.replace(b"SELECT 1", b"SELECT 2"))
    history = recorded_history(recorded)
    result = plan_migrate(changeset, history)
    assert result["drift"] == [
        {"version": "001", "script": "V001__x.sql", "recorded_checksum": recorded, "file_checksum": file_checksum}
    ]
    assert result["problems"][0].startswith(
        "checksum drift: V001__x.sql was applied with sha256 %s but the file now has %s. An applied migration"
        % (recorded, file_checksum)
    )
    assert [(r["script"], r["reason"]) for r in result["repeatables"]] == [("R__seed.sql", "changed")]
    assert plan_rollback(changeset, history, "000")["problems"][0].startswith("checksum drift: V001__x.sql")
    assert plan_migrate(changeset, history, repair_checksums=True)["repair"][0]["file_checksum"] == file_checksum


def test_the_backfill_loop_is_a_forward_pass_then_one_sweep_bounded_by_the_high_water_mark():
    step = backfill.next_backfill_step
    assert step("forward", 0, 0, None, None) == ("forward", 0, True)  # nothing to do at all
    assert step("forward", 0, 100, 100, 300) == ("forward", 100, False)  # walk the cursor up
    assert step("forward", 200, 0, None, 300) == ("sweep", 0, False)  # the pass ran dry: sweep once
    assert step("forward", 200, 100, 300, 300) == ("sweep", 0, False)  # past the mark: sweep once
    assert step("sweep", 0, 3, 17, 300) == ("sweep", 17, False)  # rows skipped while locked
    assert step("sweep", 17, 0, None, 300) == ("sweep", 17, True)
    # Claims that arrive meanwhile (award ids beyond the mark) do not keep the sweep going.
    assert step("sweep", 250, 100, 350, 300) == ("sweep", 250, True)
    assert step("forward", 0, 100, 100, None) == ("forward", 100, False)  # no mark: as before


def test_a_plan_reads_back_from_its_json_form_unchanged():
    history = [applied("001"), applied("002", checksum="old"), applied("003", success=False)]
    changeset = dict(CHANGESET, repeatables=[{"script": "R__a.sql", "description": "a", "checksum": "a1"}])
    for options in ({}, {"repair_checksums": True}, {"baseline_version": "001"}, {"target_version": "009"}):
        found = plan_migrate(changeset, history, **options)
        assert isinstance(plan_from_dict(found), MigratePlan) and plan_from_dict(found).to_dict() == found
    for target in ("001", "000", "x", None):
        found = plan_rollback(CHANGESET, [applied(v) for v in ("001", "002")], target)
        assert isinstance(plan_from_dict(found), RollbackPlan) and plan_from_dict(found).to_dict() == found
    assert plan_from_dict({}) is None


def test_the_json_form_has_exactly_the_documented_fields():
    found = plan_migrate(CHANGESET, [], baseline_version="001")
    assert sorted(found) == sorted(
        [
            "from_version",
            "to_version",
            "applied",
            "pending",
            "pending_versions",
            "baseline",
            "drift",
            "repair",
            "missing",
            "out_of_order",
            "failed_before",
            "repeatables",
            "problems",
        ]
    )
    assert sorted(found["pending"][0]) == sorted(
        ["version", "description", "script", "checksum", "transactional", "retry_of_failed_run"]
    )
    assert sorted(found["baseline"][0]) == sorted(["version", "description", "script", "checksum", "transactional"])
    assert sorted(plan_rollback(CHANGESET, [applied("001")], "000")) == sorted(
        ["revert", "problems", "from_version", "to_version", "revert_versions"]
    )
    assert "revert_versions" not in plan_rollback(CHANGESET, [], None)


def test_a_changeset_reads_back_from_its_json_form_unchanged(tmp_path: Path):
    found = discovered(tmp_path, SCRIPT_FORMS["crlf"])
    assert Changeset.from_dict(found).to_dict() == found
