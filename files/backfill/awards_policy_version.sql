-- Backfill: link historical awards (policy_version_id IS NULL) to the version of the 'default'
-- policy whose effective window contains their awarded_at. Needs V003 (the column), the seed (a
-- non-draft default version) and, for speed on large tables, V005 (the index).
--
-- ONE BATCH per execution, in its own short transaction: run it again until `linked` is 0.
-- * Batched: at most xp_backfill.batch_size rows (default 5000) per run, so each transaction holds
--   row locks on one batch only, for milliseconds; ROW EXCLUSIVE on xp_awards blocks no claim.
-- * No waiting: FOR UPDATE ... SKIP LOCKED passes over rows another session is writing; a later
--   batch picks them up.
-- * Resumable and idempotent: the work queue is "awards still NULL", so after an interruption the
--   next run continues where the last committed batch ended, and a finished backfill links nothing.
--
-- Result: linked (this batch), unlinked (awards still NULL afterwards, including any that no
-- default version covers), default_versions (0 means: apply files/seeds/R__default_policy.sql first).
--
--   psql:    PGOPTIONS='-c xp_backfill.batch_size=1000' psql -v ON_ERROR_STOP=1 -f awards_policy_version.sql
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
       (SELECT count(*) FROM xp_awards WHERE policy_version_id IS NULL) - (SELECT count(*) FROM linked) AS unlinked,
       (SELECT count(*) FROM default_versions) AS default_versions;
