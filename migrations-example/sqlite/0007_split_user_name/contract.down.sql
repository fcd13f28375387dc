-- migrate:allow down-not-inverse: SQLite cannot add a NOT NULL column without a default, and cannot drop a default afterwards; the default '' only shows for rows inserted without a name

-- Bring users.name back for the old application. Archived names are restored;
-- users created since get theirs rebuilt from the new columns.
ALTER TABLE users ADD COLUMN name TEXT NOT NULL DEFAULT '';
UPDATE users SET name = trim(coalesce(first_name, '') || ' ' || coalesce(last_name, ''));
