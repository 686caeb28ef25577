-- Verify V003: xp_awards.policy_version_id exists, is nullable, and has its foreign key.
-- It runs in V003's transaction, while V003 holds ACCESS EXCLUSIVE on xp_awards and every claim waits for
-- the commit: so it reads pg_catalog directly (information_schema.columns costs milliseconds here).
DO $verify$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = 'xp_awards'::regclass AND attname = 'policy_version_id'
                     AND atttypid = 'bigint'::regtype AND NOT attnotnull AND NOT attisdropped) THEN
        RAISE EXCEPTION 'V003 not in effect: nullable bigint column xp_awards.policy_version_id is missing';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'xp_awards'::regclass AND conname = 'xp_awards_policy_version_fk'
                     AND contype = 'f' AND confrelid = 'xp_policy_versions'::regclass) THEN
        RAISE EXCEPTION 'V003 not in effect: foreign key xp_awards_policy_version_fk is missing';
    END IF;
END
$verify$;
