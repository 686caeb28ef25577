"""Fleet rollouts in the field: both execution paths obey the fleet's rules and the report says what
the databases say; waves from host variables, every form of the waves setting, check mode beside a real report,
a preflight that blocks on anything a migrate would refuse (two hosts on one database, a hot standby, a version
the change set does not know), a bounded health gate, an interrupted rollout, and the per-server limit across
two controllers."""

from __future__ import annotations

import json
import re
import shutil
import signal
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

import localpg
from tests.ansible_run import ROOT
from tests.pgdb import Database
from tests.role.fleet_support import (
    BROKEN_FOR_V002,
    ActivitySampler,
    Fleet,
    FleetMaker,
    assert_report_matches_the_databases,
    history_of,
    play_within,
    rollout_order,
    start,
    states,
    tiny_changeset,
    versions,
    wait_for,
)

ALL_AT_ONCE = ("-e", '{"pg_migrate_fleet_waves": ["100%"]}')


def entry_of(report: dict, host: str) -> dict:
    return next(entry for entry in report["databases"] if entry["host"] == host)


def own_slots(fleet_maker: FleetMaker, limit: int) -> dict:
    """The per-server limit, its slots taken in the test's own database: other tests' fleets on the session's
    server (pytest-xdist runs them at the same time) take theirs elsewhere."""
    return {"pg_migrate_fleet_per_server": limit, "pg_migrate_fleet_slot_db": fleet_maker.anchor.name}


# --- both execution paths obey the rules, and the report says what the databases say -----------------------------
@pytest.mark.parametrize("execution", ["host", "controller"])
def test_a_broken_canary_halts_the_rollout_on_either_execution_path(fleet_maker, execution: str):
    fleet = fleet_maker({"eu": 2, "us": 2}, execution=execution)
    order = rollout_order(fleet)
    fleet.query(order[0], BROKEN_FOR_V002)
    before = versions(fleet)
    # A budget that tolerates every failure: the canary alone must stop the rollout.
    waves = '{"pg_migrate_fleet_waves": [1, "100%"], "pg_migrate_fleet_max_failures": "100%"}'
    run = fleet.play("fleet.yml", "-e", waves).assert_failed()
    report = fleet.report()
    found = states(report)
    assert report["verdict"] == "halted" and "canary" in report["halt_reason"], (report["verdict"], run.output[-3000:])
    assert found[order[0]] == "failed"
    failure = entry_of(report, order[0])["failure"]
    assert failure["script"] == "V002__policy_as_data.sql" and failure["sqlstate"], failure
    assert {found[host] for host in order[1:]} == {"halted-not-attempted"}
    assert set(versions(fleet).values()) == {"001"}
    assert_report_matches_the_databases(fleet, report, before)


@pytest.mark.parametrize("execution", ["host", "controller"])
def test_the_report_says_what_each_database_says_and_the_health_gate_runs_on_either_path(fleet_maker, execution: str):
    # Rollout order: eu_01 (the canary), us_01, done_01, eu_02 (wave 2), us_02, eu_03 (wave 3).
    fleet = fleet_maker(
        {"eu": 3, "us": 2, "done": {"count": 1, "at": "005"}},
        execution=execution,
        settings={"pg_migrate_fleet_health_max": 0},
    )
    order = rollout_order(fleet)
    canary, broken, current, gated = order[:4]
    assert current.startswith("done-")
    fleet.query(broken, BROKEN_FOR_V002)
    signal = f"SELECT CASE WHEN current_database() = '{fleet.hosts[gated]}' THEN 1 ELSE 0 END"
    before = versions(fleet)
    run = fleet.play(
        "fleet.yml",
        "-e",
        '{"pg_migrate_fleet_waves": [1, 3, "100%"], "pg_migrate_fleet_max_failures": "100%"}',
        "-e",
        json.dumps({"pg_migrate_fleet_health_query": signal}),
    ).assert_failed()
    report = fleet.report()
    found = states(report)
    assert report["verdict"] == "halted", run.output[-3000:]
    assert "health gate" in report["halt_reason"] and gated in report["halt_reason"], report["halt_reason"]
    assert [found[host] for host in order] == [
        "applied",
        "failed",
        "already current",
        "failed",
        "halted-not-attempted",
        "halted-not-attempted",
    ]
    assert entry_of(report, canary)["health"]["passed"] is True
    assert entry_of(report, gated)["health"]["passed"] is False
    assert entry_of(report, gated)["health"]["value"] == 1
    failure = entry_of(report, broken)["failure"]
    assert failure["script"] == "V002__policy_as_data.sql" and failure["sqlstate"], failure
    assert [fleet.version(host) for host in order] == ["005", "001", "005", "005", "001", "001"]
    assert_report_matches_the_databases(fleet, report, before)


