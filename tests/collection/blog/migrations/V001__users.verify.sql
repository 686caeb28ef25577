-- Verify V001: the users table and its unique e-mail address exist (raises otherwise).
SELECT user_id, email, name, created_at FROM users WHERE false;

DO $verify$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'users'::regclass AND conname = 'users_email_key' AND contype = 'u') THEN
        RAISE EXCEPTION 'V001 not in effect: unique constraint users_email_key is missing';
    END IF;
END
$verify$;
