-- The history rows, or a marker when the table does not exist (yet). Run with psql.
SELECT to_regclass('pg_migrate_history') IS NOT NULL AS has_history \gset
\if :has_history
SELECT concat_ws('|', version, script, checksum, kind, success) FROM pg_migrate_history ORDER BY installed_rank;
\else
SELECT '(no history table)';
\endif