def test_one_wave_with_databases_on_both_paths_runs_each_on_its_own_and_reports_every_one(fleet_maker, tmp_path):
    # The controller migrates its databases of a wave in one task; the databases of the same wave that go through
    # their managed host run the role's task there (its background job): one report, both kinds in it.
    on_host = {
        "pg_migrate_execution": "host",
        "pg_migrate_remote_dir": str(tmp_path / "remote" / "{{ inventory_hostname }}"),
        "pg_migrate_remote_owner": "",
        "pg_migrate_remote_group": "",
    }
    # A setting that only makes each run warn (pg_migrate keeps these databases' history already).
    left_behind = {"pg_migrate_adopt": "flyway"}
    fleet = fleet_maker({"eu": {"count": 2, "vars": on_host}, "us": {"count": 2, "vars": left_behind}})
    order = rollout_order(fleet)
    fleet.query(order[3], BROKEN_FOR_V002)  # us_02, run by the controller in wave 2
    before = versions(fleet)
    waves = '{"pg_migrate_fleet_waves": [1, "100%"], "pg_migrate_fleet_max_failures": 1}'
    run = fleet.play("fleet.yml", "-e", waves, progress=True).assert_failed()  # one database failed
    report = fleet.report()
    found = states(report)
    assert report["verdict"] == "failed" and not report["halt_reason"], (report["verdict"], report["halt_reason"])
    assert [found[host] for host in order] == ["applied", "applied", "applied", "failed"], run.output[-3000:]
    assert order[0].startswith("eu-") and order[2].startswith("eu-")  # the host path, in both waves
    assert (tmp_path / "remote" / order[2]).is_dir()  # its change went through its managed host's scripts
    assert not (tmp_path / "remote" / order[1]).exists()
    for host in order:  # one progress line per database, whichever path ran it, counted once
        assert len(re.findall(r"wave \d/2 - %s " % re.escape(host), run.output)) == 1, run.output[-3000:]
    assert re.search(r"\(4/4 done, 1 failed\)", run.output), run.output[-3000:]
    # The wave's one task shows its runs' warnings, as the role's task per database did.
    assert re.search(r"\[WARNING\]: %s: pg_migrate_adopt=flyway does nothing" % order[1], run.output), run.output
    assert_report_matches_the_databases(fleet, report, before)


def test_no_more_than_k_databases_of_one_server_change_at_once_on_the_host_path(fleet_maker, tmp_path: Path):
    changeset = tiny_changeset(
        tmp_path / "slow",
        {"V001__table.sql": "CREATE TABLE slot_probe (id int);\n", "V002__slow.sql": "SELECT pg_sleep(1.5);\n"},
    )
    fleet = fleet_maker({"a": 4}, at=None, settings=own_slots(fleet_maker, 2), execution="host")
    server_of = {database: "a" for database in fleet.hosts.values()}
    with ActivitySampler(fleet.server, server_of, "SELECT pg_sleep(1.5)") as sampler:
        fleet.play("fleet.yml", "-f", "4", *ALL_AT_ONCE, *changeset).assert_ok()
    assert set(versions(fleet).values()) == {"002"}
    assert sampler.peak == {"a": 2}, sampler.peak  # never more than 2, and the limit was reached


