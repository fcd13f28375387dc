-- migrate:archive
DROP TABLE memberships;

-- migrate:archive
DROP TABLE organisations;
