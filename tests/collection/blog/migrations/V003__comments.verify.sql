-- Verify V003: the comments table and its foreign keys exist (raises otherwise).
SELECT comment_id, post_id, author_id, body, created_at FROM comments WHERE false;

DO $verify$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'comments'::regclass AND conname = 'comments_post_id_fkey'
                     AND contype = 'f' AND confdeltype = 'c') THEN
        RAISE EXCEPTION 'V003 not in effect: foreign key comments_post_id_fkey (ON DELETE CASCADE) is missing';
    END IF;
END
$verify$;