def test_two_rollouts_at_once_share_the_per_server_limit(fleet_maker, tmp_path: Path):
    """Two controllers (two fleet files, two ansible-playbook processes) on one server: the limit is the
    server's, not each process's."""
    changeset = tiny_changeset(
        tmp_path / "slow",
        {"V001__table.sql": "CREATE TABLE slot_probe (id int);\n", "V002__slow.sql": "SELECT pg_sleep(1.2);\n"},
    )
    fleets = [fleet_maker({"shared": 4}, at=None, settings=own_slots(fleet_maker, 2)) for _ in range(2)]
    group_of = {database: "shared" for fleet in fleets for database in fleet.hosts.values()}
    with ActivitySampler(fleets[0].server, group_of, "SELECT pg_sleep(1.2)") as sampler:
        started = [start(fleet, "fleet.yml", "-f", "4", *ALL_AT_ONCE, *changeset) for fleet in fleets]
        try:
            runs = [run.finish(300) for run in started]
        finally:
            for run in started:
                run.kill()
    for run in runs:
        run.assert_ok()
    assert {fleet.version(host) for fleet in fleets for host in fleet.hosts} == {"002"}
    assert sampler.peak == {"shared": 2}, sampler.peak


# --- the waves --------------------------------------------------------------------------------------------------
def test_waves_given_in_the_fleet_file_are_the_waves_that_run(fleet_maker):
    fleet = fleet_maker({"eu": 6}, settings={"pg_migrate_fleet_waves": [1], "pg_migrate_fleet_max_failures": 0})
    order = rollout_order(fleet)
    fleet.query(order[3], BROKEN_FOR_V002)
    fleet.play("fleet.yml").assert_failed()
    report = fleet.report()
    found = states(report)
    assert [wave["databases"] for wave in report["waves"]] == [1] * 6
    assert report["verdict"] == "halted"
    assert [found[host] for host in order[:4]] == ["applied", "applied", "applied", "failed"]
    assert {found[host] for host in order[4:]} == {"halted-not-attempted"}
    assert [fleet.version(host) for host in order] == ["005", "005", "005", "001", "001", "001"]


def test_different_waves_on_different_servers_are_refused_before_any_change(fleet_maker):
    fleet = fleet_maker(
        {"a": 2, "b": {"count": 2, "vars": {"pg_migrate_fleet_waves": [2, "100%"]}}},
        settings={"pg_migrate_fleet_waves": [1, "100%"]},
    )
    run = fleet.play("fleet.yml").assert_failed()
    assert "pg_migrate_fleet_waves" in run.output, run.output[-3000:]
    assert set(versions(fleet).values()) == {"001"}


WAVE_FORMS = {
    "count-as-text": (("-e", "pg_migrate_fleet_waves=2"), [2, 2, 2, 2]),
    "share-as-text": (("-e", "pg_migrate_fleet_waves=25%"), [2, 2, 2, 2]),
    "comma-separated": (("-e", "pg_migrate_fleet_waves=1,25%,100%"), [1, 2, 5]),
    "list-with-a-fractional-share": (("-e", '{"pg_migrate_fleet_waves": [1, "12.5%", "100%"]}'), [1, 1, 6]),
}


@pytest.mark.parametrize(("given", "sizes"), WAVE_FORMS.values(), ids=WAVE_FORMS.keys())
def test_every_form_of_the_waves_setting_runs_the_waves_it_asks_for(fleet_maker, given, sizes: list[int]):
    fleet = fleet_maker({"eu": 8})
    run = fleet.play("fleet.yml", *given, progress=True).assert_ok()
    report = fleet.report()
    assert [wave["databases"] for wave in report["waves"]] == sizes
    assert set(states(report).values()) == {"applied"}
    # The batch each database actually ran in (the fleet callback counts Ansible's batches) is its wave.
    ran_in = {host: int(wave) for wave, host in re.findall(r"wave (\d+)/\d+ - (\S+) applied", run.output)}
    assert ran_in == {entry["host"]: entry["wave"] for entry in report["databases"]}, run.output[-3000:]


