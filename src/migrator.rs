//! Migrating at application start-up.
//!
//! ```no_run
//! # async fn start() -> Result<(), migrate::Error> {
//! let report = migrate::Migrator::from_dir("migrations")?
//!     .run("sqlite://app.db")
//!     .await?;
//! tracing::info!(applied = report.applied.len(), "database ready");
//! # Ok(()) }
//! ```
//!
//! Invariants: the library prints nothing (it emits `tracing` events); by
//! default start-up applies simple migrations and expand stages only, never
//! contracts and never downs; many replicas starting at once apply each
//! stage exactly once (the runner lock), and a failed start releases the
//! lock so the next start proceeds.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::driver::{ConnectOptions, Driver};
pub use crate::error::PendingStage;
use crate::error::{Error, StepReport};
use crate::history::{AppliedStage, RowState, verify};
use crate::plan::{StageFilter, UpScope, plan_up};
use crate::runner::{RunOptions, Runner, UpRequest};
use crate::source::{self, Source, StageKind};

/// What start-up may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StartupPolicy {
    /// Apply simple migrations and expand stages; leave contracts to the
    /// deploy job that runs once the old application is gone. The default:
    /// during a rolling deploy, old instances keep working.
    #[default]
    ExpandOnly,
    /// Apply everything pending, contracts included (development, or an
    /// application that is never run in two versions at once).
    All,
    /// Apply nothing: fail start-up if anything is pending (for teams that
    /// migrate in a deploy job).
    CheckOnly,
}

/// What to do when the database has stages this build does not know (a
/// newer release ran, then the application was rolled back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnknownApplied {
    /// Start, with a warning event: expand/contract keeps old versions working.
    #[default]
    Warn,
    /// Refuse to start.
    Error,
}

/// What a start-up did.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct StartupReport {
    /// Stages applied, in order, with durations and archives.
    pub applied: Vec<StepReport>,
    /// Contract stages left pending by the policy.
    pub contracts_left: Vec<PendingStage>,
    /// Applied stages this build does not know.
    pub unknown_applied: Vec<(i64, StageKind)>,
}

/// A database to migrate: a URL, or the application's sqlx pool or connect
/// options for PostgreSQL, MySQL/MariaDB or SQLite.
///
/// migrate opens connections of its own with the pool's connect options, as
/// they are (TLS roots in memory, SQLite collations, extensions and pragmas
/// included: nothing goes through a URL), rather than borrowing the pool's
/// connections: the runner lock must live on a session that nothing else
/// uses (a pool would hand a lock-holding connection to the application),
/// and the history is read and written on one connection. A SQLite
/// in-memory pool (`sqlite::memory:`) works: sqlx opens it with a shared
/// cache, and migrate joins the same database while the pool is open.
pub trait ConnectTo {
    /// The URL migrate shows in messages (secrets are never shown), and
    /// connects with when there are no [`ConnectTo::options`].
    fn url(&self) -> String;
    /// The backend's own connect options, used as they are when present.
    fn options(&self) -> Option<NativeOptions> {
        None
    }
}

/// A backend's connect options, as [`ConnectTo`] takes them from a pool or
/// from sqlx's options (opaque).
#[derive(Debug, Clone)]
pub struct NativeOptions(crate::driver::Native);

impl ConnectTo for &str {
    fn url(&self) -> String {
        self.to_string()
    }
}

impl ConnectTo for String {
    fn url(&self) -> String {
        self.clone()
    }
}

impl ConnectTo for &String {
    fn url(&self) -> String {
        (*self).clone()
    }
}

/// `ConnectTo` for a backend's connect options and its pool: the options
/// themselves, and a URL for messages.
macro_rules! connect_to {
    ($feature:literal, $variant:ident, $options:ty, $db:ty, $url:expr) => {
        #[cfg(feature = $feature)]
        impl ConnectTo for &$options {
            fn url(&self) -> String {
                ($url)(*self)
            }
            fn options(&self) -> Option<NativeOptions> {
                Some(NativeOptions(crate::driver::Native::$variant(
                    (*self).clone(),
                )))
            }
        }

        #[cfg(feature = $feature)]
        impl ConnectTo for &sqlx::Pool<$db> {
            fn url(&self) -> String {
                ($url)(&*self.connect_options())
            }
            fn options(&self) -> Option<NativeOptions> {
                Some(NativeOptions(crate::driver::Native::$variant(
                    (*self.connect_options()).clone(),
                )))
            }
        }
    };
}

fn lossy_url(options: &impl sqlx::ConnectOptions) -> String {
    options.to_url_lossy().to_string()
}

