-- Split users.name into first_name and last_name (expand).
-- Only adds: the running application still reads and writes users.name.
ALTER TABLE users ADD COLUMN first_name TEXT;
ALTER TABLE users ADD COLUMN last_name TEXT;

-- Backfill the new columns from the old one; "Ada Lovelace" -> "Ada", "Lovelace".
UPDATE users SET
    first_name = CASE WHEN instr(name, ' ') > 0 THEN substr(name, 1, instr(name, ' ') - 1) ELSE name END,
    last_name = CASE WHEN instr(name, ' ') > 0 THEN substr(name, instr(name, ' ') + 1) ELSE '' END;
