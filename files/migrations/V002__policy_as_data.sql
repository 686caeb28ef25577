-- V002 policy as data: XP policies become rows instead of code, and the legacy xp_rules table goes.
--
-- One transaction. Refuses (and so rolls back everything) while xp_rules still holds rows:
-- nothing is ever dropped with data in it.
--
-- Locks: the new tables are created empty, so their locks block nobody. The only existing table
-- touched is xp_rules, which the application no longer reads or writes; its ACCESS EXCLUSIVE
-- lock is taken first so the emptiness check and the DROP see the same table state.
--
-- Lint: the runner sets lock_timeout and statement_timeout for every migration it runs
-- (pg_migrate_lock_timeout, pg_migrate_statement_timeout); by hand use PGOPTIONS='-c lock_timeout=2s'.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- Lint: the integer columns hold bounded quantities (XP amounts, caps, streak days, version
-- numbers), never identifiers; every identifier column is bigint.
-- squawk-ignore-file prefer-bigint-over-int

LOCK TABLE xp_rules IN ACCESS EXCLUSIVE MODE;

DO $guard$
DECLARE
    legacy_rules bigint := (SELECT count(*) FROM xp_rules);
BEGIN
    IF legacy_rules > 0 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = format('V002 refuses to drop xp_rules: it still holds %s row(s)', legacy_rules),
            HINT = 'Port each legacy rule into xp_policies/xp_policy_versions (or export it), then '
                   'DELETE FROM xp_rules and run the migration again. Nothing was changed.';
    END IF;
END
$guard$;

-- Needed for the exclusion constraint that mixes "=" on a bigint with "&&" on a range.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE xp_policies (
    policy_id     bigint GENERATED ALWAYS AS IDENTITY,
    policy_key    text        NOT NULL,
    display_name  text        NOT NULL,
    description   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT xp_policies_pkey PRIMARY KEY (policy_id),
    CONSTRAINT xp_policies_policy_key_key UNIQUE (policy_key),
    CONSTRAINT xp_policies_policy_key_format CHECK (policy_key ~ '^[a-z][a-z0-9_]{0,62}$'),
    CONSTRAINT xp_policies_display_name_not_blank CHECK (btrim(display_name) <> '')
);

CREATE TABLE xp_policy_versions (
    policy_version_id  bigint GENERATED ALWAYS AS IDENTITY,
    policy_id          bigint      NOT NULL,
    version            integer     NOT NULL,
    status             text        NOT NULL DEFAULT 'draft',
    base_xp            integer     NOT NULL,
    max_xp_per_claim   integer,
    max_xp_per_day     integer,
    effective_from     timestamptz NOT NULL,
    effective_to       timestamptz,
    published_at       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT xp_policy_versions_pkey PRIMARY KEY (policy_version_id),
    CONSTRAINT xp_policy_versions_policy_fk FOREIGN KEY (policy_id)
        REFERENCES xp_policies (policy_id) ON DELETE RESTRICT,
    CONSTRAINT xp_policy_versions_policy_version_key UNIQUE (policy_id, version),
    CONSTRAINT xp_policy_versions_version_positive CHECK (version >= 1),
    CONSTRAINT xp_policy_versions_status_valid CHECK (status IN ('draft', 'published', 'archived')),
    CONSTRAINT xp_policy_versions_base_xp_nonnegative CHECK (base_xp >= 0),
    CONSTRAINT xp_policy_versions_max_xp_per_claim_nonnegative CHECK (max_xp_per_claim >= 0),
    CONSTRAINT xp_policy_versions_max_xp_per_day_nonnegative CHECK (max_xp_per_day >= 0),
    CONSTRAINT xp_policy_versions_window_valid CHECK (effective_to IS NULL OR effective_to > effective_from),
    CONSTRAINT xp_policy_versions_published_at_required CHECK (status = 'draft' OR published_at IS NOT NULL)
);

-- At most one published version per policy: the one the award path uses.
CREATE UNIQUE INDEX xp_policy_versions_one_published_idx
    ON xp_policy_versions (policy_id) WHERE status = 'published';

CREATE TABLE xp_policy_streak_curve (
    policy_version_id  bigint       NOT NULL,
    streak_day         integer      NOT NULL,
    multiplier         numeric(6,3) NOT NULL,
    CONSTRAINT xp_policy_streak_curve_pkey PRIMARY KEY (policy_version_id, streak_day),
    CONSTRAINT xp_policy_streak_curve_policy_version_fk FOREIGN KEY (policy_version_id)
        REFERENCES xp_policy_versions (policy_version_id) ON DELETE CASCADE,
    CONSTRAINT xp_policy_streak_curve_streak_day_positive CHECK (streak_day >= 1),
    CONSTRAINT xp_policy_streak_curve_multiplier_positive CHECK (multiplier > 0)
);

