//! Talking to databases: connections, the runner lock, history tables and
//! executing statements.
//!
//! Each backend runs on sqlx's own connection type (`conn.rs`), so migration
//! SQL is never decoded and any result type works; what differs (DDL of the
//! history tables, locks, session timeouts, error codes) lives in
//! `postgres.rs`, `mysql.rs` and `sqlite.rs`. A driver declares its
//! `Capabilities`; the runner decides policy from them.
//!
//! Invariants:
//! - drivers execute, they never decide what to run;
//! - the runner lock cannot outlive the process: it is a PostgreSQL session
//!   advisory lock or a MySQL `GET_LOCK` on a dedicated connection, or an OS
//!   file lock for SQLite, all released by the server or kernel when the
//!   process dies, and released explicitly on every normal path;
//! - the URL is never shown unredacted: errors carry [`crate::redact::redact_url`]'s form.

mod archive;
mod conn;
#[doc(hidden)]
pub mod database;
mod introspect;
mod mysql;
mod postgres;
mod sqlite;

pub use archive::ArchiveRecord;
pub(crate) use introspect::{Fingerprints, SchemaItem, TableInfo};

use std::time::{Duration, Instant, SystemTime};

pub(crate) use conn::Native;
use conn::{Conn, Row, query};
use serde::Serialize;

use crate::error::{DbError, Error};
use crate::history::{AppliedStage, RowState};
use crate::redact::{redact_secrets, redact_url, secrets_of};
use crate::source::{Direction, StageKind};

/// A checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Checkpoint {
    /// Its name (`@run:<id>` for the state a run started from).
    pub name: String,
    /// The applied stages it stands for.
    pub state: crate::checkpoint::State,
    /// What the user said about it.
    pub note: Option<String>,
    /// `named` or `run`.
    pub kind: String,
    /// When.
    pub created_at: String,
    /// `user@host`.
    pub created_by: String,
}

/// A change to a history row's state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowUpdate<'a> {
    /// The new state.
    pub state: RowState,
    /// For a failed row: the direction it failed in.
    pub direction: Option<Direction>,
    /// For a failed row: statements completed.
    pub statements_done: Option<i64>,
    /// For a failed row: the database's message.
    pub error: Option<&'a str>,
    /// For a completed up: how long it took.
    pub duration_ms: Option<i64>,
}

impl RowUpdate<'_> {
    /// Back to applied, with no failure detail.
    pub fn applied(duration_ms: Option<i64>) -> RowUpdate<'static> {
        RowUpdate {
            state: RowState::Applied,
            direction: None,
            statements_done: None,
            error: None,
            duration_ms,
        }
    }

    /// Failed (or in progress) in `direction` after `done` statements.
    pub fn failed(direction: Direction, done: i64, error: Option<&str>) -> RowUpdate<'_> {
        RowUpdate {
            state: RowState::Failed,
            direction: Some(direction),
            statements_done: Some(done),
            error,
            duration_ms: None,
        }
    }
}

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Backend {
    /// SQLite (embedded).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

impl Backend {
    /// The cargo feature that builds its support.
    pub fn feature(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        }
    }

    /// Reads the backend from a URL's scheme.
    pub fn from_url(url: &str) -> Result<Backend, Error> {
        let scheme = url.split(':').next().unwrap_or("");
        let (backend, built) = match scheme {
            "sqlite" => (Backend::Sqlite, cfg!(feature = "sqlite")),
            "postgres" | "postgresql" => (Backend::Postgres, cfg!(feature = "postgres")),
            "mysql" | "mariadb" => (Backend::Mysql, cfg!(feature = "mysql")),
            _ => {
                return Err(Error::UnknownScheme {
                    scheme: scheme.to_string(),
                    url: redact_url(url),
                });
            }
        };
        if !built {
            return Err(Error::BadInput(format!(
                "this build of migrate has no {scheme} support: build it with the `{}` cargo feature",
                match backend {
                    Backend::Sqlite => "sqlite",
                    Backend::Postgres => "postgres",
                    Backend::Mysql => "mysql",
                }
            )));
        }
        Ok(backend)
    }

    /// The SQL dialect for splitting and checking.
    pub fn dialect(self) -> crate::sql::Dialect {
        match self {
            Backend::Sqlite => crate::sql::Dialect::Sqlite,
            Backend::Postgres => crate::sql::Dialect::Postgres,
            Backend::Mysql => crate::sql::Dialect::Mysql,
        }
    }

    /// What the database can do.
    pub(crate) fn capabilities(self) -> Capabilities {
        match self {
            Backend::Sqlite => Capabilities {
                transactional_ddl: true,
                advisory_lock: false,
            },
            Backend::Postgres => Capabilities {
                transactional_ddl: true,
                advisory_lock: true,
            },
            Backend::Mysql => Capabilities {
                transactional_ddl: false,
                advisory_lock: true,
            },
        }
    }
}

/// What a database can do; the runner plans around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Capabilities {
    /// DDL runs inside a transaction and rolls back with it.
    pub transactional_ddl: bool,
    /// A session-level named lock exists (else a file lock is used).
    pub advisory_lock: bool,
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Prefix of the history tables, e.g. `_migrate_`.
    pub table_prefix: String,
    /// How long a migration statement may wait for a table lock.
    pub lock_timeout: Duration,
    /// How long to wait for the database to answer a connection: an
    /// unreachable or silent server is an error naming the host within it,
    /// never a hang.
    pub connect_timeout: Duration,
    /// Statements run at the start of every stage, after migrate's own
    /// session settings (`init-sql` in migrate.toml): what a project runs
    /// its migrations under, such as `SET FOREIGN_KEY_CHECKS = 0`.
    pub init_sql: Vec<String>,
    /// Read-only commands (`status`, `log`): a SQLite file that does not
    /// exist is an error, never created (a mistyped path would otherwise
    /// leave an empty database behind).
    pub must_exist: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            table_prefix: "_migrate_".into(),
            lock_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            init_sql: Vec::new(),
            must_exist: false,
        }
    }
}

/// Checks a history table prefix: it is written into SQL as a name, so it
/// may hold only letters, digits and `_`.
pub(crate) fn validate_table_prefix(prefix: &str) -> Result<(), Error> {
    if prefix.is_empty()
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(Error::BadInput(format!(
            "table prefix `{prefix}` may hold only letters, digits and `_` (it becomes part of the history tables' names)"
        )));
    }
    Ok(())
}

