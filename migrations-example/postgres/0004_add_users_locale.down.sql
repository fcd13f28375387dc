-- The locale users chose since the up ran is kept and comes back with the column.
-- migrate:archive
ALTER TABLE users DROP COLUMN locale;