CREATE TABLE xp_policy_seasonal_boosts (
    seasonal_boost_id  bigint GENERATED ALWAYS AS IDENTITY,
    policy_version_id  bigint       NOT NULL,
    label              text         NOT NULL,
    multiplier         numeric(6,3) NOT NULL,
    starts_at          timestamptz  NOT NULL,
    ends_at            timestamptz  NOT NULL,
    CONSTRAINT xp_policy_seasonal_boosts_pkey PRIMARY KEY (seasonal_boost_id),
    CONSTRAINT xp_policy_seasonal_boosts_policy_version_fk FOREIGN KEY (policy_version_id)
        REFERENCES xp_policy_versions (policy_version_id) ON DELETE CASCADE,
    CONSTRAINT xp_policy_seasonal_boosts_multiplier_positive CHECK (multiplier > 0),
    CONSTRAINT xp_policy_seasonal_boosts_window_valid CHECK (ends_at > starts_at),
    CONSTRAINT xp_policy_seasonal_boosts_label_not_blank CHECK (btrim(label) <> ''),
    -- Two boosts of one version never overlap, so at any instant at most one applies.
    -- '[)' makes back-to-back windows (one ends when the next starts) legal.
    CONSTRAINT xp_policy_seasonal_boosts_no_overlap EXCLUDE USING gist (
        policy_version_id WITH =,
        tstzrange(starts_at, ends_at, '[)') WITH &&
    )
);

CREATE TABLE xp_policy_segment_overrides (
    policy_version_id  bigint       NOT NULL,
    segment_key        text         NOT NULL,
    base_xp            integer,
    multiplier         numeric(6,3) NOT NULL DEFAULT 1,
    max_xp_per_day     integer,
    CONSTRAINT xp_policy_segment_overrides_pkey PRIMARY KEY (policy_version_id, segment_key),
    CONSTRAINT xp_policy_segment_overrides_policy_version_fk FOREIGN KEY (policy_version_id)
        REFERENCES xp_policy_versions (policy_version_id) ON DELETE CASCADE,
    CONSTRAINT xp_policy_segment_overrides_segment_key_format CHECK (segment_key ~ '^[a-z][a-z0-9_]{0,62}$'),
    CONSTRAINT xp_policy_segment_overrides_base_xp_nonnegative CHECK (base_xp >= 0),
    CONSTRAINT xp_policy_segment_overrides_multiplier_positive CHECK (multiplier > 0),
    CONSTRAINT xp_policy_segment_overrides_max_xp_per_day_nonnegative CHECK (max_xp_per_day >= 0)
);

-- Immutability: once a version leaves 'draft' its rules are frozen, because awards granted under
-- it must stay explainable. Only the status moves on (draft -> published -> archived, or
-- draft -> archived); to change rules, create a new version.
CREATE FUNCTION xp_policy_versions_freeze() RETURNS trigger
    LANGUAGE plpgsql AS
$fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION USING
                ERRCODE = 'integrity_constraint_violation',
                CONSTRAINT = TG_NAME,
                MESSAGE = format('policy version %s is %s and cannot be deleted', OLD.policy_version_id, OLD.status),
                HINT = 'Archive it instead (status = ''archived'').';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (NEW.policy_version_id, NEW.policy_id, NEW.version, NEW.base_xp,
                                  NEW.max_xp_per_claim, NEW.max_xp_per_day, NEW.effective_from,
                                  NEW.effective_to, NEW.published_at, NEW.created_at)
                   IS DISTINCT FROM (OLD.policy_version_id, OLD.policy_id, OLD.version, OLD.base_xp,
                                     OLD.max_xp_per_claim, OLD.max_xp_per_day, OLD.effective_from,
                                     OLD.effective_to, OLD.published_at, OLD.created_at) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'integrity_constraint_violation',
            CONSTRAINT = TG_NAME,
            MESSAGE = format('policy version %s is %s and immutable', OLD.policy_version_id, OLD.status),
            HINT = 'Create a new draft version with the changed rules and publish it.';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'draft' AND NEW.status IN ('published', 'archived'))
        OR (OLD.status = 'published' AND NEW.status = 'archived')) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'integrity_constraint_violation',
            CONSTRAINT = TG_NAME,
            MESSAGE = format('policy version %s cannot go from %s to %s', OLD.policy_version_id, OLD.status, NEW.status),
            HINT = 'Allowed: draft -> published -> archived, or draft -> archived.';
    END IF;
    RETURN NEW;
END
$fn$;

CREATE TRIGGER xp_policy_versions_freeze
    BEFORE UPDATE OR DELETE ON xp_policy_versions
    FOR EACH ROW EXECUTE FUNCTION xp_policy_versions_freeze();

-- The rule rows of a version (curve, boosts, overrides) are frozen with it.
CREATE FUNCTION xp_policy_rules_freeze() RETURNS trigger
    LANGUAGE plpgsql AS
$fn$
DECLARE
    frozen xp_policy_versions%ROWTYPE;
