-- Verify V002: the posts table, its author foreign key and the author index exist (raises otherwise).
SELECT post_id, author_id, title, body, published_at, created_at FROM posts WHERE false;

DO $verify$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'posts'::regclass AND conname = 'posts_author_id_fkey' AND contype = 'f') THEN
        RAISE EXCEPTION 'V002 not in effect: foreign key posts_author_id_fkey is missing';
    END IF;
    IF to_regclass('posts_author_id_created_at_idx') IS NULL THEN
        RAISE EXCEPTION 'V002 not in effect: index posts_author_id_created_at_idx is missing';
    END IF;
END
$verify$;
