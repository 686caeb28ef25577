DO $$
BEGIN
    IF to_regclass('books') IS NULL THEN
        RAISE EXCEPTION 'V002 not in effect: no table books';
    END IF;
END $$;
