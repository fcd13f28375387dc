-- The new application may have written names since: keep them.
-- migrate:archive
ALTER TABLE users DROP COLUMN last_name;
-- migrate:archive
ALTER TABLE users DROP COLUMN first_name;
