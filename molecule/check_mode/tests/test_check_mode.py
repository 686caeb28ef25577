"""check_mode: the dry run names the pending versions and squawk's findings, and changes nothing."""

from pgcheck import applied_versions, reports, snapshot


def test_the_dry_run_changed_nothing(host):
    assert snapshot(host, "after_check") == snapshot(host, "prepared")
    assert applied_versions(host) == ["001"]


def test_the_report_names_every_pending_version():
    (report,) = reports("migrate")
    assert report["check_mode"] is True and report["error"] is None
    assert report["plan"]["from_version"] == "001" and report["plan"]["to_version"] == "006"
    assert report["plan"]["pending_versions"] == ["002", "003", "004", "005", "006"]
    assert report["applied"] == []


def test_the_report_carries_squawk_findings_for_the_pending_files():
    (report,) = reports("migrate")
    findings = {(f["file"], f["rule"]) for f in report["squawk"]["findings"]}
    assert ("V006__reason_index.sql", "require-concurrent-index-creation") in findings
    assert not any(f["file"].startswith("V00") and f["file"] < "V002" for f in report["squawk"]["findings"])
    assert report["squawk"]["problems"] == []
