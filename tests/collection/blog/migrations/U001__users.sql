-- U001 revert of V001: drops the users table.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
DROP TABLE users;
