DO $$
BEGIN
    IF to_regclass('books_title_idx') IS NULL THEN
        RAISE EXCEPTION 'V003 not in effect: no index books_title_idx';
    END IF;
END $$;
