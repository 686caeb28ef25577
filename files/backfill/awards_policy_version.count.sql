-- Backfill companion: how much work awards_policy_version.sql has left (pg_migrate's backfill protocol,
-- docs/backfill.md). Read-only.
-- remaining:  awards not linked to a policy version yet (the backfill's work queue);
-- blocked:    those of them no non-draft version of the 'default' policy covers (the backfill cannot
--             link them; they predate every default version, or no default version exists yet: apply the
--             seed first) and stay NULL;
-- high_water: the newest award now. The backfill's passes stop once past it, so claims that keep
--             arriving while it runs cannot keep it going for ever (new awards are not its job).
-- Used by playbooks/backfill.yml for the dry-run count in check mode and for progress. The partial
-- scan goes through the index of V005 (NULLs are indexed), so it stays cheap once most rows are linked.
SELECT count(*) AS remaining,
       count(*) FILTER (
           WHERE NOT EXISTS (
               SELECT 1
                 FROM xp_policy_versions AS v
                 JOIN xp_policies AS p ON p.policy_id = v.policy_id
                WHERE p.policy_key = 'default' AND v.status <> 'draft'
                  AND a.awarded_at >= v.effective_from
                  AND (v.effective_to IS NULL OR a.awarded_at < v.effective_to))) AS blocked,
       (SELECT max(award_id) FROM xp_awards) AS high_water
  FROM xp_awards AS a
 WHERE a.policy_version_id IS NULL;
