-- V004 the awards -> policy link, step 2 of 3: check the existing rows against the foreign key.
--
-- VALIDATE CONSTRAINT scans xp_awards under SHARE UPDATE EXCLUSIVE, which does not block
-- SELECT, INSERT, UPDATE or DELETE, so claims keep flowing during the scan; the referenced
-- xp_policy_versions gets ROW SHARE. It is its own migration so the scan never shares a
-- transaction with the brief ACCESS EXCLUSIVE lock of V003.
ALTER TABLE xp_awards VALIDATE CONSTRAINT xp_awards_policy_version_fk;
