-- V003 the awards -> policy link, step 1 of 3: a nullable column and a NOT VALID foreign key.
--
-- xp_awards is large and busy, so every statement here is metadata-only:
-- * ADD COLUMN without a default (nullable) rewrites nothing; its ACCESS EXCLUSIVE lock on
--   xp_awards is held until this two-statement transaction commits, i.e. for milliseconds once
--   granted (lock_timeout bounds the wait for it, so claims never queue behind a long wait).
-- * ADD CONSTRAINT ... NOT VALID skips the scan of existing rows; it takes SHARE ROW EXCLUSIVE on
--   xp_awards and xp_policy_versions briefly and enforces the key for new and updated rows at once.
-- Existing rows are checked by V004 (VALIDATE CONSTRAINT), which does not block writes.
--
-- Lint: the runner sets lock_timeout and statement_timeout for every migration it runs
-- (pg_migrate_lock_timeout, pg_migrate_statement_timeout); by hand use PGOPTIONS='-c lock_timeout=2s'.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout

ALTER TABLE xp_awards ADD COLUMN policy_version_id bigint;

ALTER TABLE xp_awards
    ADD CONSTRAINT xp_awards_policy_version_fk FOREIGN KEY (policy_version_id)
        REFERENCES xp_policy_versions (policy_version_id) ON DELETE RESTRICT
        NOT VALID;

COMMENT ON COLUMN xp_awards.policy_version_id IS
    'Policy version the award was computed under; NULL for awards granted before policy as data '
    'until the backfill links them.';
