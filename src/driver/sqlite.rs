//! SQLite specifics: an OS file lock beside the database file, the busy
//! timeout, history DDL.
//!
//! Why a file lock and not a long write transaction: a `no-transaction`
//! stage must run outside any transaction, and a lock held by a transaction
//! would have to be dropped for it. The kernel releases a file lock when the
//! process dies, so it cannot leak.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::Tables;

pub(super) fn normalize_url(url: &str) -> String {
    // Create the file if it is missing, as sqlx-cli does.
    let has_mode = url
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|p| p.starts_with("mode=")));
    if has_mode || url.contains(":memory:") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

pub(super) fn session_setup(lock_timeout: Duration) -> Vec<String> {
    vec![
        format!("PRAGMA busy_timeout = {}", lock_timeout.as_millis().max(1)),
        "PRAGMA foreign_keys = ON".to_string(),
    ]
}

pub(super) fn is_lock_timeout(code: Option<&str>) -> bool {
    // SQLITE_BUSY and SQLITE_LOCKED, with their extended codes.
    code.and_then(|c| c.parse::<i64>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// The database file of a URL; `None` for an in-memory database.
pub(super) fn file_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

/// The lock file of a file database; `None` for an in-memory one (private
/// to this process, so nothing to lock).
pub(super) fn lock_path(url: &str) -> Option<PathBuf> {
    let path = file_path(url)?;
    Some(PathBuf::from(format!("{}.migrate-lock", path.display())))
}

/// The name of a shared-cache in-memory database, which every connection of
/// the process opening it shares (a sqlx `sqlite::memory:` pool is one):
/// runners in one process take turns on it through [`MemoryLock`].
pub(super) fn shared_memory_name(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let memory = path == ":memory:" || query.split('&').any(|p| p == "mode=memory");
    let shared = query.split('&').any(|p| p == "cache=shared");
    (memory && shared).then(|| path.to_string())
}

static MEMORY_LOCKS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A run's turn on a shared in-memory database, released on drop.
#[derive(Debug)]
pub(super) struct MemoryLock(String);

impl MemoryLock {
    /// Waits (polling, never blocking the runtime) for the turn on `name`.
    pub(super) async fn wait(name: &str, wait: Duration) -> Option<MemoryLock> {
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(2);
        loop {
            if let Some(lock) = MemoryLock::try_lock(name) {
                return Some(lock);
            }
            if started.elapsed() >= wait {
                return None;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    pub(super) fn try_lock(name: &str) -> Option<MemoryLock> {
        let mut held = MEMORY_LOCKS.lock().unwrap_or_else(|e| e.into_inner());
        if held.iter().any(|h| h == name) {
            return None;
        }
        held.push(name.to_string());
        Some(MemoryLock(name.to_string()))
    }
}

impl Drop for MemoryLock {
    fn drop(&mut self) {
        let mut held = MEMORY_LOCKS.lock().unwrap_or_else(|e| e.into_inner());
        held.retain(|h| *h != self.0);
    }
}

pub(super) fn try_lock(path: &PathBuf) -> std::io::Result<Option<File>> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => {
            // Say who holds it, for the error a waiting runner prints.
            let who = format!(
                "process {} on {} since {}",
                std::process::id(),
                crate::runner::hostname(),
                humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            );
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(who.as_bytes())?;
            Ok(Some(file))
        }
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

pub(super) fn lock_holder(path: &PathBuf) -> Option<String> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    (!text.is_empty()).then_some(text)
}

pub(super) fn history_ddl(t: &Tables) -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {} (version INTEGER NOT NULL, stage TEXT NOT NULL, name TEXT NOT NULL, \
             up_checksum TEXT NOT NULL, down_sql TEXT, down_checksum TEXT, down_path TEXT, applied_at TEXT NOT NULL, \
             applied_by TEXT NOT NULL, duration_ms INTEGER NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL, \
             failed_direction TEXT, statements_done INTEGER, error TEXT, PRIMARY KEY (version, stage))",
            t.applied
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, at TEXT NOT NULL, \
             actor TEXT NOT NULL, action TEXT NOT NULL, version INTEGER, stage TEXT, outcome TEXT NOT NULL, detail TEXT, \
             duration_ms INTEGER)",
            t.events
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            t.meta
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, stage TEXT NOT NULL, direction TEXT NOT NULL, \
             table_sql TEXT NOT NULL, table_name TEXT NOT NULL, column_name TEXT, archive_table TEXT NOT NULL, key_columns TEXT NOT NULL, \
             row_count INTEGER NOT NULL, created_at TEXT NOT NULL, restored_at TEXT, restored_rows INTEGER)",
            t.archives
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (name TEXT PRIMARY KEY, state TEXT NOT NULL, note TEXT, kind TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT NOT NULL)",
            t.checkpoints
        ),
    ]
}
