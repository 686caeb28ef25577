-- pg_migrate:no-transaction
-- V005 the awards -> policy link, step 3 of 3: index the foreign key column.
--
-- The first line above marks this migration non-transactional: CREATE INDEX CONCURRENTLY cannot
-- run inside a transaction block, so the runner executes each statement on its own (psql without
-- --single-transaction). CONCURRENTLY takes SHARE UPDATE EXCLUSIVE, so claims keep being written
-- while the index builds. The index serves the RESTRICT check when a policy version is deleted,
-- "awards under version X" reports, and the backfill's final sweep for awards still unlinked.
--
-- A failed concurrent build leaves an INVALID index behind; dropping it first makes a re-run of
-- this file repair that instead of skipping it (as IF NOT EXISTS would).
--
-- Lint: the runner sets lock_timeout and statement_timeout for every migration it runs
-- (pg_migrate_lock_timeout, pg_migrate_statement_timeout); by hand use PGOPTIONS='-c lock_timeout=2s'.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- A concurrent build also waits, under lock_timeout, for every transaction older than it in the
-- whole database; a short runner default (2 s) would make it fail on any busy server and leave an
-- INVALID index. Its waits block no claim (SHARE UPDATE EXCLUSIVE does not conflict with the
-- ROW EXCLUSIVE of inserts), so a long bound is safe here. The runner resets lock_timeout before
-- the next migration.
SET lock_timeout = '10min';
DROP INDEX CONCURRENTLY IF EXISTS xp_awards_policy_version_id_idx;
-- Why no IF NOT EXISTS: it would keep an INVALID leftover; the DROP above already made re-runs safe.
-- squawk-ignore prefer-robust-stmts
CREATE INDEX CONCURRENTLY xp_awards_policy_version_id_idx ON xp_awards (policy_version_id);