BEGIN
    -- OLD is NULL for INSERT and NEW for DELETE; an UPDATE may move a row between versions, so
    -- both ends must be drafts. No row found: the version is being deleted (a cascade from a
    -- draft) or does not exist (the foreign key reports that).
    -- FOR SHARE first: a concurrent publish (UPDATE of the version row) then waits for this
    -- transaction, or this one waits for it and sees the new status. The foreign key's own
    -- FOR KEY SHARE lock would not conflict with that UPDATE, letting a rule slip into a
    -- version published at the same moment.
    PERFORM FROM xp_policy_versions
      WHERE policy_version_id IN (OLD.policy_version_id, NEW.policy_version_id)
        FOR SHARE;
    SELECT * INTO frozen FROM xp_policy_versions
     WHERE status <> 'draft' AND policy_version_id IN (OLD.policy_version_id, NEW.policy_version_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'integrity_constraint_violation',
            CONSTRAINT = TG_NAME,
            MESSAGE = format('%s: policy version %s is %s and its rules are immutable',
                             TG_TABLE_NAME, frozen.policy_version_id, frozen.status),
            HINT = 'Create a new draft version with the changed rules and publish it.';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$fn$;

CREATE TRIGGER xp_policy_streak_curve_freeze
    BEFORE INSERT OR UPDATE OR DELETE ON xp_policy_streak_curve
    FOR EACH ROW EXECUTE FUNCTION xp_policy_rules_freeze();
CREATE TRIGGER xp_policy_seasonal_boosts_freeze
    BEFORE INSERT OR UPDATE OR DELETE ON xp_policy_seasonal_boosts
    FOR EACH ROW EXECUTE FUNCTION xp_policy_rules_freeze();
CREATE TRIGGER xp_policy_segment_overrides_freeze
    BEFORE INSERT OR UPDATE OR DELETE ON xp_policy_segment_overrides
    FOR EACH ROW EXECUTE FUNCTION xp_policy_rules_freeze();

COMMENT ON TABLE xp_policies IS
    'An XP policy: the stable identity of a set of award rules; its rules live in numbered versions.';
COMMENT ON COLUMN xp_policies.policy_key IS
    'Stable lower_snake_case key the game code refers to (e.g. ''default''); never reused.';
COMMENT ON TABLE xp_policy_versions IS
    'Immutable numbered versions of a policy''s rules; a version is edited only while status = ''draft''.';
COMMENT ON COLUMN xp_policy_versions.version IS 'Version number within the policy, from 1; unique per policy.';
COMMENT ON COLUMN xp_policy_versions.status IS
    'draft (editable), published (in force; at most one per policy), archived (kept for history).';
COMMENT ON COLUMN xp_policy_versions.base_xp IS 'XP granted for a qualifying claim before multipliers.';
COMMENT ON COLUMN xp_policy_versions.max_xp_per_claim IS 'Upper bound on one claim after multipliers; NULL = uncapped.';
COMMENT ON COLUMN xp_policy_versions.max_xp_per_day IS 'Upper bound per player per UTC day; NULL = uncapped.';
COMMENT ON COLUMN xp_policy_versions.effective_from IS
    'Start of the window in which awards are attributed to this version (inclusive; may be -infinity). '
    'Where windows of a policy''s versions overlap, the higher version number applies.';
COMMENT ON COLUMN xp_policy_versions.effective_to IS 'End of that window (exclusive); NULL = open-ended.';
COMMENT ON COLUMN xp_policy_versions.published_at IS 'When the version left draft; required unless draft.';
COMMENT ON TABLE xp_policy_streak_curve IS
    'Multiplier per consecutive-day streak; a day without a row uses the multiplier of the nearest '
    'lower day that has one (so days past the last row use the last row''s).';
COMMENT ON COLUMN xp_policy_streak_curve.streak_day IS 'Length of the player''s streak in days, from 1.';
COMMENT ON TABLE xp_policy_seasonal_boosts IS
    'Time-boxed multipliers (events, seasons); boosts of one version never overlap.';
COMMENT ON COLUMN xp_policy_seasonal_boosts.starts_at IS 'Boost window start (inclusive).';
COMMENT ON COLUMN xp_policy_seasonal_boosts.ends_at IS 'Boost window end (exclusive).';
COMMENT ON TABLE xp_policy_segment_overrides IS
    'Per player-segment adjustments of a version (e.g. new players, VIPs).';
COMMENT ON COLUMN xp_policy_segment_overrides.segment_key IS 'Player segment the override applies to.';
COMMENT ON COLUMN xp_policy_segment_overrides.base_xp IS 'Replaces the version''s base_xp; NULL = inherit.';
COMMENT ON COLUMN xp_policy_segment_overrides.multiplier IS 'Extra multiplier for the segment (1 = none).';
COMMENT ON COLUMN xp_policy_segment_overrides.max_xp_per_day IS
    'Replaces the version''s daily cap for the segment; NULL = inherit.';
COMMENT ON FUNCTION xp_policy_versions_freeze() IS
    'Trigger: non-draft policy versions are immutable and move only draft -> published -> archived.';
COMMENT ON FUNCTION xp_policy_rules_freeze() IS
    'Trigger: curve, boost and override rows of a non-draft policy version are immutable.';

-- Why dropping is safe: the guard at the top proved xp_rules empty under ACCESS EXCLUSIVE, and
-- the tables above replace it.
-- squawk-ignore ban-drop-table
DROP TABLE xp_rules;
