-- MySQL will not drop an index a foreign key uses; dropping the table drops both.
-- migrate:archive
DROP TABLE audit_log;
