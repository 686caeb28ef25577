-- One batch of the backfill protocol (docs/backfill.md): link books to the shelf named by their genre, along
-- the book_id cursor; books whose genre has no shelf yet are blocked.
WITH settings AS (
    SELECT coalesce(nullif(current_setting('pg_migrate.after', true), '')::bigint, 0) AS after_id,
           current_setting('pg_migrate.batch_size')::integer AS batch_size
),
batch AS (
    SELECT b.book_id, s.shelf_id
      FROM books AS b JOIN shelves AS s ON s.label = b.genre
     WHERE b.shelf_id IS NULL AND b.book_id > (SELECT after_id FROM settings)
     ORDER BY b.book_id
     LIMIT (SELECT batch_size FROM settings)
       FOR UPDATE OF b SKIP LOCKED
),
changed AS (
    UPDATE books AS b SET shelf_id = batch.shelf_id
      FROM batch WHERE b.book_id = batch.book_id
    RETURNING b.book_id
)
SELECT (SELECT count(*) FROM changed) AS done,
       (SELECT max(book_id) FROM changed) AS last_key,
       (SELECT count(*) FROM books AS b
         WHERE b.shelf_id IS NULL AND NOT EXISTS (SELECT 1 FROM shelves AS s WHERE s.label = b.genre)) AS blocked;
