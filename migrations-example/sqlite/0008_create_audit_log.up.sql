CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    user_id INTEGER REFERENCES users (id),
    action TEXT NOT NULL,
    detail TEXT,
    at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX audit_log_user_id_idx ON audit_log (user_id);
