-- Verify V003: xp_awards.policy_version_id exists, is nullable, and has its foreign key.
DO $verify$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'xp_awards'
                     AND column_name = 'policy_version_id' AND data_type = 'bigint'
                     AND is_nullable = 'YES') THEN
        RAISE EXCEPTION 'V003 not in effect: nullable bigint column xp_awards.policy_version_id is missing';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'xp_awards'::regclass AND conname = 'xp_awards_policy_version_fk'
                     AND contype = 'f' AND confrelid = 'xp_policy_versions'::regclass) THEN
        RAISE EXCEPTION 'V003 not in effect: foreign key xp_awards_policy_version_fk is missing';
    END IF;
END
$verify$;