/// One entry of the append-only event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Event {
    /// Position in the log (0 before it is written).
    pub id: i64,
    /// Every event of one command run shares this.
    pub run_id: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// `user@host`.
    pub actor: String,
    /// `apply`, `revert`, `resolve`, `lock-retry`, ...
    pub action: String,
    /// Migration version, when about one.
    pub version: Option<i64>,
    /// Stage, when about one.
    pub stage: Option<String>,
    /// `ok`, `failed`, `retry`, `forced`.
    pub outcome: String,
    /// Detail: the error, the reason given, the statement number.
    pub detail: Option<String>,
    /// How long it took.
    pub duration_ms: Option<i64>,
}

enum RunnerLock {
    Session(Conn),
    File(std::fs::File),
    None,
}

/// How long a read-only command waits for SQLite's write lock.
const READ_ONLY_BUSY_WAIT: Duration = Duration::from_millis(500);

/// A connection to the database being migrated.
pub struct Driver {
    backend: Backend,
    conn: Conn,
    lock: Option<RunnerLock>,
    /// The lock's own session, kept once the lock is released, for the
    /// next time it is taken in this process (a drill or `redo` takes it
    /// hundreds of times; a new connection costs a handshake each time).
    spare_lock_session: Option<Conn>,
    url: String,
    /// The application's connect options, when it gave them: every
    /// connection is made with these rather than with `url`.
    native: Option<Native>,
    redacted_url: String,
    secrets: Vec<String>,
    tables: Tables,
    lock_timeout: Duration,
    connect_timeout: Duration,
    init_sql: Vec<String>,
    session_ready: bool,
    /// SQLite: the session settings migrate set are still in force, so a
    /// stage need not send them again (only a `PRAGMA` can change them; a
    /// migration statement that is one clears this).
    settings_intact: bool,
    /// For a shared in-memory SQLite database: this process's turn on it,
    /// held from connect to close (see [`Driver::connect`]).
    _memory_turn: Option<sqlite::MemoryLock>,
}

/// Names of the history tables.
#[derive(Debug, Clone)]
pub(crate) struct Tables {
    pub applied: String,
    pub events: String,
    pub meta: String,
    pub archives: String,
    pub checkpoints: String,
    pub prefix: String,
    /// What the runner lock is named after: the prefix, and on PostgreSQL
    /// the schema a URL's `schema=` names (tenants in schemas of one
    /// database do not wait for each other).
    pub lock_scope: String,
    /// `"schema".` on PostgreSQL once the session's schema is known (empty
    /// before): migrate's tables are reached whatever search_path a
    /// migration sets (a pg_dump sets it to '').
    pub schema: String,
}

impl Tables {
    /// Qualifies every table with `schema` (PostgreSQL).
    fn qualify(&mut self, schema: &str) {
        let q = format!("\"{}\".", schema.replace('"', "\"\""));
        for t in [
            &mut self.applied,
            &mut self.events,
            &mut self.meta,
            &mut self.archives,
            &mut self.checkpoints,
        ] {
            let name = t
                .rsplit_once("\".")
                .map_or(t.as_str(), |(_, n)| n)
                .to_string();
            *t = format!("{q}{name}");
        }
        self.schema = q;
    }
}

/// How long a run waits for its turn on a shared in-memory SQLite database.
const MEMORY_TURN_WAIT: Duration = Duration::from_secs(60);

/// The history tables' own schema version, stored in the meta table.
pub(crate) const HISTORY_SCHEMA_VERSION: i64 = 1;

const APPLIED_COLUMNS: &str = "version, stage, name, up_checksum, down_sql, down_checksum, down_path, applied_at, applied_by, duration_ms, seq, state, failed_direction, statements_done, error";

/// Whether connecting to `url` would create a SQLite file that is not there
/// yet.
pub(crate) fn would_create_file(url: &str) -> bool {
    Backend::from_url(url).is_ok_and(|b| b == Backend::Sqlite)
        && sqlite::file_path(url).is_some_and(|path| !path.exists())
}

impl Driver {
    /// Connects. SQLite files are created if missing.
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Driver, Error> {
        Driver::connect_with(url, None, options).await
    }

