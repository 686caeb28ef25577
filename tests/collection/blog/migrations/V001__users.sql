-- V001 users: the people who write posts and comments.
--
-- Lint: pg_migrate sets lock_timeout and statement_timeout for every migration it runs.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
CREATE TABLE users (
    user_id     bigint GENERATED ALWAYS AS IDENTITY,
    email       text        NOT NULL,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (user_id),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_name_not_blank CHECK (btrim(name) <> '')
);
