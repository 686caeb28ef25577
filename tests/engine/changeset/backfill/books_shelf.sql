-- One batch of the backfill protocol (docs/backfill.md): link books to the shelf named by their genre, along
-- the book_id cursor; books whose genre has no shelf yet are blocked.
WITH batch AS (
    -- The protocol's two settings read in place (no settings CTE): any shape of query will do.
    SELECT b.book_id, s.shelf_id
      FROM books AS b JOIN shelves AS s ON s.label = b.genre
     WHERE b.shelf_id IS NULL
       AND b.book_id > coalesce(nullif(current_setting('pg_migrate.after', true), '')::bigint, 0)
     ORDER BY b.book_id
     LIMIT current_setting('pg_migrate.batch_size')::integer
       FOR UPDATE OF b SKIP LOCKED
),
changed AS (
    UPDATE books AS b SET shelf_id = batch.shelf_id
      FROM batch WHERE b.book_id = batch.book_id
    RETURNING b.book_id
)
SELECT count(*) AS done,
       max(book_id) AS last_key,
       (SELECT count(*) FROM books AS b
         WHERE b.shelf_id IS NULL AND NOT EXISTS (SELECT 1 FROM shelves AS s WHERE s.label = b.genre)) AS blocked
  FROM changed;
