-- The books; a book's shelf is filled in later from its genre (backfill/books_shelf.sql).
CREATE TABLE books (
    book_id  bigint PRIMARY KEY,
    title    text NOT NULL,
    genre    text NOT NULL,
    shelf_id bigint REFERENCES shelves (shelf_id)
);
