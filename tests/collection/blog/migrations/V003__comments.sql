-- V003 comments: what users say about a post; they go when their post goes.
--
-- Lint: pg_migrate sets lock_timeout and statement_timeout for every migration it runs.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
CREATE TABLE comments (
    comment_id  bigint GENERATED ALWAYS AS IDENTITY,
    post_id     bigint      NOT NULL,
    author_id   bigint      NOT NULL,
    body        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT comments_pkey PRIMARY KEY (comment_id),
    CONSTRAINT comments_post_id_fkey FOREIGN KEY (post_id) REFERENCES posts (post_id) ON DELETE CASCADE,
    CONSTRAINT comments_author_id_fkey FOREIGN KEY (author_id) REFERENCES users (user_id),
    CONSTRAINT comments_body_not_blank CHECK (btrim(body) <> '')
);

-- "The comments of a post, oldest first" is the post page.
CREATE INDEX comments_post_id_created_at_idx ON comments (post_id, created_at);
