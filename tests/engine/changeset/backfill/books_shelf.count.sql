SELECT count(*) AS remaining,
       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM shelves AS s WHERE s.label = b.genre)) AS blocked,
       (SELECT max(book_id) FROM books) AS high_water
  FROM books AS b
 WHERE b.shelf_id IS NULL;