    /// Connects with an application's own connect options when given
    /// (`url` is then their lossy URL, for messages and SQLite's lock
    /// file), otherwise with `url`. Every connection the driver opens (the
    /// lock's session too) uses the same.
    pub(crate) async fn connect_with(
        url: &str,
        native: Option<Native>,
        options: &ConnectOptions,
    ) -> Result<Driver, Error> {
        let backend = Backend::from_url(url)?;
        validate_table_prefix(&options.table_prefix)?;
        let secrets = secrets_of(url);
        let redacted_url = redact_url(url);
        let real_url = normalize_url(backend, url)?;
        let url_schema = match backend {
            Backend::Postgres => postgres::url_schema(url)?,
            _ => None,
        };
        // A shared-cache in-memory database answers SQLITE_LOCKED at once,
        // busy timeout or not, while another connection writes: migrate's
        // runs in this process take turns on it from connect to close.
        let memory_turn = match sqlite::shared_memory_name(&real_url) {
            Some(name) if backend == Backend::Sqlite => Some(
                sqlite::MemoryLock::wait(&name, MEMORY_TURN_WAIT)
                    .await
                    .ok_or_else(|| Error::Locked {
                        waited: MEMORY_TURN_WAIT,
                        holder: Some("another migrate run in this process".into()),
                    })?,
            ),
            _ => None,
        };
        if options.must_exist
            && backend == Backend::Sqlite
            && let Some(path) = sqlite::file_path(url)
            && !path.exists()
        {
            return Err(Error::Connect {
                url: redacted_url,
                message: format!(
                    "the database file {} does not exist: check the path (`migrate up` creates it)",
                    path.display()
                ),
                // A path that names nothing is the URL's mistake: bad input.
                bad_url: true,
                cause: None,
            });
        }
        let conn = connect_raw(
            backend,
            &real_url,
            native.as_ref(),
            &redacted_url,
            &secrets,
            options.connect_timeout,
        )
        .await?;
        let prefix = options.table_prefix.clone();
        let lock_scope = match &url_schema {
            Some(schema) => format!("{prefix}@{schema}"),
            None => prefix.clone(),
        };
        let mut driver = Driver {
            backend,
            conn,
            lock: None,
            spare_lock_session: None,
            url: real_url,
            native,
            redacted_url,
            secrets,
            tables: Tables {
                applied: format!("{prefix}applied"),
                events: format!("{prefix}events"),
                meta: format!("{prefix}meta"),
                archives: format!("{prefix}archives"),
                checkpoints: format!("{prefix}checkpoints"),
                prefix,
                lock_scope,
                schema: String::new(),
            },
            lock_timeout: options.lock_timeout,
            connect_timeout: options.connect_timeout,
            init_sql: options.init_sql.clone(),
            session_ready: false,
            settings_intact: false,
            _memory_turn: memory_turn,
        };
        if backend == Backend::Sqlite {
            // In-process, so free: readers wait for a writer instead of
            // failing with "database is locked". Read-only commands
            // (`status`, `log`) wait briefly: a stage holding the write
            // lock for minutes is reported as such, not waited for.
            let wait = if options.must_exist {
                options.lock_timeout.min(READ_ONLY_BUSY_WAIT)
            } else {
                options.lock_timeout
            };
            let pragma = format!("PRAGMA busy_timeout = {}", wait.as_millis().max(1));
            driver
                .exec_internal(&pragma, "setting up the session")
                .await?;
        }
        if let Some(schema) = &url_schema
            && !options.must_exist
        {
            // Schema per tenant: a new tenant's schema is made on its first
            // run, as a SQLite file or `database create` would be.
            driver
                .exec_internal(
                    &postgres::create_schema(schema),
                    "creating the URL's schema",
                )
                .await?;
        }
        if backend == Backend::Mysql {
            // Needed by the start-up summary, which may be all a run does.
            driver
                .exec_internal(
                    "SET SESSION group_concat_max_len = 1073741824",
                    "setting up the session",
                )
                .await?;
        }
        tracing::debug!(url = %driver.redacted_url, ?backend, "connected");
        Ok(driver)
    }

    /// Session settings for running migrations (lock timeouts, foreign
    /// keys), in one round trip, once, before the first change. A start-up
    /// with nothing to do never pays for them.
    async fn prepare_session(&mut self) -> Result<(), Error> {
        if self.session_ready {
            return Ok(());
        }
        if self.backend == Backend::Postgres {
            let schema: Option<String> = query("SELECT current_schema()")
                .scalar(&mut self.conn)
                .await
                .map_err(|e| self.internal("setting up the session", e))?;
            if let Some(schema) = schema {
                self.tables.qualify(&schema);
            }
        }
        let setup = self.session_setup().join(";\n");
        self.exec_internal(&setup, "setting up the session").await?;
        self.session_ready = true;
        self.settings_intact = true;
        Ok(())
    }

    /// The runner's own session settings (lock timeouts; foreign keys on
    /// SQLite; PostgreSQL's default search_path), which every stage starts
    /// with whatever an earlier stage set.
    fn session_setup(&self) -> Vec<String> {
        let mut setup = match self.backend {
            Backend::Postgres => postgres::session_setup(self.lock_timeout),
            Backend::Mysql => mysql::session_setup(self.lock_timeout),
            Backend::Sqlite => sqlite::session_setup(self.lock_timeout),
        };
        setup.extend(self.init_sql.iter().cloned());
        setup
    }

    /// The project's own session statements (`init-sql`).
    pub(crate) fn init_sql(&self) -> &[String] {
        &self.init_sql
    }

    /// Starts a stage: the runner's session settings again (a stage's own
    /// `SET` applies to that stage only), then, for a transactional stage,
    /// the transaction, in one round trip.
    pub(crate) async fn start_stage(&mut self, transaction: bool) -> Result<(), Error> {
        self.prepare_session().await?;
        let mut sql = self.stage_setup();
        if transaction {
            sql.push(self.begin_sql().to_string());
        }
        self.exec_internal(&sql.join(";\n"), "starting the stage")
            .await
    }

    /// What a stage starts with: [`Driver::session_setup`], less what is
    /// still in force on SQLite (`init-sql` always runs).
    fn stage_setup(&mut self) -> Vec<String> {
        let setup = if self.backend == Backend::Sqlite && self.settings_intact {
            self.init_sql.clone()
        } else {
            self.session_setup()
        };
        self.settings_intact = true;
        setup
    }

    /// Notes that migration statements are about to run: on SQLite, a
    /// `PRAGMA` among them may change the session's settings.
    fn running(&mut self, statements: &[&str]) {
        if self.backend == Backend::Sqlite
            && statements.iter().any(|sql| {
                crate::sql::tokenize(sql, crate::sql::Dialect::Sqlite)
                    .iter()
                    .find(|t| !t.is_trivia())
                    .is_some_and(|t| sql[t.span.clone()].eq_ignore_ascii_case("pragma"))
            })
        {
            self.settings_intact = false;
        }
    }

    fn begin_sql(&self) -> &'static str {
        if self.backend == Backend::Sqlite {
            // The write lock at once: no deadlock between two readers that
            // both want to write.
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN"
        }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with its password hidden.
    pub fn redacted_url(&self) -> &str {
        &self.redacted_url
    }

    /// `text` with the URL's secrets hidden.
    pub(crate) fn redact(&self, text: &str) -> String {
        redact_secrets(text, &self.secrets)
    }

    pub(crate) fn db_error(&self, e: sqlx::Error) -> DbError {
        let (code, lock_timeout) = match &e {
            sqlx::Error::Database(d) => {
                let code = d.code().map(|c| c.into_owned());
                let lock = match self.backend {
                    Backend::Postgres => postgres::is_lock_timeout(code.as_deref()),
                    Backend::Mysql => mysql::is_lock_timeout(d.as_ref()),
                    Backend::Sqlite => sqlite::is_lock_timeout(code.as_deref()),
                };
                (code, lock)
            }
            _ => (None, false),
        };
        let message = match &e {
            sqlx::Error::Database(d) => d.message().to_string(),
            other => other.to_string(),
        };
        DbError {
            message: self.redact(&message),
            code,
            lock_timeout,
            cause: Some(crate::error::Cause::new(e)),
        }
    }