@pytest.mark.parametrize("given", ["abc", 0, "0%", "150%", -1, []], ids=repr)
def test_a_waves_setting_that_cannot_cut_the_fleet_is_refused_before_any_change(fleet_maker, given):
    fleet = fleet_maker({"eu": 3})
    run = fleet.play("fleet.yml", "-e", json.dumps({"pg_migrate_fleet_waves": given})).assert_failed()
    assert "pg_migrate_fleet_waves" in run.output, run.output[-3000:]
    assert set(versions(fleet).values()) == {"001"}


# --- check mode beside a real report -----------------------------------------------------------------------------
def test_check_mode_after_a_halted_rollout_writes_its_own_report_and_leaves_the_real_one_alone(fleet_maker):
    fleet = fleet_maker({"eu": 4})
    order = rollout_order(fleet)
    fleet.query(order[1], BROKEN_FOR_V002)
    waves = ("-e", '{"pg_migrate_fleet_waves": [1, 1, "100%"]}')
    fleet.play("fleet.yml", *waves).assert_failed()
    assert fleet.report()["verdict"] == "halted"
    real = {name: (fleet.reports / name).read_bytes() for name in ("fleet.json", "fleet.resume")}
    assert real["fleet.resume"].split()
    fleet.query(order[1], "DELETE FROM xp_rules WHERE rule_key = 'legacy'")  # the cause fixed; then the plan
    before = {host: history_of(fleet, host) for host in order}

    run = fleet.play("fleet.yml", "--check", "--diff", *waves)
    assert {name: (fleet.reports / name).read_bytes() for name in real} == real, run.output[-3000:]
    for host in order[1:]:  # --diff: what each database would run
        assert f"+++ after: {fleet.hosts[host]} @ 005" in run.output, run.output[-3000:]
    assert run.output.count("would run: V002__policy_as_data.sql") == len(order) - 1, run.output[-3000:]
    checked = json.loads((fleet.reports / "fleet.check.json").read_text())
    assert checked["check_mode"] is True and checked["verdict"].startswith("would"), checked["verdict"]
    found = states(checked)
    assert found[order[0]] == "already current"
    for host in order[1:]:
        assert found[host] == "would apply", (host, found[host])
        assert entry_of(checked, host)["pending_versions"] == ["002", "003", "004", "005"]
    ET.parse(fleet.reports / "fleet.check.junit.xml")
    assert "would apply" in (fleet.reports / "fleet.check.html").read_text()
    assert {host: history_of(fleet, host) for host in order} == before  # --check changed no database


# --- the preflight blocks on whatever a migrate would refuse ------------------------------------------------------
def test_a_database_with_a_version_the_change_set_does_not_know_blocks_the_rollout(fleet_maker):
    fleet = fleet_maker({"eu": 6})
    order = rollout_order(fleet)
    odd = order[2]  # in wave 3
    fleet.query(
        odd,
        "INSERT INTO pg_migrate_history (version, description, script, checksum, kind, success) "
        "VALUES ('006', 'from elsewhere', 'V006__from_elsewhere.sql', repeat('0', 64), 'migration', true)",
    )
    before = {host: history_of(fleet, host) for host in order}
    run = fleet.play("fleet.yml", "-e", '{"pg_migrate_fleet_waves": [1, 1, "100%"]}').assert_failed()
    report = fleet.report()
    assert report["verdict"] == "blocked", (report["verdict"], run.output[-3000:])
    assert any(odd in problem for problem in report["preflight_problems"]), report["preflight_problems"]
    assert odd in run.output
    assert {host: history_of(fleet, host) for host in order} == before  # nothing changed
    assert {fleet.version(host) for host in order if host != odd} == {"001"}


def test_a_failure_in_the_last_wave_does_not_claim_later_waves_were_not_started(fleet_maker):
    fleet = fleet_maker({"eu": 3})
    order = rollout_order(fleet)
    fleet.query(order[2], BROKEN_FOR_V002)
    before = versions(fleet)
    run = fleet.play("fleet.yml", "-e", '{"pg_migrate_fleet_waves": [1, "100%"]}').assert_failed()
    report = fleet.report()
    assert [states(report)[host] for host in order] == ["applied", "applied", "failed"]
    assert "later waves were not started" not in run.output, run.output[-3000:]
    assert "not started" not in [wave["status"] for wave in report["waves"]]
    assert_report_matches_the_databases(fleet, report, before)


