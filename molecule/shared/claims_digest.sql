-- Everything a claim is, in a stable text form: equal digests mean byte-for-byte identical claims
-- (the V001 columns of every award; the same digest as the pytest suite's).
SELECT count(*) || ':' || md5(coalesce(string_agg(
         concat_ws('|', award_id, player_id, amount, reason, idempotency_key,
                   awarded_at AT TIME ZONE 'UTC', created_at AT TIME ZONE 'UTC'),
         E'\n' ORDER BY award_id), '')) AS digest
  FROM xp_awards
