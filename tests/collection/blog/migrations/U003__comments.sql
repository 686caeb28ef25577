-- U003 revert of V003: drops the comments table (and its index).
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
DROP TABLE comments;
