-- pg_migrate:no-transaction
DROP INDEX CONCURRENTLY books_title_idx;
