DO $$
BEGIN
    IF to_regclass('shelves') IS NULL THEN
        RAISE EXCEPTION 'V001 not in effect: no table shelves';
    END IF;
END $$;
