-- U003 revert of the awards -> policy link column. Dropping the column would erase which policy
-- version each award was computed under, so it refuses (and changes nothing) while any award is
-- linked. DROP COLUMN itself is metadata-only (no rewrite); it also drops the foreign key, which
-- takes ACCESS EXCLUSIVE on xp_policy_versions as well.
--
-- Cost on a busy database: the guard reads xp_awards under ACCESS EXCLUSIVE, so claims wait for
-- it. EXISTS stops at the first linked award (the refusal case is instant); proving that none is
-- linked reads the whole table (U005 has dropped the column's index by now). Plan a revert of
-- this step for a quiet period, or check first: SELECT EXISTS (... WHERE policy_version_id IS NOT NULL).
--
-- Lint: the runner sets lock_timeout and statement_timeout for every migration it runs
-- (pg_migrate_lock_timeout, pg_migrate_statement_timeout); by hand use PGOPTIONS='-c lock_timeout=2s'.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
LOCK TABLE xp_awards IN ACCESS EXCLUSIVE MODE;

DO $guard$
BEGIN
    IF EXISTS (SELECT 1 FROM xp_awards WHERE policy_version_id IS NOT NULL) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'U003 refuses to drop xp_awards.policy_version_id: awards are linked to policy versions',
            HINT = 'Export the links (award_id, policy_version_id) first, then unlink them deliberately '
                   '(UPDATE xp_awards SET policy_version_id = NULL, in batches) and revert again. Nothing was changed.';
    END IF;
END
$guard$;

-- Why dropping is safe: the guard above proved no award linked; only V003's code reads the column.
-- squawk-ignore ban-drop-column
ALTER TABLE xp_awards DROP COLUMN policy_version_id;
