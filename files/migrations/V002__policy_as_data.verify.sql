-- Verify V002: the policy tables, their key constraints and btree_gist exist; xp_rules is gone.
DO $verify$
DECLARE
    missing text;
BEGIN
    SELECT string_agg(t, ', ') INTO missing
      FROM unnest(ARRAY['xp_policies', 'xp_policy_versions', 'xp_policy_streak_curve',
                        'xp_policy_seasonal_boosts', 'xp_policy_segment_overrides']) AS t
     WHERE to_regclass(t) IS NULL;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'V002 not in effect: table(s) missing: %', missing;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'btree_gist') THEN
        RAISE EXCEPTION 'V002 not in effect: extension btree_gist is missing';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conname = 'xp_policy_seasonal_boosts_no_overlap' AND contype = 'x') THEN
        RAISE EXCEPTION 'V002 not in effect: exclusion constraint xp_policy_seasonal_boosts_no_overlap is missing';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_index
                   WHERE indexrelid = to_regclass('xp_policy_versions_one_published_idx')
                     AND indisunique AND indpred IS NOT NULL) THEN
        RAISE EXCEPTION 'V002 not in effect: partial unique index xp_policy_versions_one_published_idx is missing';
    END IF;
    IF to_regclass('xp_rules') IS NOT NULL THEN
        RAISE EXCEPTION 'V002 not in effect: legacy table xp_rules still exists';
    END IF;
END
$verify$;