connect_to!(
    "postgres",
    Postgres,
    sqlx::postgres::PgConnectOptions,
    sqlx::Postgres,
    lossy_url
);
connect_to!(
    "mysql",
    Mysql,
    sqlx::mysql::MySqlConnectOptions,
    sqlx::MySql,
    lossy_url
);
connect_to!(
    "sqlite",
    Sqlite,
    sqlx::sqlite::SqliteConnectOptions,
    sqlx::Sqlite,
    sqlite_url
);

/// An `Any` pool or options name their database only by URL: that URL.
#[cfg(feature = "db")]
impl ConnectTo for &sqlx::any::AnyConnectOptions {
    fn url(&self) -> String {
        lossy_url(*self)
    }
}

#[cfg(feature = "db")]
impl ConnectTo for &sqlx::Pool<sqlx::Any> {
    fn url(&self) -> String {
        lossy_url(&*self.connect_options())
    }
}

/// sqlx's own `to_url_lossy` panics on an in-memory database's name
/// (`file:sqlx-in-memory-N`), so the URL is built here: the pool's shared
/// in-memory database, or its file.
#[cfg(feature = "sqlite")]
fn sqlite_url(options: &sqlx::sqlite::SqliteConnectOptions) -> String {
    let file = options.get_filename().to_string_lossy();
    if file.starts_with("file:sqlx-in-memory-") {
        format!("sqlite:{file}?mode=memory&cache=shared")
    } else {
        format!("sqlite://{file}")
    }
}

/// Migrates a database at start-up.
#[derive(Debug, Clone)]
pub struct Migrator {
    source: Source,
    policy: StartupPolicy,
    unknown: UnknownApplied,
    connect: ConnectOptions,
    run: RunOptions,
}

