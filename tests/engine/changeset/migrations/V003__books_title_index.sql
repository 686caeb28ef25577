-- pg_migrate:no-transaction
-- Built without blocking writes to books: CONCURRENTLY cannot run inside a transaction.
CREATE INDEX CONCURRENTLY books_title_idx ON books (title);
