"""playbooks/seed.yml and playbooks/backfill.yml as an operator runs them, against real PostgreSQL."""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from pathlib import Path

from tests.ansible_run import start_playbook
from tests.background import repeating
from tests.pgdb import Database
from tests.role.test_reports import read_reports

SEEDS_ON = ("-e", "pg_migrate_seeds_enabled=true")
UNLINKED = "SELECT count(*) FROM xp_awards WHERE policy_version_id IS NULL"
POLICIES = "SELECT count(*) FROM xp_policy_versions"
REPEATABLES = "SELECT script, kind, success FROM pg_migrate_history WHERE kind = 'repeatable'"

# Records every change of an award's policy link, so a test can prove each award was linked exactly once.
AUDIT_LINKS = """
CREATE TABLE backfill_audit (award_id bigint NOT NULL, old_version bigint, new_version bigint);
CREATE FUNCTION backfill_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO backfill_audit VALUES (OLD.award_id, OLD.policy_version_id, NEW.policy_version_id);
    RETURN NEW;
END $$;
CREATE TRIGGER backfill_audit AFTER UPDATE OF policy_version_id ON xp_awards
    FOR EACH ROW EXECUTE FUNCTION backfill_audit();
"""


def test_seed_applies_the_default_policy_where_the_environment_enables_it(db: Database, migrated, play, tmp_path: Path):
    migrated("005")
    assert db.scalar(POLICIES) == 0

    disabled = play("seed.yml").assert_ok()
    assert "seeds are not enabled in this environment" in disabled.output
    assert db.scalar(POLICIES) == 0

    dry = play("seed.yml", *SEEDS_ON, "--check", "--diff").assert_ok()
    assert "repeatable new: R__default_policy.sql" in dry.output
    assert "INSERT INTO xp_policies" in dry.raw  # --diff shows the SQL that would run
    assert db.scalar(POLICIES) == 0

    seeded = play("seed.yml", *SEEDS_ON).assert_ok()
    assert seeded.changed >= 1
    assert "seeded R__default_policy.sql in" in seeded.output
    assert db.query("SELECT status FROM xp_policy_versions") == [("published",)]
    report, junit = read_reports(tmp_path / "reports", db.server.password)["seed"]  # schema, JUnit, no password
    assert [item["script"] for item in report["repeatables_applied"]] == ["R__default_policy.sql"]
    assert report["error"] is None and int(junit.get("failures")) == 0

    again = play("seed.yml", *SEEDS_ON).assert_ok()
    assert again.changed == 0, again.output
    assert "seed: nothing new" in again.output
    report = json.loads((tmp_path / "reports" / "localhost" / "seed.json").read_text())
    assert report["repeatables_applied"] == [] and report["error"] is None
    assert db.query(REPEATABLES) == [("R__default_policy.sql", "repeatable", True)]  # recorded once

    forced = play("seed.yml", *SEEDS_ON, "-e", "pg_migrate_seed_force=true").assert_ok()
    assert "seeded R__default_policy.sql in" in forced.output
    assert db.scalar(POLICIES) == 1  # the seed is idempotent: forcing it adds nothing


def test_seed_before_the_migrations_is_refused_with_advice(db: Database, play):
    run = play("seed.yml", *SEEDS_ON).assert_failed()
    assert "run a migrate (pg_migrate_action=migrate) first" in run.output
    assert "000" in run.output
    assert db.scalar("SELECT to_regclass('xp_policies') IS NULL")


def migrated_with_claims(migrated, claims: int) -> Database:
    db = migrated("005", seeds=True)  # the seed came with the migration here
    db.load_claims(claims)
    return db


def test_backfill_check_mode_counts_and_changes_nothing(db: Database, migrated, play, tmp_path: Path):
    migrated_with_claims(migrated, 3000)
    run = play("backfill.yml", "--check", "-e", "pg_migrate_backfill_batch_size=1000").assert_ok()
    assert "would link 3,000 of 3,000 unlinked awards in about 3 batch(es) of 1,000" in run.output
    assert run.changed == 1
    assert db.scalar(UNLINKED) == 3000
    report, _ = read_reports(tmp_path / "reports", db.server.password)["backfill"]
    assert report["backfill"]["dry_run"] is True and report["backfill"]["linkable"] == 3000


def test_backfill_without_the_seed_fails_with_advice_and_links_nothing(db: Database, migrated, play):
    migrated("005")
    db.load_claims(100)
    run = play("backfill.yml").assert_failed()
    assert "apply the seed first" in run.output
    assert "playbooks/seed.yml" in run.output
    assert db.scalar(UNLINKED) == 100


def test_backfill_before_the_migrations_is_refused(db: Database, migrated, play, tmp_path: Path):
    migrated("002")
    run = play("backfill.yml").assert_failed()
    assert "run a migrate (pg_migrate_action=migrate) first" in run.output
    assert "003 004 005" in run.output
    report, junit = read_reports(tmp_path / "reports", db.server.password)["backfill"]  # reported when refused too
    assert report["backfill"] is None and "run a migrate (pg_migrate_action=migrate) first" in report["error"]
    assert int(junit.get("failures")) == 1


