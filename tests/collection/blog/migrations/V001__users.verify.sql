-- Verify V001: the users table and its unique e-mail address exist (raises otherwise).
SELECT user_id, email, name, created_at FROM users WHERE false;

DO $verify$
DECLARE
    unique_email text;
BEGIN
    SELECT conname INTO unique_email
      FROM pg_constraint
     WHERE conrelid = 'users'::regclass AND contype = 'u' AND conname = 'users_email_key';
    IF unique_email IS NULL THEN
        RAISE EXCEPTION 'V001 not in effect: unique constraint users_email_key is missing';
    END IF;
END
$verify$;
