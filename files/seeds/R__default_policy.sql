-- Seed: the default XP policy, published as version 1. Idempotent: safe to apply any number of times
-- (applying it twice leaves exactly what applying it once does). Needs V002.
--
-- Upsert semantics, as far as policy-as-data allows:
-- * the policy row (key 'default') is inserted, or its display name/description brought up to date;
-- * version 1 and its rule rows are created only when the policy has no version at all. Published
--   versions are immutable (see V002), so later changes to the default policy are new versions made
--   by the game team, never edits by this seed.
-- Version 1 is in effect from -infinity, so every historical award falls in its window and the
-- backfill (files/backfill/) can link it.

DO $seed$
DECLARE
    default_policy_id  bigint;
    version_id         bigint;
BEGIN
    -- Two seed runs at once would both see "no version yet"; serialise them.
    PERFORM pg_advisory_xact_lock(hashtext('xp_seed:default_policy'));

    INSERT INTO xp_policies AS p (policy_key, display_name, description)
    VALUES ('default', 'Default XP policy',
            'Policy applied to every claim unless a more specific policy says otherwise.')
    ON CONFLICT (policy_key) DO UPDATE
        SET display_name = EXCLUDED.display_name, description = EXCLUDED.description
        WHERE (p.display_name, p.description) IS DISTINCT FROM (EXCLUDED.display_name, EXCLUDED.description)
    RETURNING policy_id INTO default_policy_id;

    IF default_policy_id IS NULL THEN  -- the row existed and was already up to date
        SELECT policy_id INTO default_policy_id FROM xp_policies WHERE policy_key = 'default';
    END IF;

    IF EXISTS (SELECT 1 FROM xp_policy_versions WHERE policy_id = default_policy_id) THEN
        RAISE NOTICE 'seed: the default policy already has versions; nothing to add';
        RETURN;
    END IF;

    -- Rules are written while the version is a draft, then it is published: the freeze triggers
    -- only allow changes to drafts.
    INSERT INTO xp_policy_versions (policy_id, version, status, base_xp, max_xp_per_claim, max_xp_per_day,
                                    effective_from, effective_to)
    VALUES (default_policy_id, 1, 'draft', 100, 1000, 5000, '-infinity', NULL)
    RETURNING policy_version_id INTO version_id;

    INSERT INTO xp_policy_streak_curve (policy_version_id, streak_day, multiplier)
    VALUES (version_id, 1, 1.000), (version_id, 2, 1.100), (version_id, 3, 1.200),
           (version_id, 5, 1.500), (version_id, 7, 2.000);

    INSERT INTO xp_policy_segment_overrides (policy_version_id, segment_key, base_xp, multiplier, max_xp_per_day)
    VALUES (version_id, 'new_player', NULL, 1.500, NULL),
           (version_id, 'vip', NULL, 1.200, 7500);

    UPDATE xp_policy_versions SET status = 'published', published_at = now()
     WHERE policy_version_id = version_id;

    RAISE NOTICE 'seed: default policy version 1 published (policy_version_id %)', version_id;
END
$seed$;
