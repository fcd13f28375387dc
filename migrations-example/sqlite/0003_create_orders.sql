-- Orders. Single-file layout (dbmate).

-- migrate:up
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    organisation_id INTEGER NOT NULL REFERENCES organisations (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
    status TEXT NOT NULL DEFAULT 'new',
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- migrate:down
-- migrate:archive
DROP TABLE orders;
