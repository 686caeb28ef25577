-- pg_migrate:no-transaction
-- U005 revert of the index: DROP INDEX CONCURRENTLY does not block claim writes, and cannot run
-- inside a transaction block, hence the marker on the first line.
DROP INDEX CONCURRENTLY IF EXISTS xp_awards_policy_version_id_idx;
