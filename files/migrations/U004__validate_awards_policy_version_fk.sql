-- U004 revert of the validation: PostgreSQL cannot mark a constraint unvalidated, so the foreign
-- key is re-created NOT VALID, exactly as V003 left it. Both statements are metadata-only (no scan),
-- taking SHARE ROW EXCLUSIVE on xp_awards and xp_policy_versions for an instant.
ALTER TABLE xp_awards DROP CONSTRAINT xp_awards_policy_version_fk;
ALTER TABLE xp_awards
    ADD CONSTRAINT xp_awards_policy_version_fk FOREIGN KEY (policy_version_id)
        REFERENCES xp_policy_versions (policy_version_id) ON DELETE RESTRICT
        NOT VALID;
