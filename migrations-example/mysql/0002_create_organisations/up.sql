-- Organisations and who belongs to them. Directory layout (diesel).
CREATE TABLE organisations (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE memberships (
    user_id BIGINT NOT NULL REFERENCES users (id),
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    role VARCHAR(64) NOT NULL DEFAULT 'member',
    PRIMARY KEY (user_id, organisation_id)
);
