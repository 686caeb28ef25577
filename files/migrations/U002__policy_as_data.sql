-- U002 revert of policy as data: drops the policy tables and restores the (empty) legacy xp_rules
-- exactly as V001 created it. Refuses (and changes nothing) while any policy table holds a row:
-- policies are data, and a revert never destroys data.
--
-- Lint: the runner sets lock_timeout and statement_timeout for every migration it runs
-- (pg_migrate_lock_timeout, pg_migrate_statement_timeout); by hand use PGOPTIONS='-c lock_timeout=2s'.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- Lint: the integer columns hold bounded quantities (XP amounts, caps, streak days, version
-- numbers), never identifiers; every identifier column is bigint.
-- squawk-ignore-file prefer-bigint-over-int
LOCK TABLE xp_policies, xp_policy_versions, xp_policy_streak_curve, xp_policy_seasonal_boosts,
           xp_policy_segment_overrides IN ACCESS EXCLUSIVE MODE;

DO $guard$
BEGIN
    IF EXISTS (SELECT 1 FROM xp_policies) OR EXISTS (SELECT 1 FROM xp_policy_versions)
       OR EXISTS (SELECT 1 FROM xp_policy_streak_curve) OR EXISTS (SELECT 1 FROM xp_policy_seasonal_boosts)
       OR EXISTS (SELECT 1 FROM xp_policy_segment_overrides) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'U002 refuses to drop the policy tables: they still hold policies',
            HINT = 'Export them first (pg_dump --data-only -t ''xp_polic*''), then empty them deliberately with '
                   'TRUNCATE xp_policy_segment_overrides, xp_policy_seasonal_boosts, xp_policy_streak_curve, '
                   'xp_policy_versions, xp_policies (published versions refuse DELETE), and revert again. '
                   'Nothing was changed.';
    END IF;
END
$guard$;

-- Why dropping is safe: the guard above proved every policy table empty under ACCESS EXCLUSIVE.
-- squawk-ignore ban-drop-table
DROP TABLE xp_policy_segment_overrides, xp_policy_seasonal_boosts, xp_policy_streak_curve,
           xp_policy_versions, xp_policies;
-- Why dropping is safe: trigger functions of the tables just dropped; nothing else calls them.
-- squawk-ignore ban-drop-function
DROP FUNCTION xp_policy_rules_freeze();
-- Why dropping is safe: trigger functions of the tables just dropped; nothing else calls them.
-- squawk-ignore ban-drop-function
DROP FUNCTION xp_policy_versions_freeze();

-- btree_gist may serve other objects: drop it only when nothing uses it any more (V002 cannot
-- know who installed it, so an unused install that predates V002 is dropped as well), and keep it
-- when this role does not own it.
DO $ext$
BEGIN
    DROP EXTENSION IF EXISTS btree_gist;  -- RESTRICT: fails while anything still uses it
EXCEPTION
    WHEN dependent_objects_still_exist THEN
        RAISE NOTICE 'btree_gist kept: other objects still use it';
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'btree_gist kept: owned by another role';
END
$ext$;

-- Same definition as in V001, so a revert round trip leaves an identical schema.
CREATE TABLE xp_rules (
    rule_id     bigint GENERATED ALWAYS AS IDENTITY,
    rule_key    text        NOT NULL,
    xp_amount   integer     NOT NULL,
    active      boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT xp_rules_pkey PRIMARY KEY (rule_id),
    CONSTRAINT xp_rules_rule_key_key UNIQUE (rule_key),
    CONSTRAINT xp_rules_xp_amount_positive CHECK (xp_amount > 0)
);
COMMENT ON TABLE xp_rules IS
    'Legacy XP rules (one fixed amount per rule key); replaced by the xp_policy_* tables in V002.';
