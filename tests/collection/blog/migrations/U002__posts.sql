-- U002 revert of V002: drops the posts table (and its index).
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
DROP TABLE posts;
