-- Orders. Single-file layout (dbmate).

-- migrate:up
CREATE TABLE orders (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
    status VARCHAR(64) NOT NULL DEFAULT 'new',
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- migrate:down
-- migrate:archive
DROP TABLE orders;
