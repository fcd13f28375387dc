//! MySQL and MariaDB specifics: `GET_LOCK`, `lock_wait_timeout`, history DDL.
//! DDL commits implicitly here, so stages are never transactional.

use std::time::Duration;

use super::conn::{Conn, query};
use sqlx::error::DatabaseError;

use super::Tables;

/// Lock names are global to the server: the database name is part of it.
fn lock_name_sql() -> &'static str {
    "CONCAT('migrate:', COALESCE(DATABASE(), ''), ':', ?)"
}

pub(super) fn session_setup(lock_timeout: Duration) -> Vec<String> {
    let secs = lock_timeout.as_secs().max(1);
    vec![
        format!("SET SESSION lock_wait_timeout = {secs}"),
        format!("SET SESSION innodb_lock_wait_timeout = {secs}"),
    ]
}

#[cfg(feature = "mysql")]
fn number(e: &dyn DatabaseError) -> Option<u16> {
    e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(|m| m.number())
}

#[cfg(not(feature = "mysql"))]
fn number(_: &dyn DatabaseError) -> Option<u16> {
    None
}

pub(super) fn is_lock_timeout(e: &dyn DatabaseError) -> bool {
    // ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK
    matches!(number(e), Some(1205) | Some(1213))
}

pub(super) fn is_missing_table(e: &dyn DatabaseError) -> bool {
    number(e) == Some(1146)
}

pub(super) async fn try_lock(conn: &mut Conn, prefix: &str) -> Result<bool, sqlx::Error> {
    let got: Option<i64> = query(format!("SELECT GET_LOCK({}, 0)", lock_name_sql()))
        .bind(prefix)
        .scalar(conn)
        .await?;
    Ok(got == Some(1))
}

pub(super) async fn unlock(conn: &mut Conn, prefix: &str) -> Result<(), sqlx::Error> {
    query(format!("SELECT RELEASE_LOCK({})", lock_name_sql()))
        .bind(prefix)
        .execute(conn)
        .await
        .map(|_| ())
}

pub(super) async fn lock_holder(conn: &mut Conn, prefix: &str) -> Option<String> {
    let row = query(format!(
        "SELECT CAST(p.ID AS SIGNED) AS id, p.USER AS usr, p.HOST AS host, CAST(p.TIME AS SIGNED) AS secs \
         FROM information_schema.PROCESSLIST p WHERE p.ID = IS_USED_LOCK({})",
        lock_name_sql()
    ))
    .bind(prefix)
    .fetch_optional(conn)
    .await
    .ok()??;
    let id: i64 = row.try_get("id").ok()?;
    let user: String = row.try_get("usr").ok()?;
    let host: String = row.try_get("host").ok()?;
    Some(format!("connection {id} (user {user} from {host})"))
}

pub(super) fn history_ddl(t: &Tables) -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {} (version BIGINT NOT NULL, stage VARCHAR(16) NOT NULL, name TEXT NOT NULL, \
             up_checksum VARCHAR(100) NOT NULL, down_sql LONGTEXT, down_checksum VARCHAR(100), down_path TEXT, \
             applied_at VARCHAR(40) NOT NULL, applied_by TEXT NOT NULL, duration_ms BIGINT NOT NULL, seq BIGINT NOT NULL, \
             state VARCHAR(16) NOT NULL, failed_direction VARCHAR(8), statements_done BIGINT, error TEXT, \
             PRIMARY KEY (version, stage)) DEFAULT CHARSET = utf8mb4",
            t.applied
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (id BIGINT AUTO_INCREMENT PRIMARY KEY, run_id VARCHAR(64) NOT NULL, \
             at VARCHAR(40) NOT NULL, actor TEXT NOT NULL, action VARCHAR(32) NOT NULL, version BIGINT, stage VARCHAR(16), \
             outcome VARCHAR(16) NOT NULL, detail TEXT, duration_ms BIGINT) DEFAULT CHARSET = utf8mb4",
            t.events
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (name VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL) DEFAULT CHARSET = utf8mb4",
            t.meta
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (id BIGINT PRIMARY KEY, version BIGINT NOT NULL, stage VARCHAR(16) NOT NULL, direction VARCHAR(8) NOT NULL, \
             table_sql TEXT NOT NULL, table_name TEXT NOT NULL, column_name TEXT, archive_table VARCHAR(128) NOT NULL, key_columns TEXT NOT NULL, \
             row_count BIGINT NOT NULL, created_at VARCHAR(40) NOT NULL, restored_at VARCHAR(40), restored_rows BIGINT) DEFAULT CHARSET = utf8mb4",
            t.archives
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (name VARCHAR(200) PRIMARY KEY, state LONGTEXT NOT NULL, note TEXT, kind VARCHAR(16) NOT NULL, created_at VARCHAR(40) NOT NULL, created_by TEXT NOT NULL) DEFAULT CHARSET = utf8mb4",
            t.checkpoints
        ),
    ]
}
