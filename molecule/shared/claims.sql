-- A realistic, deterministic claims history: players, reasons and times spread over weeks.
-- Loaded by the Molecule prepare and by the pytest suite (tests/pgdb.py). Named argument: claims.
INSERT INTO xp_awards (player_id, amount, reason, idempotency_key, awarded_at, created_at)
SELECT md5('player-' || (g %% 997))::uuid,
       1 + (g * 37) %% 500,
       (ARRAY['quest', 'daily_login', 'achievement', 'event'])[1 + g %% 4],
       'claim-' || g,
       timestamptz '2025-01-01 00:00:00+00' + g * interval '7 minutes',
       timestamptz '2025-01-01 00:00:00+00' + g * interval '7 minutes' + interval '250 milliseconds'
  FROM generate_series(1, %(claims)s) AS g
