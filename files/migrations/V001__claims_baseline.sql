-- V001 claims baseline: the XP claims schema that production already runs.
--
-- xp_awards holds one row per granted claim; the unique idempotency key is what makes a claim
-- grant-once (the claim path is INSERT ... ON CONFLICT (idempotency_key) DO NOTHING).
-- xp_rules holds the legacy hard-coded rules that V002 replaces with policy as data.
--
-- Databases that already have this schema are adopted with pg_migrate_baseline_version=001
-- instead of running this file.
--
-- Lint: the runner sets lock_timeout and statement_timeout for every migration it runs
-- (pg_migrate_lock_timeout, pg_migrate_statement_timeout); by hand use PGOPTIONS='-c lock_timeout=2s'.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- Lint: the integer columns hold bounded quantities (XP amounts, caps, streak days, version
-- numbers), never identifiers; every identifier column is bigint.
-- squawk-ignore-file prefer-bigint-over-int

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

CREATE TABLE xp_awards (
    award_id         bigint GENERATED ALWAYS AS IDENTITY,
    player_id        uuid        NOT NULL,
    amount           integer     NOT NULL,
    reason           text        NOT NULL,
    idempotency_key  text        NOT NULL,
    awarded_at       timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT xp_awards_pkey PRIMARY KEY (award_id),
    CONSTRAINT xp_awards_idempotency_key_key UNIQUE (idempotency_key),
    CONSTRAINT xp_awards_amount_positive CHECK (amount > 0),
    CONSTRAINT xp_awards_amount_max CHECK (amount <= 1000000),
    CONSTRAINT xp_awards_reason_not_blank CHECK (btrim(reason) <> ''),
    CONSTRAINT xp_awards_idempotency_key_length CHECK (length(idempotency_key) BETWEEN 1 AND 200)
);

-- "XP history of a player, newest first" is the hot read path.
CREATE INDEX xp_awards_player_awarded_at_idx ON xp_awards (player_id, awarded_at DESC);

COMMENT ON TABLE xp_rules IS
    'Legacy XP rules (one fixed amount per rule key); replaced by the xp_policy_* tables in V002.';
COMMENT ON TABLE xp_awards IS
    'One row per granted XP claim. Rows are never updated or deleted by the application.';
COMMENT ON COLUMN xp_awards.idempotency_key IS
    'Client-supplied key that makes a claim grant-once: a retried claim with the same key is ignored.';
COMMENT ON COLUMN xp_awards.awarded_at IS
    'When the XP was earned (game time); created_at is when the row was written.';