def test_two_hosts_that_reach_one_database_block_the_rollout(fleet_maker, pg_server):
    name = f"f{uuid.uuid4().hex[:6]}_one"
    # Server a names the connection; b has none of its own and falls back to the fleet-wide one: the same.
    own = {"pg_migrate_login_host": pg_server.host, "pg_migrate_login_port": pg_server.port}
    fleet = fleet_maker({"a": {"databases": [name], "vars": own}, "b": {"databases": [name]}})
    before = history_of(fleet, f"a-{name}")
    run = fleet.play("fleet.yml").assert_failed()
    report = fleet.report()
    assert report["verdict"] == "blocked", (report["verdict"], run.output[-3000:])
    both = [
        problem
        for problem in report["preflight_problems"]
        if f"a-{name}" in problem and f"b-{name}" in problem and "same database" in problem
    ]
    assert both, report["preflight_problems"]
    assert history_of(fleet, f"a-{name}") == before and fleet.version(f"a-{name}") == "001"  # nothing changed


# --- standbys ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def replicated() -> Iterator[tuple[localpg.Connection, localpg.Connection]]:
    """A primary of this module's own and a real streaming hot standby of it; both stopped and removed."""
    primary_base = Path(tempfile.mkdtemp(prefix="pg_migrate-fleet-primary-"))
    standby_base = Path(tempfile.mkdtemp(prefix="pg_migrate-fleet-standby-"))
    try:
        primary = localpg.start(primary_base)
        yield primary, localpg.start_standby(primary, standby_base)
    finally:
        for base in (standby_base, primary_base):
            localpg.destroy(base)
            shutil.rmtree(base, ignore_errors=True)


def standby_fleet(fleet_maker: FleetMaker, replicated, tmp_path: Path) -> tuple[Fleet, tuple[str, ...]]:
    """One database on the primary, listed twice: server `primary` and server `replica` (the standby's port)."""
    primary, standby = replicated
    name = f"s{uuid.uuid4().hex[:8]}"
    fleet = fleet_maker(
        {
            "primary": {"databases": [name]},
            "replica": {"databases": [name], "vars": {"pg_migrate_login_port": standby.port}},
        },
        at=None,
        server=primary,
        anchor=Database(primary, "postgres"),
    )

    def replayed() -> bool:
        try:
            with psycopg.connect(standby.conninfo(name), autocommit=True, connect_timeout=2) as conn:
                return bool(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0])
        except psycopg.OperationalError:
            return False  # the database is not replayed yet

    wait_for(replayed, 60, f"the standby to replay {name}")
    changeset = tiny_changeset(
        tmp_path / "standby-changeset",
        {
            "V001__table.sql": "CREATE TABLE standby_probe (id int);\n",
            "V002__column.sql": "ALTER TABLE standby_probe ADD COLUMN note text;\n",
        },
    )
    return fleet, changeset


def test_a_hot_standby_in_the_fleet_blocks_the_rollout_when_standbys_must_fail(fleet_maker, replicated, tmp_path):
    fleet, changeset = standby_fleet(fleet_maker, replicated, tmp_path)
    primary_host, replica_host = list(fleet.hosts)
    run = fleet.play("fleet.yml", *changeset, "-e", "pg_migrate_on_standby=fail").assert_failed()
    report = fleet.report()
    assert report["verdict"] == "blocked", (report["verdict"], run.output[-3000:])
    problems = report["preflight_problems"]
    assert problems and all(replica_host in problem for problem in problems), problems
    assert not any("same database" in problem for problem in problems), problems  # a standby is no duplicate
    assert fleet.query(primary_host, "SELECT to_regclass('pg_migrate_history') IS NULL")[0][0]  # nothing changed


def test_a_hot_standby_in_the_fleet_is_skipped_when_standbys_may_be_skipped(fleet_maker, replicated, tmp_path):
    fleet, changeset = standby_fleet(fleet_maker, replicated, tmp_path)
    primary_host, replica_host = list(fleet.hosts)
    run = fleet.play("fleet.yml", *changeset, "-e", "pg_migrate_on_standby=skip").assert_ok()
    report = fleet.report()
    assert report["verdict"] == "complete", run.output[-3000:]
    assert states(report) == {primary_host: "applied", replica_host: "skipped"}
    assert fleet.version(primary_host) == "002"
    assert replica_host not in (fleet.reports / "fleet.resume").read_text().split()
    assert report["still_to_do"] == []