    pub(crate) fn internal(&self, doing: &str, e: sqlx::Error) -> Error {
        let db = self.db_error(e);
        Error::Database {
            url: self.redacted_url.clone(),
            doing: doing.to_string(),
            message: db.message,
            cause: db.cause,
        }
    }

    pub(crate) async fn exec_internal(&mut self, sql: &str, doing: &str) -> Result<(), Error> {
        match self.conn.execute_raw(sql).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.internal(doing, e)),
        }
    }

    /// Runs one statement of a migration.
    pub(crate) async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.running(&[sql]);
        match self.conn.execute_raw(sql).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.db_error(e)),
        }
    }

    /// Runs one `COPY ... FROM STDIN` statement of a migration with its
    /// inline rows.
    pub(crate) async fn copy_in(&mut self, sql: &str, rows: &str) -> Result<(), DbError> {
        match self.conn.copy_in(sql, rows).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.db_error(e)),
        }
    }

    /// Whether an index of this name exists and is INVALID (PostgreSQL: what
    /// a failed `CREATE INDEX CONCURRENTLY` leaves).
    pub(crate) async fn index_is_invalid(&mut self, name: &str) -> Result<bool, Error> {
        query("SELECT CAST(COUNT(*) AS BIGINT) FROM pg_index WHERE indexrelid = to_regclass($1) AND NOT indisvalid")
            .bind(name)
            .persistent(false)
            .scalar::<i64>(&mut self.conn)
            .await
            .map(|n| n > 0)
            .map_err(|e| self.internal("looking for an invalid index", e))
    }

    /// Starts a transaction.
    pub(crate) async fn begin(&mut self) -> Result<(), Error> {
        let sql = self.begin_sql();
        self.exec_internal(sql, "starting a transaction").await
    }

    /// Commits.
    pub(crate) async fn commit(&mut self) -> Result<(), Error> {
        self.exec_internal("COMMIT", "committing").await
    }

    /// Rolls back; an error here is logged, not returned, since the caller is
    /// already reporting the error that caused it.
    pub(crate) async fn rollback(&mut self) {
        if let Err(e) = self.conn.execute_raw("ROLLBACK").await {
            tracing::warn!(error = %self.redact(&e.to_string()), "rollback failed");
        }
    }

    /// `?` placeholders turned into `$n` for PostgreSQL (our own SQL only).
    pub(crate) fn q(&self, sql: &str) -> String {
        if self.backend != Backend::Postgres {
            return sql.to_string();
        }
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Reads what a start-up needs to decide that there is nothing to do
    /// (version, stage, checksums, state, sequence), in one row and one round
    /// trip; the other fields are left empty. `None` when the tables do not
    /// exist yet.
    pub(crate) async fn read_history_summary(
        &mut self,
    ) -> Result<Option<Vec<AppliedStage>>, Error> {
        let t = &self.tables.applied;
        let sql = match self.backend {
            Backend::Sqlite => format!(
                "SELECT group_concat(version || ' ' || stage || ' ' || up_checksum || ' ' || coalesce(down_checksum, '-') || ' ' || state || ' ' || seq, char(10)) \
                 FROM (SELECT * FROM {t} ORDER BY seq)"
            ),
            Backend::Postgres => format!(
                "SELECT string_agg(concat_ws(' ', version, stage, up_checksum, coalesce(down_checksum, '-'), state, seq), E'\\n' ORDER BY seq) FROM {t}"
            ),
            Backend::Mysql => format!(
                "SELECT CAST(GROUP_CONCAT(CONCAT_WS(' ', version, stage, up_checksum, COALESCE(down_checksum, '-'), state, seq) ORDER BY seq SEPARATOR '\\n') AS CHAR) FROM {t}"
            ),
        };
        let text: Option<String> = match query(sql).scalar(&mut self.conn).await {
            Ok(t) => t,
            Err(e) if self.is_missing_table(&e) => return Ok(None),
            Err(e) => return Err(self.internal("reading the history", e)),
        };
        let mut rows = Vec::new();
        for line in text.as_deref().unwrap_or("").lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let parsed = (|| {
                Some(AppliedStage {
                    version: f.first()?.parse().ok()?,
                    stage: StageKind::parse(f.get(1)?)?,
                    name: String::new(),
                    up_checksum: f.get(2)?.to_string(),
                    down_sql: None,
                    down_checksum: Some(f.get(3)?.to_string()).filter(|c| c != "-"),
                    down_path: None,
                    applied_at: String::new(),
                    applied_by: String::new(),
                    duration_ms: 0,
                    seq: f.get(5)?.parse().ok()?,
                    state: if *f.get(4)? == "failed" {
                        RowState::Failed
                    } else {
                        RowState::Applied
                    },
                    failed_direction: None,
                    statements_done: None,
                    error: None,
                })
            })();
            match parsed {
                Some(row) => rows.push(row),
                // Anything unexpected: read the full history instead.
                None => return self.read_history().await,
            }
        }
        Ok(Some(rows))
    }

    /// Rows of one of migrate's own tables; none when it does not exist yet.
    pub(crate) async fn own_rows(&mut self, sql: String, doing: &str) -> Result<Vec<Row>, Error> {
        match query(sql).fetch_all(&mut self.conn).await {
            Ok(rows) => Ok(rows),
            Err(e) if self.is_missing_table(&e) => Ok(vec![]),
            Err(e) => Err(self.internal(doing, e)),
        }
    }

    /// Reads the history; `None` when the tables do not exist yet.
    pub(crate) async fn read_history(&mut self) -> Result<Option<Vec<AppliedStage>>, Error> {
        let sql = format!(
            "SELECT {APPLIED_COLUMNS} FROM {} ORDER BY seq",
            self.tables.applied
        );
        let rows = match query(sql).fetch_all(&mut self.conn).await {
            Ok(rows) => rows,
            Err(e) => {
                if self.is_missing_table(&e) {
                    return Ok(None);
                }
                return Err(self.internal("reading the history", e));
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(
                self.applied_from_row(&row)
                    .map_err(|e| self.internal("reading the history", e))?,
            );
        }
        Ok(Some(out))
    }

    pub(crate) fn is_missing_table(&self, e: &sqlx::Error) -> bool {
        let sqlx::Error::Database(d) = e else {
            return false;
        };
        match self.backend {
            Backend::Postgres => d.code().as_deref() == Some("42P01"),
            Backend::Mysql => mysql::is_missing_table(d.as_ref()),
            Backend::Sqlite => d.message().contains("no such table"),
        }
    }

    fn applied_from_row(&self, row: &Row) -> Result<AppliedStage, sqlx::Error> {
        let stage: String = row.try_get("stage")?;
        let state: String = row.try_get("state")?;
        Ok(AppliedStage {
            version: row.try_get("version")?,
            stage: StageKind::parse(&stage).ok_or_else(|| {
                sqlx::Error::Protocol(format!("unknown stage `{stage}` in the history table"))
            })?,
            name: row.try_get("name")?,
            up_checksum: row.try_get("up_checksum")?,
            down_sql: row.try_get("down_sql")?,
            down_checksum: row.try_get("down_checksum")?,
            down_path: row.try_get("down_path")?,
            applied_at: row.try_get("applied_at")?,
            applied_by: row.try_get("applied_by")?,
            duration_ms: row.try_get("duration_ms")?,
            seq: row.try_get("seq")?,
            state: if state == "failed" {
                RowState::Failed
            } else {
                RowState::Applied
            },
            failed_direction: row
                .try_get::<Option<String>>("failed_direction")?
                .as_deref()
                .and_then(Direction::from_name),
            statements_done: row.try_get("statements_done")?,
            error: row.try_get("error")?,
        })
    }

    /// Creates the history tables if they are missing, and refuses tables
    /// written by a newer release.
    pub(crate) async fn ensure_tables(&mut self) -> Result<(), Error> {
        let ddl = match self.backend {
            Backend::Postgres => postgres::history_ddl(&self.tables),
            Backend::Mysql => mysql::history_ddl(&self.tables),
            Backend::Sqlite => sqlite::history_ddl(&self.tables),
        };
        for sql in ddl {
            self.exec_internal(&sql, "creating the history tables")
                .await?;
        }
        let select = format!(
            "SELECT value FROM {} WHERE name = 'schema_version'",
            self.tables.meta
        );
        let found: Option<String> = query(select)
            .scalar_optional(&mut self.conn)
            .await
            .map_err(|e| self.internal("reading the history tables' version", e))?;
        match found {
            None => {
                let insert = self.q(&format!(
                    "INSERT INTO {} (name, value) VALUES ('schema_version', ?)",
                    self.tables.meta
                ));
                query(insert)
                    .bind(HISTORY_SCHEMA_VERSION.to_string())
                    .execute(&mut self.conn)
                    .await
                    .map_err(|e| self.internal("writing the history tables' version", e))?;
            }
            Some(v) => {
                let v: i64 = v.parse().unwrap_or(i64::MAX);
                if v > HISTORY_SCHEMA_VERSION {
                    return Err(Error::NewerHistory {
                        found: v,
                        supported: HISTORY_SCHEMA_VERSION,
                    });
                }
            }
        }
        Ok(())
    }

    /// Writes a history row.
    pub(crate) async fn insert_applied(&mut self, r: &AppliedStage) -> Result<(), Error> {
        let sql = self.q(&format!(
            "INSERT INTO {} ({APPLIED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self.tables.applied
        ));
        query(sql)
            .bind(r.version)
            .bind(r.stage.name())
            .bind(&r.name)
            .bind(&r.up_checksum)
            .bind(&r.down_sql)
            .bind(&r.down_checksum)
            .bind(&r.down_path)
            .bind(&r.applied_at)
            .bind(&r.applied_by)
            .bind(r.duration_ms)
            .bind(r.seq)
            .bind(r.state.name())
            .bind(r.failed_direction.map(Direction::name))
            .bind(r.statements_done)
            .bind(&r.error)
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.internal("writing the history", e))?;
        Ok(())
    }

    /// Removes a history row (the stage was reverted).
    pub(crate) async fn delete_applied(
        &mut self,
        version: i64,
        stage: StageKind,
    ) -> Result<(), Error> {
        let sql = self.q(&format!(
            "DELETE FROM {} WHERE version = ? AND stage = ?",
            self.tables.applied
        ));
        query(sql)
            .bind(version)
            .bind(stage.name())
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.internal("writing the history", e))?;
        Ok(())
    }

    /// Sets a row's state and progress.
    /// Replaces the down stored with an applied stage (`migrate repair`).
    pub(crate) async fn replace_down(
        &mut self,
        version: i64,
        stage: StageKind,
        sql: &str,
        checksum: &str,
        path: &str,
    ) -> Result<(), Error> {
        let update = self.q(&format!(
            "UPDATE {} SET down_sql = ?, down_checksum = ?, down_path = ? WHERE version = ? AND stage = ?",
            self.tables.applied
        ));
        query(update)
            .bind(sql)
            .bind(checksum)
            .bind(path)
            .bind(version)
            .bind(stage.name())
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.internal("writing the history", e))?;
        Ok(())
    }

    pub(crate) async fn update_state(
        &mut self,
        version: i64,
        stage: StageKind,
        u: &RowUpdate<'_>,
    ) -> Result<(), Error> {
        let RowUpdate {
            state,
            direction,
            statements_done,
            error,
            duration_ms,
        } = *u;
        let sql = self.q(&format!(
            "UPDATE {} SET state = ?, failed_direction = ?, statements_done = ?, error = ?, duration_ms = COALESCE(?, duration_ms) WHERE version = ? AND stage = ?",
            self.tables.applied
        ));
        query(sql)
            .bind(state.name())
            .bind(direction.map(Direction::name))
            .bind(statements_done)
            .bind(error)
            .bind(duration_ms)
            .bind(version)
            .bind(stage.name())
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.internal("writing the history", e))?;
        Ok(())
    }

    /// The next apply sequence number.
    pub(crate) async fn next_seq(&mut self) -> Result<i64, Error> {
        let sql = format!(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM {}",
            self.tables.applied
        );
        query(sql)
            .scalar::<i64>(&mut self.conn)
            .await
            .map_err(|e| self.internal("reading the history", e))
    }

    /// A checkpoint's state and note, if it exists.
    pub(crate) async fn checkpoint(&mut self, name: &str) -> Result<Option<Checkpoint>, Error> {
        Ok(self
            .checkpoints()
            .await?
            .into_iter()
            .find(|c| c.name == name))
    }

    /// Every checkpoint, oldest first; empty when the table does not exist.
    pub(crate) async fn checkpoints(&mut self) -> Result<Vec<Checkpoint>, Error> {
        let sql = format!(
            "SELECT name, state, note, kind, created_at, created_by FROM {} ORDER BY created_at, name",
            self.tables.checkpoints
        );
        let rows = self.own_rows(sql, "reading the checkpoints").await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get("state")?;
                Ok(Checkpoint {
                    name: r.try_get("name")?,
                    state: crate::checkpoint::decode(&state).unwrap_or_default(),
                    note: r.try_get("note")?,
                    kind: r.try_get("kind")?,
                    created_at: r.try_get("created_at")?,
                    created_by: r.try_get("created_by")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| self.internal("reading the checkpoints", e))
    }

    /// Writes a checkpoint, replacing one of the same name.
    pub(crate) async fn put_checkpoint(&mut self, c: &Checkpoint) -> Result<(), Error> {
        self.delete_checkpoint(&c.name).await?;
        let sql = self.q(&format!(
            "INSERT INTO {} (name, state, note, kind, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)",
            self.tables.checkpoints
        ));
        query(sql)
            .bind(&c.name)
            .bind(crate::checkpoint::encode(&c.state))
            .bind(&c.note)
            .bind(&c.kind)
            .bind(&c.created_at)
            .bind(&c.created_by)
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.internal("writing a checkpoint", e))?;
        Ok(())
    }

    /// Deletes a checkpoint; returns whether it existed.
    pub(crate) async fn delete_checkpoint(&mut self, name: &str) -> Result<bool, Error> {
        let sql = self.q(&format!(
            "DELETE FROM {} WHERE name = ?",
            self.tables.checkpoints
        ));
        match query(sql).bind(name).execute(&mut self.conn).await {
            Ok(r) => Ok(r > 0),
            Err(e) if self.is_missing_table(&e) => Ok(false),
            Err(e) => Err(self.internal("deleting a checkpoint", e)),
        }
    }

    /// Appends to the event log.
    /// Records a completed stage in the history and the event log, and
    /// commits its transaction: in one round trip on PostgreSQL and SQLite
    /// (the values written as literals, see `literal`), one statement at a
    /// time on MySQL. A stage's bookkeeping is otherwise three of the five or
    /// six round trips a trivial stage costs.
    pub(crate) async fn record_and_commit(
        &mut self,
        write: &HistoryWrite,
        ev: &Event,
    ) -> Result<(), Error> {
        if let Some(sql) = self.record_sql(write, ev) {
            return self
                .exec_internal(&sql, "writing the history and committing")
                .await;
        }
        match write {
            HistoryWrite::Insert(r) => self.insert_applied(r).await?,
            HistoryWrite::Delete(version, stage) => self.delete_applied(*version, *stage).await?,
        }
        self.insert_event(ev).await?;
        self.commit().await
    }

    /// A whole transactional stage in one round trip (PostgreSQL's simple
    /// query protocol takes many statements in one message; SQLite runs
    /// them in one request to its worker thread): the session settings,
    /// `BEGIN`, the stage's statements, its history row and event, `COMMIT`.
    /// The durations recorded are the database's (PostgreSQL:
    /// `clock_timestamp()` less the transaction's start; SQLite: its clock
    /// less the moment the stage was sent). `Ok(true)`: the stage is applied and
    /// recorded. `Ok(false)`: this backend or these values cannot go in one
    /// message; nothing was sent. `Err`: something failed and the
    /// transaction was rolled back, so nothing of the stage remains; the
    /// caller runs it again statement by statement to say which one failed.
    pub(crate) async fn run_stage_in_one(
        &mut self,
        statements: &[&str],
        write: &HistoryWrite,
        ev: &Event,
    ) -> Result<bool, DbError> {
        self.prepare_session().await.map_err(|e| DbError::of(&e))?;
        let elapsed = match self.backend {
            Backend::Postgres => {
                "(EXTRACT(EPOCH FROM clock_timestamp() - now()) * 1000)::bigint".to_string()
            }
            Backend::Sqlite => {
                let sent_ms = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                format!(
                    "max(0, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) - {sent_ms})"
                )
            }
            // One statement per request unless the connection allows
            // several, which migrate does not ask for.
            Backend::Mysql => return Ok(false),
        };
        let Some(record) = self.record_sql_with(write, ev, Some(&elapsed)) else {
            return Ok(false);
        };
        let mut sql = self.stage_setup();
        self.running(statements);
        sql.push(self.begin_sql().to_string());
        sql.extend(statements.iter().map(|s| s.to_string()));
        sql.push(record);
        match self.conn.execute_raw(&sql.join(";\n")).await {
            Ok(_) => Ok(true),
            Err(e) => {
                let db = self.db_error(e);
                self.rollback().await;
                Err(db)
            }
        }
    }

    /// The statements of [`Driver::record_and_commit`] with literal values,
    /// or `None` where literals are not written.
    fn record_sql(&self, write: &HistoryWrite, ev: &Event) -> Option<String> {
        self.record_sql_with(write, ev, None)
    }

    /// [`Driver::record_sql`], with `duration` (SQL) in place of the
    /// recorded durations when given.
    fn record_sql_with(
        &self,
        write: &HistoryWrite,
        ev: &Event,
        duration: Option<&str>,
    ) -> Option<String> {
        let b = self.backend;
        let text = |s: &str| literal(b, s);
        let opt = |s: &Option<String>| match s {
            Some(s) => literal(b, s),
            None => Some("NULL".to_string()),
        };
        let int = |i: Option<i64>| i.map_or("NULL".to_string(), |i| i.to_string());
        let history = match write {
            HistoryWrite::Insert(r) => format!(
                "INSERT INTO {} ({APPLIED_COLUMNS}) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                self.tables.applied,
                r.version,
                text(r.stage.name())?,
                text(&r.name)?,
                text(&r.up_checksum)?,
                opt(&r.down_sql)?,
                opt(&r.down_checksum)?,
                opt(&r.down_path)?,
                text(&r.applied_at)?,
                text(&r.applied_by)?,
                duration.map_or(r.duration_ms.to_string(), str::to_string),
                r.seq,
                text(r.state.name())?,
                opt(&r.failed_direction.map(|d| d.name().to_string()))?,
                int(r.statements_done),
                opt(&r.error)?,
            ),
            HistoryWrite::Delete(version, stage) => format!(
                "DELETE FROM {} WHERE version = {version} AND stage = {}",
                self.tables.applied,
                text(stage.name())?
            ),
        };
        let detail = ev.detail.as_deref().map(|d| self.redact(d));
        let event = format!(
            "INSERT INTO {} (run_id, at, actor, action, version, stage, outcome, detail, duration_ms) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
            self.tables.events,
            text(&ev.run_id)?,
            text(&ev.at)?,
            text(&ev.actor)?,
            text(&ev.action)?,
            int(ev.version),
            opt(&ev.stage)?,
            text(&ev.outcome)?,
            opt(&detail)?,
            duration.map_or(int(ev.duration_ms), str::to_string),
        );
        Some(format!("{history};\n{event};\nCOMMIT"))
    }

    pub(crate) async fn insert_event(&mut self, ev: &Event) -> Result<(), Error> {
        let sql = self.q(&format!(
            "INSERT INTO {} (run_id, at, actor, action, version, stage, outcome, detail, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self.tables.events
        ));
        let detail = ev.detail.as_deref().map(|d| self.redact(d));
        query(sql)
            .bind(&ev.run_id)
            .bind(&ev.at)
            .bind(&ev.actor)
            .bind(&ev.action)
            .bind(ev.version)
            .bind(&ev.stage)
            .bind(&ev.outcome)
            .bind(detail)
            .bind(ev.duration_ms)
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.internal("writing the event log", e))?;
        Ok(())
    }

    /// The event log, oldest first; empty when the tables do not exist.
    pub(crate) async fn read_events(&mut self) -> Result<Vec<Event>, Error> {
        let sql = format!(
            "SELECT id, run_id, at, actor, action, version, stage, outcome, detail, duration_ms FROM {} ORDER BY id",
            self.tables.events
        );
        let rows = self.own_rows(sql, "reading the event log").await?;
        rows.iter()
            .map(|r| {
                Ok(Event {
                    id: r.try_get("id")?,
                    run_id: r.try_get("run_id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    version: r.try_get("version")?,
                    stage: r.try_get("stage")?,
                    outcome: r.try_get("outcome")?,
                    detail: r.try_get("detail")?,
                    duration_ms: r.try_get("duration_ms")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| self.internal("reading the event log", e))
    }

    /// Takes the runner lock, waiting at most `wait`. Polls with a
    /// non-blocking attempt, so a waiting runner never holds a transaction
    /// open (a blocking lock call would deadlock `CREATE INDEX CONCURRENTLY`).
    pub async fn lock(&mut self, wait: Duration) -> Result<(), Error> {
        if self.lock.is_some() {
            return Ok(());
        }
        self.prepare_session().await?;
        let started = Instant::now();
        let mut delay = Duration::from_millis(20);
        let spare = self.spare_lock_session.take();
        // A kept session the server has closed since is replaced once.
        let mut from_spare = spare.is_some();
        let mut session = match self.backend {
            Backend::Sqlite => None,
            Backend::Postgres | Backend::Mysql if spare.is_some() => spare,
            Backend::Postgres | Backend::Mysql => Some(self.new_session().await?),
        };
        loop {
            let got = match (&mut session, self.backend) {
                (Some(conn), Backend::Postgres) => {
                    postgres::try_lock(conn, &self.tables.lock_scope).await
                }
                (Some(conn), Backend::Mysql) => mysql::try_lock(conn, &self.tables.prefix).await,
                (None, Backend::Postgres | Backend::Mysql) => {
                    unreachable!("a server backend holds a lock session")
                }
                (_, Backend::Sqlite) => match sqlite::lock_path(&self.url) {
                    Some(path) => match sqlite::try_lock(&path) {
                        Ok(Some(file)) => {
                            self.lock = Some(RunnerLock::File(file));
                            return Ok(());
                        }
                        Ok(None) => Ok(false),
                        Err(e) => {
                            return Err(Error::Lock {
                                message: format!(
                                    "cannot use the lock file {}: {e}",
                                    path.display()
                                ),
                            });
                        }
                    },
                    // In memory: private to this connection, or shared and
                    // already this run's turn since connect.
                    None => {
                        self.lock = Some(RunnerLock::None);
                        return Ok(());
                    }
                },
            };
            match got {
                Ok(true) => {
                    self.lock = Some(RunnerLock::Session(
                        session.take().expect("session connection"),
                    ));
                    tracing::debug!("runner lock taken");
                    return Ok(());
                }
                Ok(false) => {}
                Err(_) if from_spare => {
                    from_spare = false;
                    session = Some(self.new_session().await?);
                    continue;
                }
                Err(e) => return Err(self.internal("taking the runner lock", e)),
            }
            if started.elapsed() >= wait {
                let holder = match (&mut session, self.backend) {
                    (Some(conn), Backend::Postgres) => {
                        postgres::lock_holder(conn, &self.tables.lock_scope).await
                    }
                    (Some(conn), Backend::Mysql) => {
                        mysql::lock_holder(conn, &self.tables.prefix).await
                    }
                    (None, Backend::Postgres | Backend::Mysql) => None,
                    (_, Backend::Sqlite) => {
                        sqlite::lock_path(&self.url).and_then(|p| sqlite::lock_holder(&p))
                    }
                };
                return Err(Error::Locked {
                    waited: wait,
                    holder,
                });
            }
            if started.elapsed().as_millis() % 5000 < delay.as_millis() {
                tracing::info!(waited = ?started.elapsed(), "waiting for another migrate run to finish");
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }

    /// A second connection to the same database, for the runner lock.
    async fn new_session(&self) -> Result<Conn, Error> {
        connect_raw(
            self.backend,
            &self.url,
            self.native.as_ref(),
            &self.redacted_url,
            &self.secrets,
            self.connect_timeout,
        )
        .await
    }

    /// Releases the runner lock.
    pub async fn unlock(&mut self) {
        match self.lock.take() {
            Some(RunnerLock::Session(mut conn)) => {
                let result = match self.backend {
                    Backend::Postgres => postgres::unlock(&mut conn, &self.tables.lock_scope).await,
                    Backend::Mysql => mysql::unlock(&mut conn, &self.tables.prefix).await,
                    // SQLite's lock is a file (or an in-process turn), never a session.
                    Backend::Sqlite => Ok(()),
                };
                match result {
                    // Released: the session can take it again next time.
                    Ok(_) => self.spare_lock_session = Some(conn),
                    Err(e) => {
                        tracing::warn!(error = %self.redact(&e.to_string()), "releasing the lock failed; closing its connection releases it");
                        let _ = conn.close().await;
                    }
                }
            }
            Some(RunnerLock::File(file)) => {
                let _ = file.unlock();
            }
            Some(RunnerLock::None) | None => {}
        }
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        self.unlock().await;
        if let Some(spare) = self.spare_lock_session.take() {
            let _ = spare.close().await;
        }
        let _ = self.conn.close().await;
    }

    /// [`Driver::close`] for a process about to end: a SQLite connection
    /// is dropped without waiting for its worker thread to close it (no
    /// transaction is open; the process's end closes the file). Servers
    /// are told goodbye, so that they do not log a lost client.
    pub(crate) async fn close_for_exit(mut self) {
        if self.backend == Backend::Sqlite {
            self.unlock().await;
            drop(self);
        } else {
            self.close().await;
        }
    }
}

/// What a completed stage changes in the history.
#[derive(Debug, Clone)]
pub(crate) enum HistoryWrite {
    /// Applied: its row.
    Insert(Box<AppliedStage>),
    /// Reverted: the row goes.
    Delete(i64, StageKind),
}

/// `s` as a string literal that means exactly `s` whatever the session's
/// settings: PostgreSQL dollar quoting (no escapes at all; the tag is one
/// the text cannot close), SQLite `'...'` with quotes doubled (SQLite has no
/// other escape). `None` on MySQL, whose escaping depends on `sql_mode`, and
/// for text with a NUL byte: those are bound as parameters instead.
fn literal(backend: Backend, s: &str) -> Option<String> {
    if s.contains('\0') {
        return None;
    }
    match backend {
        Backend::Sqlite => Some(format!("'{}'", s.replace('\'', "''"))),
        Backend::Postgres => {
            // The text followed by the closing `$` must not contain the
            // delimiter, or the literal would end early.
            let closed = format!("{s}$");
            let mut tag = String::from("m");
            while closed.contains(&format!("${tag}$")) {
                tag.push('m');
            }
            Some(format!("${tag}${s}${tag}$"))
        }
        Backend::Mysql => None,
    }
}

fn normalize_url(backend: Backend, url: &str) -> Result<String, Error> {
    Ok(match backend {
        Backend::Postgres => {
            let url = postgres::schema_as_search_path(url)?;
            // `pg_stat_activity` (and the runner lock's holder) then says who
            // is migrating, unless the URL names the application itself.
            let url = url.replacen("postgresql:", "postgres:", 1);
            if url.contains("application_name=") {
                url
            } else if url.contains('?') {
                format!("{url}&application_name=migrate")
            } else {
                format!("{url}?application_name=migrate")
            }
        }
        Backend::Mysql => url.replacen("mariadb:", "mysql:", 1),
        Backend::Sqlite => sqlite::normalize_url(url),
    })
}

async fn connect_raw(
    backend: Backend,
    url: &str,
    native: Option<&Native>,
    redacted: &str,
    secrets: &[String],
    timeout: Duration,
) -> Result<Conn, Error> {
    let connecting = async {
        match native {
            Some(native) => Conn::connect_native(native).await,
            None => Conn::connect(backend, url).await,
        }
    };
    let Ok(connected) = tokio::time::timeout(timeout, connecting).await else {
        return Err(Error::Connect {
            url: redacted.to_string(),
            message: format!(
                "no answer within {} (connect-timeout): check that the host is up and reachable from here, or raise --connect-timeout",
                humantime::format_duration(timeout)
            ),
            bad_url: false,
            cause: None,
        });
    };
    connected.map_err(|e| {
        let input = matches!(e, sqlx::Error::Configuration(_));
        let mut message = match &e {
            sqlx::Error::Database(d) => d.message().to_string(),
            other => other.to_string(),
        };
        let missing_database = match &e {
            sqlx::Error::Database(d) => {
                d.code().as_deref() == Some("3D000") || d.message().starts_with("Unknown database")
            }
            _ => false,
        };
        if missing_database {
            message.push_str(": `migrate database create` creates it");
        }
        Error::Connect {
            url: redacted.to_string(),
            message: redact_secrets(&message, secrets),
            bad_url: input,
            cause: Some(crate::error::Cause::new(e)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_prefix_is_a_name_never_sql() {
        assert!(validate_table_prefix("_migrate_").is_ok());
        assert!(validate_table_prefix("app_2").is_ok());
        for bad in ["", "x; DROP TABLE users; --", "a.b", "a b", "ä"] {
            let e = validate_table_prefix(bad).unwrap_err();
            assert!(
                e.is_input() && e.to_string().contains("only letters"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn literals_cannot_be_closed_by_their_text() {
        assert_eq!(literal(Backend::Sqlite, "it's").unwrap(), "'it''s'");
        assert_eq!(literal(Backend::Postgres, "a").unwrap(), "$m$a$m$");
        // Text holding the delimiter, or ending so that the closing `$`
        // would complete it, gets a longer tag.
        assert_eq!(
            literal(Backend::Postgres, "x $m$ y").unwrap(),
            "$mm$x $m$ y$mm$"
        );
        assert_eq!(literal(Backend::Postgres, "x$m").unwrap(), "$mm$x$m$mm$");
        assert_eq!(
            literal(Backend::Postgres, "$m$ and $mm$").unwrap(),
            "$mmm$$m$ and $mm$$mmm$"
        );
        assert_eq!(literal(Backend::Mysql, "a"), None);
        assert_eq!(literal(Backend::Sqlite, "nul\0byte"), None);
    }
}
