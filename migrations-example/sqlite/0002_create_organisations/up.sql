-- Organisations and who belongs to them. Directory layout (diesel).
CREATE TABLE organisations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE memberships (
    user_id INTEGER NOT NULL REFERENCES users (id),
    organisation_id INTEGER NOT NULL REFERENCES organisations (id),
    role TEXT NOT NULL DEFAULT 'member',
    PRIMARY KEY (user_id, organisation_id)
);