def paused_behind(replicated) -> None:
    """Pause the standby's replay, then write WAL on the primary that it cannot replay while paused."""
    primary, standby = replicated
    with psycopg.connect(standby.conninfo(), autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        paused = lambda: conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] == "paused"  # noqa: E731
        wait_for(paused, 60, "the standby's replay to pause")
    with psycopg.connect(primary.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS wal_filler (n int)")
        conn.execute("INSERT INTO wal_filler SELECT generate_series(1, 5000)")


def resume_replay(replicated) -> None:
    with psycopg.connect(replicated[1].conninfo(), autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_resume()")


def test_a_wave_waits_for_a_paused_standby_says_so_and_goes_on_once_it_replays(fleet_maker, replicated, tmp_path):
    fleet, changeset = standby_fleet(fleet_maker, replicated, tmp_path)
    primary_host, replica_host = list(fleet.hosts)
    paused_behind(replicated)
    try:
        # The fleet's own default: catch-up (the standby has not replayed what was written before the wave).
        run = start(
            fleet, "fleet.yml", *changeset, "-e", "pg_migrate_on_standby=skip", "-e", "pg_migrate_progress_every=1"
        )
        said = lambda: "waiting for standby 'walreceiver' (" in run.output  # noqa: E731
        wait_for(said, 120, "the rollout to say it waits for the standby", run)
        assert fleet.query(primary_host, "SELECT to_regclass('pg_migrate_history') IS NULL")[0][0]  # nothing yet
    finally:
        resume_replay(replicated)
    finished = run.finish(180).assert_ok()
    report = fleet.report()
    assert states(report) == {primary_host: "applied", replica_host: "skipped"}, finished.output[-3000:]
    seen = entry_of(report, primary_host)["standby_lag"]
    assert [standby["name"] for standby in seen["standbys"]] == ["walreceiver"] and seen["waited_s"] > 0


def test_a_standby_that_stays_behind_fails_its_database_naming_it_against_the_budget(fleet_maker, replicated, tmp_path):
    fleet, changeset = standby_fleet(fleet_maker, replicated, tmp_path)
    primary_host, _replica_host = list(fleet.hosts)
    paused_behind(replicated)
    try:
        run = fleet.play(
            "fleet.yml", *changeset, "-e", "pg_migrate_on_standby=skip", "-e", "pg_migrate_standby_wait=2s"
        )
        report = fleet.report()
        entry = entry_of(report, primary_host)
        assert entry["state"] == "failed", run.output[-3000:]
        assert "'walreceiver' (" in entry["failure"]["message"] and "Nothing was changed" in entry["failure"]["message"]
        assert entry["standby_lag"]["standbys"][0]["name"] == "walreceiver"
        assert report["budget"]["failed"] == 1 and report["verdict"] == "halted", report
        assert fleet.query(primary_host, "SELECT to_regclass('pg_migrate_history') IS NULL")[0][0]
        # -e outranks the fleet's catch-up default: within a 1 GB limit, the paused standby holds nothing up.
        lenient = {"pg_migrate_standby_catch_up": False, "pg_migrate_standby_max_lag": "0"}
        lenient["pg_migrate_standby_max_lag_bytes"] = 1 << 30
        again = fleet.play("fleet.yml", *changeset, "-e", "pg_migrate_on_standby=skip", "-e", json.dumps(lenient))
        assert entry_of(fleet.report(), primary_host)["state"] == "applied", again.output[-3000:]
        assert entry_of(fleet.report(), primary_host)["standby_lag"]["standbys"][0]["lag_bytes"] > 0
    finally:
        resume_replay(replicated)


# --- the health gate is bounded ------------------------------------------------------------------------------------
def test_a_health_query_that_waits_on_a_lock_or_runs_long_fails_the_gate_at_its_timeout(fleet_maker):
    fleet = fleet_maker({"eu": 2}, settings={"pg_migrate_fleet_health_max": 0})
    locked, slow = rollout_order(fleet)
    for host in (locked, slow):
        fleet.query(host, "CREATE SCHEMA health_probe")
        fleet.query(host, "CREATE TABLE health_probe.signal (errors int)")
    # On one database the signal table is locked by an open transaction for the whole rollout (the lock
    # timeout); on the other the query itself runs for a minute (the statement timeout).
    query = (
        "SELECT count(*) FROM health_probe.signal, "
        f"pg_sleep(CASE WHEN current_database() = '{fleet.hosts[slow]}' THEN 60 ELSE 0 END)"
    )
    holder = psycopg.connect(fleet.server.conninfo(fleet.hosts[locked]))
    try:
        holder.execute("LOCK TABLE health_probe.signal IN ACCESS EXCLUSIVE MODE")
        run, seconds = play_within(
            fleet,
            90,
            "fleet.yml",
            *ALL_AT_ONCE,
            "-e",
            json.dumps({"pg_migrate_fleet_health_query": query}),
            "-e",
            "pg_migrate_fleet_health_timeout=1s",
        )
    finally:
        holder.close()
    assert run.returncode != 0, run.output[-3000:]
    report = fleet.report()
    for host in (locked, slow):
        entry = entry_of(report, host)
        assert entry["state"] == "failed" and entry["health"]["passed"] is False, entry
        assert "pg_migrate_fleet_health_timeout" in entry["health"]["message"], entry["health"]
    assert seconds < 30, seconds  # well under the minute of the slow query


# --- an interrupted rollout ----------------------------------------------------------------------------------------
def migrating(fleet: Fleet) -> list[str]:
    """The fleet's databases that a pg_migrate session is connected to."""
    with psycopg.connect(fleet.server.conninfo("postgres"), autocommit=True) as watcher:
        rows = watcher.execute(
            "SELECT datname FROM pg_stat_activity WHERE application_name = 'pg_migrate' AND datname = ANY(%s)",
            (list(fleet.hosts.values()),),
        ).fetchall()
    return [row[0] for row in rows]


@pytest.mark.parametrize("interruption", ["kill -9", "Ctrl-C", "SIGTERM"])
def test_an_interrupted_rollout_says_so_and_its_resume_file_finishes_it(fleet_maker, tmp_path: Path, interruption: str):
    fleet = fleet_maker({"eu": 5}, at=None)
    migrations = tmp_path / "interrupted"
    changeset = tiny_changeset(migrations, {"V001__table.sql": "CREATE TABLE interrupted_probe (id int);\n"})
    fleet.play("fleet.yml", *ALL_AT_ONCE, *changeset).assert_ok()
    assert fleet.report()["verdict"] == "complete"
    (migrations / "V002__slow.sql").write_text("SELECT pg_sleep(2);\n")
    order = rollout_order(fleet)

    run = start(fleet, "fleet.yml", "-f", "1", *ALL_AT_ONCE, *changeset)
    try:
        # Two databases done: the resume file must have dropped at least the first one.
        wait_for(lambda: fleet.version(order[1]) == "002", 120, "the second database at V002", run)
    finally:
        stop = {"Ctrl-C": signal.SIGINT, "SIGTERM": signal.SIGTERM}.get(interruption)
        output = run.interrupt(stop) if stop else run.kill()
    if stop:
        assert run.process.returncode != 0, output[-3000:]
        # Ctrl-C or a job runner's stop ends the whole rollout: no run of it goes on behind the operator's back.
        wait_for(lambda: not migrating(fleet), 30, "no pg_migrate session left on the fleet's databases")
    done = {host for host in order if fleet.version(host) == "002"}
    assert {order[0], order[1]} <= done and len(done) < len(order)

    report = fleet.report()
    assert report["verdict"] == "in progress", report["verdict"]
    assert report.get("run_id") and report.get("started_at"), report
    claimed = {entry["host"] for entry in report["databases"] if entry["state"] == "applied"}
    assert {order[0], order[1]} <= claimed <= done, (claimed, done)  # never a change it did not make
    resume = set((fleet.reports / "fleet.resume").read_text().split())
    assert set(order) - done <= resume, resume
    assert len(resume & done) <= 1, resume  # at most the database that was in flight at the kill
    status = fleet.play("fleet-status.yml", *changeset).assert_ok()
    assert "in progress or interrupted" in status.output, status.output[-3000:]

    resumed = fleet.play(
        "fleet.yml", *ALL_AT_ONCE, *changeset, "--limit", f"@{fleet.reports / 'fleet.resume'}"
    ).assert_ok()
    assert set(versions(fleet).values()) == {"002"}, resumed.output[-3000:]
    assert fleet.report()["verdict"] == "complete"


# --- the fleet's terminal output keys on what tasks do, not on their names -------------------------------------
def test_a_copied_fleet_playbook_with_its_own_task_names_keeps_its_progress_lines(fleet_maker, tmp_path: Path):
    changeset = tiny_changeset(tmp_path / "tiny", {"V001__table.sql": "CREATE TABLE renamed_probe (id int);\n"})
    fleet = fleet_maker({"eu": 3}, at=None)
    # The plays are the collection's (playbooks/fleet.yml only imports them).
    text = (ROOT / "collections/ansible_collections/pg_migrate/engine/playbooks/fleet.yml").read_text()
    renamed = text.replace("Stop before this wave when the rollout must halt", "Gate").replace(
        "Fleet summary", "Show the table"
    )
    assert renamed != text
    copy = tmp_path / "our-fleet.yml"
    copy.write_text(renamed)
    run = fleet.play(str(copy), "-e", '{"pg_migrate_fleet_waves": [1, "100%"]}', *changeset, progress=True)
    run.assert_ok()
    assert "TASK [" not in run.output
    assert re.search(r"wave 1/2 - eu-\S+ applied 000 -> 001 in \d+ ms \(1/3 done, 0 failed\)", run.output), run.raw
    assert "wave 2/2" in run.output
    assert run.output.count("fleet: complete - 3 databases: 3 applied") == 1  # the table once, not twice


def test_the_preflight_reads_each_database_with_the_settings_given_for_it(fleet_maker, tmp_path: Path):
    # The preflight reads every database in one task on the controller: each with its own host's settings, from
    # wherever they were given - a server's vars in the fleet file, group_vars beside the fleet file, extra vars.
    closed_port = _closed_port()
    fleet = fleet_maker({"eu": 2, "us": {"count": 2, "vars": {"pg_migrate_login_port": closed_port}}})
    group_vars = fleet.file.parent / "group_vars"
    group_vars.mkdir()
    (group_vars / "all.yml").write_text("pg_migrate_lock_timeout: soon\n")
    before = {host: history_of(fleet, host) for host in fleet.hosts}
    run = fleet.play("fleet.yml").assert_failed()
    problems = fleet.report()["preflight_problems"]
    for host in fleet.hosts:  # group_vars beside the fleet file: every database names the setting
        assert any(problem.startswith(host + ":") and "pg_migrate_lock_timeout" in problem for problem in problems)

    run = fleet.play("fleet.yml", "-e", "pg_migrate_lock_timeout=2s").assert_failed()  # extra vars win
    problems = fleet.report()["preflight_problems"]
    assert not any("pg_migrate_lock_timeout" in problem for problem in problems), problems
    unreachable = sorted(problem.split(":")[0] for problem in problems)
    assert unreachable == sorted(host for host in fleet.hosts if host.startswith("us-")), problems
    assert str(closed_port) in run.output and "Traceback" not in run.raw
    assert {host: history_of(fleet, host) for host in fleet.hosts} == before  # nothing changed

    (group_vars / "all.yml").unlink()
    spec = yaml.safe_load(fleet.file.read_text())
    del spec["servers"]["us"]["vars"]
    fleet.file.write_text(yaml.safe_dump(spec, sort_keys=False))
    fleet.play("fleet.yml").assert_ok()
    assert {fleet.version(host) for host in fleet.hosts} == {"005"}


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
