-- Reverting the first migration removes the application's users: keep them.
-- migrate:archive
DROP TABLE users;
