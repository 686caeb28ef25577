-- V002 posts: what users publish; a post without published_at is a draft.
--
-- Lint: pg_migrate sets lock_timeout and statement_timeout for every migration it runs.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
CREATE TABLE posts (
    post_id       bigint GENERATED ALWAYS AS IDENTITY,
    author_id     bigint      NOT NULL,
    title         text        NOT NULL,
    body          text        NOT NULL DEFAULT '',
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT posts_pkey PRIMARY KEY (post_id),
    CONSTRAINT posts_author_id_fkey FOREIGN KEY (author_id) REFERENCES users (user_id),
    CONSTRAINT posts_title_not_blank CHECK (btrim(title) <> '')
);

-- "A user's posts, newest first" is the author page.
CREATE INDEX posts_author_id_created_at_idx ON posts (author_id, created_at DESC);
