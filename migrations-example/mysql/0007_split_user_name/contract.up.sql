-- Split users.name (contract): run once no instance of the old application is left.
-- migrate:archive
ALTER TABLE users DROP COLUMN name;
