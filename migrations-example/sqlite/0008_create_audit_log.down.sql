DROP INDEX audit_log_user_id_idx;
-- migrate:archive
DROP TABLE audit_log;