impl Migrator {
    /// Loads the migrations of `dir` at run time, with the same loader as
    /// the command line.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Migrator, Error> {
        Ok(Migrator::new(source::load(dir.as_ref())?))
    }

    /// The migrations a build script embedded in the binary
    /// (`migrate::embed!("migrations")`, see [`crate::build`]), read with the
    /// same loader as the command line.
    pub fn embedded(embedded: source::Embedded) -> Result<Migrator, Error> {
        Ok(Migrator::new(source::load_embedded(&embedded)?))
    }

    /// A migrator over already loaded migrations.
    pub fn new(source: Source) -> Migrator {
        Migrator {
            source,
            policy: StartupPolicy::default(),
            unknown: UnknownApplied::default(),
            connect: ConnectOptions::default(),
            run: RunOptions::default(),
        }
    }

    /// Sets the start-up policy.
    pub fn policy(mut self, policy: StartupPolicy) -> Migrator {
        self.policy = policy;
        self
    }

    /// Sets what happens when the database has stages this build does not know.
    pub fn unknown_applied(mut self, unknown: UnknownApplied) -> Migrator {
        self.unknown = unknown;
        self
    }

    /// How long to wait for another instance's migration (default 60 s).
    pub fn lock_wait(mut self, wait: Duration) -> Migrator {
        self.run.lock_wait = wait;
        self
    }

    /// The checker's settings, as `[check]` of migrate.toml gives them to
    /// `migrate check` ([`crate::check::config::CheckConfig`]): start-up
    /// refuses exactly the findings `check` reports as errors.
    pub fn check_config(
        mut self,
        config: &crate::check::config::CheckConfig,
    ) -> Result<Migrator, Error> {
        self.run.check_severities = config.severities().map_err(Error::BadInput)?;
        Ok(self)
    }

    /// The history tables' prefix (default `_migrate_`).
    pub fn table_prefix(mut self, prefix: impl Into<String>) -> Migrator {
        self.connect.table_prefix = prefix.into();
        self
    }

    /// The migrations.
    pub fn source(&self) -> &Source {
        &self.source
    }

    fn filter(&self) -> StageFilter {
        match self.policy {
            StartupPolicy::All => StageFilter::All,
            _ => StageFilter::Expand,
        }
    }

    /// What is pending (contracts included), without taking the lock: one
    /// query, for a readiness probe. A stage another instance is applying
    /// right now outside a transaction (every stage on MySQL) is recorded as
    /// failed until it completes; when the runner lock is held, such stages
    /// are reported pending with `running` set instead of refusing. A stage
    /// a crash really left failed is `Error::Refused`, as for `up`.
    pub async fn pending(&self, db: impl ConnectTo) -> Result<Vec<PendingStage>, Error> {
        self.pending_at(&db.url(), db.options().map(|o| o.0)).await
    }

    async fn pending_at(
        &self,
        url: &str,
        native: Option<crate::driver::Native>,
    ) -> Result<Vec<PendingStage>, Error> {
        let mut driver = Driver::connect_with(url, native, &self.connect).await?;
        let result = self.pending_on(&mut driver).await;
        driver.close().await;
        result
    }

    async fn pending_on(&self, driver: &mut Driver) -> Result<Vec<PendingStage>, Error> {
        let history = driver.read_history_summary().await?.unwrap_or_default();
        let v = verify(&self.source, &history);
        let pending = |steps: Vec<crate::plan::Step>, running: &[(i64, StageKind)]| {
            steps
                .into_iter()
                .map(|s| PendingStage {
                    version: s.version,
                    migration: format!("{}_{}", s.version_text, s.name),
                    stage: s.stage,
                    running: running.contains(&(s.version, s.stage)),
                })
                .collect()
        };
        let blockers = match plan_up(&self.source, &history, &v, &UpScope::default()) {
            Ok(steps) => return Ok(pending(steps, &[])),
            Err(blockers) => blockers,
        };
        let failed: Vec<(i64, StageKind)> = history
            .iter()
            .filter(|r| r.state == RowState::Failed)
            .map(|r| (r.version, r.stage))
            .collect();
        if failed.is_empty() {
            return Err(Error::Refused { blockers });
        }
        // Failed rows: in progress elsewhere, or cut by a crash? The lock says.
        match driver.lock(Duration::ZERO).await {
            Ok(()) => {
                // Nobody is running: re-read under the lock (the run that
                // held the failed row may have completed meanwhile).
                let history = driver.read_history_summary().await;
                driver.unlock().await;
                let history = history?.unwrap_or_default();
                let v = verify(&self.source, &history);
                let steps = plan_up(&self.source, &history, &v, &UpScope::default())
                    .map_err(|blockers| Error::Refused { blockers })?;
                Ok(pending(steps, &[]))
            }
            Err(Error::Locked { .. }) => {
                let rest: Vec<AppliedStage> = history
                    .into_iter()
                    .filter(|r| r.state != RowState::Failed)
                    .collect();
                let v = verify(&self.source, &rest);
                let steps = plan_up(&self.source, &rest, &v, &UpScope::default())
                    .map_err(|blockers| Error::Refused { blockers })?;
                Ok(pending(steps, &failed))
            }
            Err(e) => Err(e),
        }
    }

    /// Brings the database up to date under the policy. `db` is a URL, or
    /// the application's sqlx pool (or connect options), whose settings
    /// migrate uses to open its own connections (see [`ConnectTo`]).
    pub async fn run(&self, db: impl ConnectTo) -> Result<StartupReport, Error> {
        let (url, native) = (db.url(), db.options().map(|o| o.0));
        if self.policy == StartupPolicy::CheckOnly {
            let pending = self.pending_at(&url, native).await?;
            if !pending.is_empty() {
                return Err(Error::Pending { stages: pending });
            }
            return Ok(StartupReport::default());
        }
        // No lock-free look-ahead before applying: on MySQL another
        // instance's stage in progress looks like a failed one until it
        // completes. The runner decides under the lock.
        let mut runner = Runner::connect_native(
            &url,
            native,
            self.source.clone(),
            &self.connect,
            self.run.clone(),
        )
        .await?;
        let result = self.run_with(&mut runner).await;
        runner.close().await;
        result
    }

    async fn run_with(&self, runner: &mut Runner) -> Result<StartupReport, Error> {
        // Stages this build does not know are stable: checking them without
        // the lock is sound, and refusing must happen before anything runs.
        let unknown = verify(&self.source, &runner.history().await?).unknown;
        if !unknown.is_empty() {
            let list: Vec<String> = unknown.iter().map(|(v, s)| format!("{v} ({s})")).collect();
            match self.unknown {
                UnknownApplied::Warn => tracing::warn!(
                    stages = %list.join(", "),
                    "the database has stages this build does not know (a newer release was rolled back?); starting anyway"
                ),
                UnknownApplied::Error => {
                    return Err(Error::UnknownApplied { stages: unknown });
                }
            }
        }
        let req = UpRequest {
            stages: self.filter(),
            ..UpRequest::default()
        };
        let run = runner
            .up(&req, &mut |p| {
                if let crate::runner::Progress::Done(d) = p {
                    tracing::info!(migration = %d.migration, stage = %d.stage, ms = d.duration_ms, "applied at start-up");
                }
            })
            .await?;
        let history = runner.history().await?;
        let v = verify(&self.source, &history);
        let contracts_left: Vec<PendingStage> =
            plan_up(&self.source, &history, &v, &UpScope::default())
                .unwrap_or_default()
                .into_iter()
                .filter(|s| s.stage == StageKind::Contract)
                .map(|s| PendingStage {
                    version: s.version,
                    migration: format!("{}_{}", s.version_text, s.name),
                    stage: s.stage,
                    running: false,
                })
                .collect();
        if !contracts_left.is_empty() {
            tracing::info!(
                count = contracts_left.len(),
                "contract stages left for the deploy job (`migrate contract`)"
            );
        }
        Ok(StartupReport {
            applied: run.steps,
            contracts_left,
            unknown_applied: unknown,
        })
    }
}
