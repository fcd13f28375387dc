//! `migrate database create` / `drop`: the database a URL names, made or
//! removed through the server's maintenance database (PostgreSQL's
//! `postgres`, MySQL's server connection), or the file (SQLite).

use std::time::Duration;

use super::conn::{Conn, query};
use super::{Backend, ConnectOptions, Driver, connect_raw, normalize_url, sqlite};
use crate::error::Error;
use crate::redact::{redact_url, secrets_of};

/// The database's name and a URL of the server without it.
fn split_database(backend: Backend, url: &str) -> Result<(String, String), Error> {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let Some(slash) = base[authority_start..]
        .find('/')
        .map(|i| i + authority_start)
    else {
        return Err(Error::BadInput(format!(
            "{} names no database: add /NAME to its path",
            redact_url(url)
        )));
    };
    let name = base[slash + 1..].to_string();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Error::BadInput(format!(
            "database name `{name}` in {}: migrate creates and drops only names of letters, digits, `_` and `-`",
            redact_url(url)
        )));
    }
    let server = match backend {
        Backend::Postgres => format!("{}/postgres", &base[..slash]),
        Backend::Mysql | Backend::Sqlite => base[..slash].to_string(),
    };
    let server = match query {
        Some(q) => format!("{server}?{q}"),
        None => server,
    };
    Ok((name, server))
}

async fn server(backend: Backend, url: &str, timeout: Duration) -> Result<Conn, Error> {
    let url = normalize_url(backend, url)?;
    connect_raw(
        backend,
        &url,
        None,
        &redact_url(&url),
        &secrets_of(&url),
        timeout,
    )
    .await
}

fn quoted(backend: Backend, name: &str) -> String {
    match backend {
        Backend::Mysql => format!("`{name}`"),
        Backend::Postgres | Backend::Sqlite => format!("\"{name}\""),
    }
}

/// Whether the database exists.
pub async fn database_exists(url: &str, options: &ConnectOptions) -> Result<bool, Error> {
    let backend = Backend::from_url(url)?;
    if backend == Backend::Sqlite {
        return Ok(sqlite::file_path(url).is_none_or(|p| p.exists()));
    }
    let (name, server_url) = split_database(backend, url)?;
    let mut conn = server(backend, &server_url, options.connect_timeout).await?;
    let sql = match backend {
        Backend::Postgres => "SELECT CAST(COUNT(*) AS BIGINT) FROM pg_database WHERE datname = $1",
        Backend::Mysql | Backend::Sqlite => {
            "SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.schemata WHERE schema_name = ?"
        }
    };
    let n: i64 = query(sql)
        .bind(name.as_str())
        .scalar(&mut conn)
        .await
        .map_err(|e| Error::Database {
            url: redact_url(url),
            doing: "looking for the database".into(),
            message: e.to_string(),
            cause: Some(crate::error::Cause::new(e)),
        })?;
    conn.close().await.ok();
    Ok(n > 0)
}

/// Creates the database the URL names. `Ok(false)`: it existed already.
pub async fn create_database(url: &str, options: &ConnectOptions) -> Result<bool, Error> {
    if database_exists(url, options).await? {
        return Ok(false);
    }
    let backend = Backend::from_url(url)?;
    if backend == Backend::Sqlite {
        // Connecting creates the file (mode=rwc).
        Driver::connect(url, options).await?.close().await;
        return Ok(true);
    }
    let (name, server_url) = split_database(backend, url)?;
    let mut conn = server(backend, &server_url, options.connect_timeout).await?;
    conn.execute_raw(&format!("CREATE DATABASE {}", quoted(backend, &name)))
        .await
        .map_err(|e| Error::Database {
            url: redact_url(url),
            doing: "creating the database".into(),
            message: e.to_string(),
            cause: Some(crate::error::Cause::new(e)),
        })?;
    conn.close().await.ok();
    Ok(true)
}

/// Whether the database holds a migrate history (`<prefix>applied`).
pub async fn has_history(url: &str, options: &ConnectOptions) -> Result<bool, Error> {
    let mut driver = Driver::connect(url, options).await?;
    let found = driver.read_history_summary().await;
    driver.close().await;
    Ok(found?.is_some())
}

/// Drops the database the URL names. `Ok(false)`: it did not exist.
pub async fn drop_database(url: &str, options: &ConnectOptions) -> Result<bool, Error> {
    if !database_exists(url, options).await? {
        return Ok(false);
    }
    let backend = Backend::from_url(url)?;
    if let Some(path) = sqlite::file_path(url).filter(|_| backend == Backend::Sqlite) {
        for p in [
            path.clone(),
            format!("{}-wal", path.display()).into(),
            format!("{}-shm", path.display()).into(),
            format!("{}-journal", path.display()).into(),
            format!("{}.migrate-lock", path.display()).into(),
        ] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::BadInput(format!(
                        "cannot remove {}: {e}",
                        p.display()
                    )));
                }
            }
        }
        return Ok(true);
    }
    let (name, server_url) = split_database(backend, url)?;
    let mut conn = server(backend, &server_url, options.connect_timeout).await?;
    conn.execute_raw(&format!("DROP DATABASE {}", quoted(backend, &name)))
        .await
        .map_err(|e| Error::Database {
            url: redact_url(url),
            doing: "dropping the database".into(),
            message: e.to_string(),
            cause: Some(crate::error::Cause::new(e)),
        })?;
    conn.close().await.ok();
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_url_without_the_database() {
        let (n, s) = split_database(
            Backend::Postgres,
            "postgres://u:p@h:5432/app?sslmode=disable",
        )
        .unwrap();
        assert_eq!(
            (n.as_str(), s.as_str()),
            ("app", "postgres://u:p@h:5432/postgres?sslmode=disable")
        );
        let (n, s) = split_database(Backend::Mysql, "mysql://root@h/app").unwrap();
        assert_eq!((n.as_str(), s.as_str()), ("app", "mysql://root@h"));
        assert!(split_database(Backend::Mysql, "mysql://root@h").is_err());
        assert!(split_database(Backend::Postgres, "postgres://h/a;b").is_err());
    }
}
