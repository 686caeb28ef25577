-- Backfill: link historical awards (policy_version_id IS NULL) to the version of the 'default'
-- policy whose effective window contains their awarded_at (where windows overlap, the higher
-- version). Needs V003 (the column) and the seed (a non-draft default version).
--
-- ONE BATCH per execution, in its own short transaction. Settings (custom GUCs, e.g. PGOPTIONS):
--   xp_backfill.batch_size      rows per batch, default 5000
--   xp_backfill.after_award_id  keyset cursor: only awards with a higher award_id, default 0
-- Result: linked (this batch), last_award_id (highest award_id linked, the next cursor; NULL when
-- nothing was linked), default_versions (0 means: apply files/seeds/R__default_policy.sql first).
--
-- The loop (tools and playbooks do exactly this):
--   cursor = 0
--   repeat: run with after_award_id = cursor
--           linked > 0            -> cursor = last_award_id, repeat
--           linked = 0, cursor > 0 -> cursor = 0, repeat (a sweep for rows skipped while locked)
--           linked = 0, cursor = 0 -> done
--
-- * Batched and linear: on the forward pass each batch reads its rows by primary key from the
--   cursor on, so a batch costs the same at the end of a large table as at the start. The final
--   sweep from 0 finds the few rows left NULL through the index of V005 (run ANALYZE xp_awards
--   before it, so the planner knows how few there are).
-- * Little locking: ROW EXCLUSIVE on xp_awards (blocks no claim) and row locks on one batch for
--   milliseconds; FOR UPDATE ... SKIP LOCKED passes over rows another session is writing (the
--   final sweep picks them up).
-- * Resumable and idempotent: the work queue is "awards still NULL", so after an interruption the
--   loop simply starts again (from cursor 0), and a finished backfill links nothing.
WITH default_versions AS (
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
       AND a.award_id > coalesce(nullif(current_setting('xp_backfill.after_award_id', true), '')::bigint, 0)
     ORDER BY a.award_id
     LIMIT coalesce(nullif(current_setting('xp_backfill.batch_size', true), '')::integer, 5000)
       FOR UPDATE OF a SKIP LOCKED
),
linked AS (
    UPDATE xp_awards AS a
       SET policy_version_id = batch.policy_version_id
      FROM batch
     WHERE a.award_id = batch.award_id
    RETURNING a.award_id
)
SELECT (SELECT count(*) FROM linked) AS linked,
       (SELECT max(award_id) FROM linked) AS last_award_id,
       (SELECT count(*) FROM default_versions) AS default_versions;
