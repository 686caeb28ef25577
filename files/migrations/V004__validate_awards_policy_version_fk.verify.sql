-- Verify V004: the awards -> policy version foreign key is validated.
DO $verify$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'xp_awards'::regclass AND conname = 'xp_awards_policy_version_fk'
                     AND convalidated) THEN
        RAISE EXCEPTION 'V004 not in effect: foreign key xp_awards_policy_version_fk is not validated';
    END IF;
END
$verify$;
