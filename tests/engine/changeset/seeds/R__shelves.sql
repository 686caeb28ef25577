-- Reference data: the shelves every library has (repeatable: runs again when it changes).
INSERT INTO shelves (shelf_id, label) VALUES (1, 'fiction'), (2, 'reference')
ON CONFLICT (shelf_id) DO UPDATE SET label = excluded.label;
