-- U001 revert of the claims baseline: drops xp_awards and xp_rules.
-- Claims are sacred: it refuses (and changes nothing) while either table holds a row.
--
-- Lint: the runner sets lock_timeout and statement_timeout for every migration it runs
-- (pg_migrate_lock_timeout, pg_migrate_statement_timeout); by hand use PGOPTIONS='-c lock_timeout=2s'.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
LOCK TABLE xp_awards, xp_rules IN ACCESS EXCLUSIVE MODE;

DO $guard$
BEGIN
    -- EXISTS, not count(*): it stops at the first row, so the ACCESS EXCLUSIVE lock above is held
    -- for an instant even on a large table.
    IF EXISTS (SELECT 1 FROM xp_awards) OR EXISTS (SELECT 1 FROM xp_rules) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'U001 refuses to drop the claims tables: xp_awards or xp_rules still holds rows',
            HINT = 'Reverting the baseline would destroy claims. Restore from a backup instead, '
                   'or export and delete the rows deliberately first.';
    END IF;
END
$guard$;

-- Why dropping is safe: the guard above proved both tables empty under ACCESS EXCLUSIVE.
-- squawk-ignore ban-drop-table
DROP TABLE xp_awards;
-- Why dropping is safe: the guard above proved both tables empty under ACCESS EXCLUSIVE.
-- squawk-ignore ban-drop-table
DROP TABLE xp_rules;
