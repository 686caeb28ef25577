"""The standby gate's judgement of pg_stat_replication rows, and what it says (run/standby_lag.py)."""

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.run import job_progress as watch
from ansible_collections.pg_migrate.engine.plugins.module_utils.run import standby_lag as gate


def row(name="walreceiver", client="10.0.0.7", state="streaming", replay="0/3000000", lag_bytes=0, lag_s=None):
    return {
        "application_name": name,
        "client_addr": client,
        "state": state,
        "replay_lsn": replay,
        "lag_bytes": lag_bytes,
        "lag_s": lag_s,
    }


LIMITS = gate.Limits(max_lag_s=30.0, max_bytes=0, wait_s=300.0, catch_up=False)


def test_limits_come_from_the_settings_durations_and_both_zero_turn_the_gate_off():
    limits = gate.limits_of({"standby_max_lag": "30s", "standby_max_lag_bytes": 0, "standby_wait": "5min"})
    assert limits == gate.Limits(30.0, 0, 300.0, False) and not limits.off
    assert gate.limits_of({"standby_max_lag": "0", "standby_max_lag_bytes": 0, "standby_catch_up": True}).off
    assert not gate.limits_of({"standby_max_lag": "0", "standby_max_lag_bytes": 1024}).off


def test_an_idle_caught_up_standby_with_no_replay_lag_is_not_behind():
    standby = gate.standby_of(row(lag_bytes=0, lag_s=None))  # replay_lag is NULL once caught up on an idle primary
    assert not gate.over_limit(standby, LIMITS) and gate.behind_text(standby) == "0 bytes / 0 s behind"


def test_a_standby_is_behind_past_either_limit_or_when_its_position_is_unknown():
    bytes_limit = gate.Limits(0.0, 1 << 20, 60.0, False)
    assert gate.over_limit(gate.standby_of(row(lag_bytes=2 << 20)), bytes_limit)
    assert not gate.over_limit(gate.standby_of(row(lag_bytes=2 << 20)), LIMITS)  # no bytes limit
    assert gate.over_limit(gate.standby_of(row(lag_s=41.2)), LIMITS)
    assert not gate.over_limit(gate.standby_of(row(lag_s=29.0)), LIMITS)
    assert gate.over_limit(gate.standby_of(row(replay=None, lag_bytes=None)), LIMITS)


def test_catch_up_waits_for_the_position_written_before_the_run():
    target = gate.lsn_value("0/3000100")
    assert gate.lsn_value("16/B374D848") == (0x16 << 32) + 0xB374D848
    behind, there = gate.standby_of(row(replay="0/3000000")), gate.standby_of(row(replay="0/3000100"))
    assert gate.short_of(behind, target) and not gate.short_of(there, target) and not gate.short_of(behind, None)
    assert gate.blocking([behind, there], LIMITS, target) == [behind]


def test_a_base_backup_is_no_standby_and_a_hidden_row_is_one_the_role_may_not_read():
    standbys = gate.standbys_of([row(state="backup"), row(name="s1", state=None, replay=None, lag_bytes=None)])
    assert [standby.name for standby in standbys] == ["s1"] and standbys[0].state is None
    message = gate.unreadable_message(standbys)
    assert "'s1' (10.0.0.7)" in message and "GRANT pg_monitor" in message
    assert "pg_migrate_standby_max_lag: 0 and pg_migrate_standby_max_lag_bytes: 0" in message
    assert gate.standby_of(row(client=None)).client == "local socket"


def test_the_timed_out_message_names_each_standby_its_lag_and_what_to_do():
    late = [gate.standby_of(row(lag_bytes=12_900_000, lag_s=41.4)), gate.standby_of(row(name="dr", lag_s=90.0))]
    message = gate.timed_out_message(late, LIMITS, 300.2, None)
    assert message.startswith("the server's standbys did not come within the replay lag allowed (30 s) in 300 s")
    assert "'walreceiver' (10.0.0.7) is 12.3 MB / 41 s behind; 'dr' (10.0.0.7) is 0 bytes / 90 s behind" in message
    assert "Nothing was changed" in message and "pg_migrate_standby_wait" in message
    caught = gate.timed_out_message(late[:1], gate.Limits(0.0, 1024, 2.0, True), 2.0, gate.lsn_value("1/0"))
    assert "(1.0 kB, and catch-up to the WAL written before this run)" in caught and "short of the catch-up" in caught


def test_what_the_gate_saw_is_each_standby_and_the_wait():
    seen = gate.seen_record([gate.standby_of(row(lag_bytes=10, lag_s=1.5))], 12.345)
    assert seen == {
        "standbys": [{"name": "walreceiver", "client": "10.0.0.7", "lag_bytes": 10, "lag_s": 1.5}],
        "waited_s": 12.3,
    }


def test_the_waiting_line_names_the_standby_its_lag_the_limit_and_the_wait_so_far():
    late = [gate.standby_of(row(lag_bytes=12_900_000, lag_s=41.4)), gate.standby_of(row(name="dr"))]
    note = dict(gate.waiting_note(late, LIMITS, since=100.0), since=111.0)  # each poll writes a new note
    assert watch.note_line("db1", "xp", note, 112.0) == (
        "db1 xp: waiting for standby 'walreceiver' (10.0.0.7) and 1 more to replay: 12.3 MB / 41 s behind, "
        "limit 30 s, 12 s so far"
    )
    assert watch.where_it_was(note) == "while waiting for the server's standbys to replay"
