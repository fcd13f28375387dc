-- Split users.name into first_name and last_name (expand).
-- Only adds: the running application still reads and writes users.name.
ALTER TABLE users ADD COLUMN first_name TEXT;
ALTER TABLE users ADD COLUMN last_name TEXT;

-- Backfill the new columns from the old one; "Ada Lovelace" -> "Ada", "Lovelace".
UPDATE users SET
    first_name = SUBSTRING_INDEX(name, ' ', 1),
    last_name = CASE WHEN LOCATE(' ', name) > 0 THEN SUBSTRING(name, LOCATE(' ', name) + 1) ELSE '' END;
