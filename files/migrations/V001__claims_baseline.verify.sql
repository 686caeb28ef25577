-- Verify V001: the claims tables, their keys and the player look-up index exist.
DO $verify$
BEGIN
    IF to_regclass('xp_awards') IS NULL THEN
        RAISE EXCEPTION 'V001 not in effect: table xp_awards is missing';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'xp_awards'::regclass AND conname = 'xp_awards_idempotency_key_key'
                     AND contype = 'u') THEN
        RAISE EXCEPTION 'V001 not in effect: unique constraint xp_awards_idempotency_key_key is missing';
    END IF;
    IF to_regclass('xp_awards_player_awarded_at_idx') IS NULL THEN
        RAISE EXCEPTION 'V001 not in effect: index xp_awards_player_awarded_at_idx is missing';
    END IF;
END
$verify$;
