-- The shelves of a small library: where a book stands.
CREATE TABLE shelves (
    shelf_id bigint PRIMARY KEY,
    label    text NOT NULL UNIQUE CHECK (label <> '')
);
