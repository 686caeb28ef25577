-- Backfill: link historical awards (policy_version_id IS NULL) to the version of the 'default'
-- policy whose effective window contains their awarded_at (where windows overlap, the higher
-- version). Needs V003 (the column) and the seed (a non-draft default version).
--
-- ONE BATCH per execution, in its own short transaction, following pg_migrate's backfill protocol
-- (docs/backfill.md). Settings (custom GUCs; pg_migrate sets them with set_config(..., true), by hand
-- e.g. PGOPTIONS):
--   pg_migrate.batch_size  rows per batch, default 5000
--   pg_migrate.after       keyset cursor: only awards with a higher award_id; empty or 0 starts a pass
-- Result, one row:
--   done      awards linked by this batch
--   last_key  highest award_id linked, the next cursor; NULL when nothing was linked
--   blocked   awards of this batch's reach that cannot be linked yet: with no non-draft default version
--             (apply files/seeds/R__default_policy.sql first) the unlinked awards after the cursor, at most
--             one batch of them; 0 once a default version exists
--
-- The loop (pg_migrate's backfill and the tools do exactly this):
--   cursor = start (empty)
--   repeat: run with after = cursor
--           done > 0               -> cursor = last_key, repeat
--           done = 0, cursor given -> cursor = start, repeat (a sweep for rows skipped while locked)
--           done = 0, at the start -> finished
--
-- * Batched and linear: on the forward pass each batch reads its rows by primary key from the
--   cursor on, so a batch costs the same at the end of a large table as at the start. The final
--   sweep from the start finds the few rows left NULL through the index of V005 (run ANALYZE xp_awards
--   before it, so the planner knows how few there are).
-- * Little locking: ROW EXCLUSIVE on xp_awards (blocks no claim) and row locks on one batch for
--   milliseconds; FOR UPDATE ... SKIP LOCKED passes over rows another session is writing (the
--   final sweep picks them up).
-- * Resumable and idempotent: the work queue is "awards still NULL", so after an interruption the
--   loop simply starts again (from the start), and a finished backfill links nothing.
WITH settings AS (
    SELECT coalesce(nullif(current_setting('pg_migrate.after', true), '')::bigint, 0) AS after_award_id,
           coalesce(nullif(current_setting('pg_migrate.batch_size', true), '')::integer, 5000) AS batch_size
),
default_versions AS (
    SELECT v.policy_version_id, v.version, v.effective_from, v.effective_to
      FROM xp_policy_versions AS v
      JOIN xp_policies AS p ON p.policy_id = v.policy_id
     WHERE p.policy_key = 'default' AND v.status <> 'draft'
),
batch AS (
    SELECT a.award_id, chosen.policy_version_id
      FROM xp_awards AS a
     CROSS JOIN LATERAL (
           SELECT d.policy_version_id
             FROM default_versions AS d
            WHERE a.awarded_at >= d.effective_from
              AND (d.effective_to IS NULL OR a.awarded_at < d.effective_to)
            ORDER BY d.version DESC
            LIMIT 1) AS chosen
     WHERE a.policy_version_id IS NULL
       AND a.award_id > (SELECT after_award_id FROM settings)
     ORDER BY a.award_id
     LIMIT (SELECT batch_size FROM settings)
       FOR UPDATE OF a SKIP LOCKED
),
linked AS (
    UPDATE xp_awards AS a
       SET policy_version_id = batch.policy_version_id
      FROM batch
     WHERE a.award_id = batch.award_id
    RETURNING a.award_id
)
SELECT (SELECT count(*) FROM linked) AS done,
       (SELECT max(award_id) FROM linked) AS last_key,
       CASE WHEN EXISTS (SELECT 1 FROM default_versions) THEN 0
            ELSE (SELECT count(*)
                    FROM (SELECT 1
                            FROM xp_awards AS a
                           WHERE a.policy_version_id IS NULL
                             AND a.award_id > (SELECT after_award_id FROM settings)
                           LIMIT (SELECT batch_size FROM settings)) AS waiting)
       END AS blocked;
