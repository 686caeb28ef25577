-- pg_migrate:no-transaction
-- U005 revert of the index: DROP INDEX CONCURRENTLY does not block claim writes, and cannot run
-- inside a transaction block, hence the marker on the first line.
--
-- Lint: the runner sets lock_timeout and statement_timeout for every migration it runs
-- (pg_migrate_lock_timeout, pg_migrate_statement_timeout); by hand use PGOPTIONS='-c lock_timeout=2s'.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- The concurrent drop waits for every transaction that holds a lock on xp_awards (a busy table
-- always has some); its waits block no claim, so a long lock_timeout is safe (see V005).
SET lock_timeout = '10min';
DROP INDEX CONCURRENTLY IF EXISTS xp_awards_policy_version_id_idx;