def test_backfill_links_everything_with_progress_then_is_a_no_op(db: Database, migrated, play, tmp_path: Path):
    migrated_with_claims(migrated, 3000)
    claims = db.awards_digest()
    run = play(
        "backfill.yml",
        "-e",
        "pg_migrate_backfill_batch_size=100",
        "-e",
        "pg_migrate_backfill_pause=0.02",
        "-e",
        "pg_migrate_backfill_progress_every=0.3",
    ).assert_ok()
    assert db.scalar(UNLINKED) == 0
    assert db.awards_digest() == claims  # linking changes no claim
    progress = [line for line in run.raw.splitlines() if "of 3,000 awards linked" in line]
    assert len(progress) >= 2, run.raw  # the operator sees it move
    # 30 batches of 100 (the 30th reaches the newest award: the forward pass ends), one empty sweep.
    assert "linked 3,000 awards in 31 batch(es) of up to 100" in run.output, run.raw
    assert "done: every award is linked" in run.output
    report, junit = read_reports(tmp_path / "reports", db.server.password)["backfill"]
    assert report["backfill"]["done"] is True and report["backfill"]["linked"] == 3000
    assert report["backfill"]["remaining"] == 0 and int(junit.get("failures")) == 0

    again = play("backfill.yml").assert_ok()
    assert again.changed == 0, again.output
    assert "linked 0 awards" in again.output
    report = json.loads((tmp_path / "reports" / "localhost" / "backfill.json").read_text())
    assert report["backfill"]["done"] is True and report["backfill"]["linked"] == 0 and report["error"] is None


def test_backfill_killed_half_way_resumes_and_links_every_award_once(db: Database, migrated, play, tmp_path: Path):
    total = 20000
    migrated_with_claims(migrated, total)
    db.query(AUDIT_LINKS)
    slow = (
        "-e",
        "pg_migrate_backfill_batch_size=200",
        "-e",
        "pg_migrate_backfill_pause=0.05",
        "-e",
        "pg_migrate_backfill_progress_every=1",
        "-e",
        f"pg_migrate_remote_dir={tmp_path / 'remote'}",
    )
    run = start_playbook(db, "backfill.yml", *slow)
    deadline = time.monotonic() + 120
    while db.scalar("SELECT count(*) FROM backfill_audit") < total // 4:
        assert time.monotonic() < deadline, "the backfill never got going"
        assert run.poll() is None, run.communicate()[0]
        time.sleep(0.1)
    os.killpg(run.pid, signal.SIGKILL)  # the operator's controller dies mid-backfill
    run.wait(timeout=30)
    # Ansible's worker outlives its killed parent; it notices and stops after its time slice (1 s here),
    # so the orphaned backfill ends on its own: wait until nothing has moved for a few slices.
    deadline = time.monotonic() + 60
    stable_since, last = time.monotonic(), None
    while time.monotonic() - stable_since < 4:
        assert time.monotonic() < deadline, "the killed backfill went on"
        now = (
            db.scalar(UNLINKED),
            db.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_migrate'"),
        )
        if now != last or now[1]:
            stable_since, last = time.monotonic(), now
        time.sleep(0.2)

    linked_before = total - db.scalar(UNLINKED)
    assert 0 < linked_before < total, "the kill did not land half-way"
    assert db.scalar("SELECT count(*) FROM backfill_audit") == linked_before  # only committed batches count

    resumed = play("backfill.yml", "-e", "pg_migrate_backfill_batch_size=2000").assert_ok()
    assert db.scalar(UNLINKED) == 0
    assert "linked %s awards" % f"{total - linked_before:,}" in resumed.output
    # Every award was linked exactly once, from NULL, and never re-linked.
    assert db.query(
        "SELECT count(*), count(DISTINCT award_id), count(*) FILTER (WHERE old_version IS NOT NULL) FROM backfill_audit"
    ) == [(total, total, 0)]
    assert db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0


def test_seeds_are_applied_where_enabled_deferred_below_the_latest_version(db: Database, play):
    early = play("migrate.yml", *SEEDS_ON, "-e", "pg_migrate_target_version=001").assert_ok()
    assert "deferred R__default_policy.sql" in early.output
    assert db.scalar("SELECT to_regclass('xp_policies') IS NULL")
    play("migrate.yml", *SEEDS_ON).assert_ok()
    assert db.query("SELECT status FROM xp_policy_versions") == [("published",)]
    assert db.query(REPEATABLES) == [("R__default_policy.sql", "repeatable", True)]
    again = play("migrate.yml", *SEEDS_ON).assert_ok()
    assert again.changed == 0


def test_backfill_finishes_while_claims_keep_arriving(db: Database, migrated, play):
    migrated_with_claims(migrated, 2000)
    newest_at_start = db.scalar("SELECT max(award_id) FROM xp_awards")
    claims = itertools.count(1)

    def claim() -> None:  # the game keeps granting XP, unlinked, while the backfill runs
        db.claim("00000000-0000-0000-0000-00000000c1a1", 5, f"live-{next(claims)}")

    with repeating(claim, 0.005):
        run = play(
            "backfill.yml",
            "-e",
            "pg_migrate_backfill_batch_size=50",
            "-e",
            "pg_migrate_backfill_pause=0.01",
            timeout=240,
        ).assert_ok()
    assert "done:" in run.output
    # Everything that existed at the start is linked; what arrived later is not chased.
    assert db.scalar(UNLINKED + " AND award_id <= %s", (newest_at_start,)) == 0
    assert db.scalar("SELECT count(*) FROM xp_awards WHERE award_id > %s", (newest_at_start,)) > 0
