-- Verify V005: the index on xp_awards.policy_version_id exists and is valid (a failed concurrent
-- build leaves an invalid one).
DO $verify$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_index
                   WHERE indexrelid = to_regclass('xp_awards_policy_version_id_idx')
                     AND indrelid = 'xp_awards'::regclass AND indisvalid) THEN
        RAISE EXCEPTION 'V005 not in effect: valid index xp_awards_policy_version_id_idx is missing';
    END IF;
END
$verify$;
