//! PostgreSQL specifics: session advisory lock, `lock_timeout`, history DDL.

use std::time::Duration;

use super::conn::{Conn, query};

use super::Tables;
use crate::error::Error;

/// The schema a URL's `schema=NAME` parameter names (schema per tenant, as
/// Prisma and others spell it): migrate's tables and the migrations then
/// live there. Letters, digits and `_` only, so that the name needs no
/// escaping on its way into the session's `search_path`; case is kept.
pub(super) fn url_schema(url: &str) -> Result<Option<String>, Error> {
    let Some((_, query)) = url.split_once('?') else {
        return Ok(None);
    };
    let mut found = None;
    for pair in query.split('&') {
        let Some(value) = pair.strip_prefix("schema=") else {
            continue;
        };
        if value.is_empty()
            || value.len() > 63
            || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(Error::BadInput(format!(
                "the URL's schema `{value}` may hold only letters, digits and `_` (at most 63): name the tenant's schema that way"
            )));
        }
        if found.is_some() {
            return Err(Error::BadInput(
                "the URL names `schema=` twice: keep one".into(),
            ));
        }
        found = Some(value.to_string());
    }
    Ok(found)
}

/// `url` with its `schema=NAME` turned into the session's `search_path`
/// (`options[search_path]`, sent when the session starts, so a stage's
/// `RESET search_path` returns to it).
pub(super) fn schema_as_search_path(url: &str) -> Result<String, Error> {
    let Some(schema) = url_schema(url)? else {
        return Ok(url.to_string());
    };
    let (base, query) = url.split_once('?').expect("a schema is in the query");
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.starts_with("schema=") && !p.is_empty())
        .map(str::to_string)
        .collect();
    pairs.push(format!("options%5Bsearch_path%5D=%22{schema}%22"));
    Ok(format!("{base}?{}", pairs.join("&")))
}

/// Creates the URL's schema when it is missing.
pub(super) fn create_schema(schema: &str) -> String {
    format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")
}

/// The advisory lock key: stable per table prefix (and URL schema), below 2^31 so that it is
/// `objid` in `pg_locks` with `classid` 0.
pub(super) fn lock_key(scope: &str) -> i64 {
    // FNV-1a: stable across releases and platforms.
    let mut h: u32 = 0x811c9dc5;
    for b in format!("migrate:{scope}").bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x01000193);
    }
    i64::from(h & 0x7fff_ffff)
}

pub(super) fn session_setup(lock_timeout: Duration) -> Vec<String> {
    vec![
        format!("SET lock_timeout = '{}ms'", lock_timeout.as_millis().max(1)),
        // As psql running the file in a session of its own would see it: a
        // dump's `set_config('search_path', '', false)` ends with its stage.
        "RESET search_path".to_string(),
    ]
}

pub(super) fn is_lock_timeout(code: Option<&str>) -> bool {
    // lock_not_available; deadlock_detected is worth a retry as well.
    matches!(code, Some("55P03") | Some("40P01"))
}

pub(super) async fn try_lock(conn: &mut Conn, scope: &str) -> Result<bool, sqlx::Error> {
    query("SELECT pg_try_advisory_lock($1)")
        .bind(lock_key(scope))
        .scalar::<bool>(conn)
        .await
}

pub(super) async fn unlock(conn: &mut Conn, scope: &str) -> Result<(), sqlx::Error> {
    query("SELECT pg_advisory_unlock($1)")
        .bind(lock_key(scope))
        .execute(conn)
        .await
        .map(|_| ())
}

pub(super) async fn lock_holder(conn: &mut Conn, scope: &str) -> Option<String> {
    let row = query(
        "SELECT a.pid::bigint AS pid, COALESCE(a.usename::text, '') AS usr, COALESCE(a.application_name, '') AS app, \
         COALESCE(host(a.client_addr), 'local') AS addr, COALESCE(to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS'), '') AS since \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = $1 AND l.granted LIMIT 1",
    )
    .bind(lock_key(scope))
    .fetch_optional(conn)
    .await
    .ok()??;
    let pid: i64 = row.try_get("pid").ok()?;
    let user: String = row.try_get("usr").ok()?;
    let app: String = row.try_get("app").ok()?;
    let addr: String = row.try_get("addr").ok()?;
    let since: String = row.try_get("since").ok()?;
    Some(format!(
        "backend pid {pid} (user {user}, application `{app}`, from {addr}, connected since {since})"
    ))
}

pub(super) fn history_ddl(t: &Tables) -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {} (version BIGINT NOT NULL, stage TEXT NOT NULL, name TEXT NOT NULL, \
             up_checksum TEXT NOT NULL, down_sql TEXT, down_checksum TEXT, down_path TEXT, applied_at TEXT NOT NULL, \
             applied_by TEXT NOT NULL, duration_ms BIGINT NOT NULL, seq BIGINT NOT NULL, state TEXT NOT NULL, \
             failed_direction TEXT, statements_done BIGINT, error TEXT, PRIMARY KEY (version, stage))",
            t.applied
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, run_id TEXT NOT NULL, \
             at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, version BIGINT, stage TEXT, outcome TEXT NOT NULL, \
             detail TEXT, duration_ms BIGINT)",
            t.events
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            t.meta
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (id BIGINT PRIMARY KEY, version BIGINT NOT NULL, stage TEXT NOT NULL, direction TEXT NOT NULL, \
             table_sql TEXT NOT NULL, table_name TEXT NOT NULL, column_name TEXT, archive_table TEXT NOT NULL, key_columns TEXT NOT NULL, \
             row_count BIGINT NOT NULL, created_at TEXT NOT NULL, restored_at TEXT, restored_rows BIGINT)",
            t.archives
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (name TEXT PRIMARY KEY, state TEXT NOT NULL, note TEXT, kind TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT NOT NULL)",
            t.checkpoints
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_schema_becomes_the_sessions_search_path() {
        let url = "postgres://app:pw@db/saas?sslmode=disable&schema=tenant_42";
        assert_eq!(url_schema(url).unwrap().as_deref(), Some("tenant_42"));
        assert_eq!(
            schema_as_search_path(url).unwrap(),
            "postgres://app:pw@db/saas?sslmode=disable&options%5Bsearch_path%5D=%22tenant_42%22"
        );
        assert_eq!(
            schema_as_search_path("postgres://db/x").unwrap(),
            "postgres://db/x"
        );
        // Another table prefix or schema is another lock.
        assert_ne!(lock_key("_migrate_@a"), lock_key("_migrate_@b"));
        assert_ne!(lock_key("_migrate_@a"), lock_key("_migrate_"));
        for bad in ["a-b", "x%22", "", "a;drop"] {
            let e = url_schema(&format!("postgres://db/x?schema={bad}")).unwrap_err();
            assert!(
                e.is_input() && e.to_string().contains("letters, digits"),
                "{bad}: {e}"
            );
        }
        assert!(url_schema("postgres://db/x?schema=a&schema=b").is_err());
    }
}
