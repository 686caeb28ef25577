"""failure: a broken migration fails by name and SQLSTATE, changes nothing, and the fix completes."""

from pgcheck import applied_versions, claims_digest, digest_in_snapshot, psql, snapshot


def test_the_failure_names_the_file_the_statement_and_the_sqlstate(host):
    message = host.file("/var/lib/pg_migrate/snapshots/failure.txt").content_string
    assert "V006__award_source.sql failed at statement 3 (line 3) [SQLSTATE 23514]" in message
    assert "xp_awards_source_known" in message
    assert "the database is at version 005" in message


def test_the_failed_run_left_the_database_exactly_as_it_was(host):
    assert snapshot(host, "after_failure") == snapshot(host, "prepared")


def test_after_the_fix_the_rerun_applied_the_rest(host):
    assert applied_versions(host) == ["001", "002", "003", "004", "005", "006", "007"]
    assert psql(host, "SELECT count(DISTINCT source) FROM xp_awards") == "1"


def test_every_claim_survived(host):
    assert claims_digest(host) == digest_in_snapshot(host, "prepared")
