//! Errors of the runner and drivers: data carrying what the user needs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use crate::plan::{Blocker, BlockerKind};
use crate::source::{Direction, LoadError, StageKind};

/// Shown at most: a thousand identical findings bury the one that differs
/// (and the hint at the end) under a screen nobody reads during an incident.
const BLOCKERS_SHOWN: usize = 20;

/// The blockers of a refusal, one per line: the first [`BLOCKERS_SHOWN`] of
/// those about a migration, how many more there are, then the general ones
/// (hints) in full. `Error::Refused` keeps every one for programs.
fn list_blockers(blockers: &[Blocker]) -> String {
    let (specific, general): (Vec<&Blocker>, Vec<&Blocker>) =
        blockers.iter().partition(|b| b.version.is_some());
    let mut out: String = specific
        .iter()
        .take(BLOCKERS_SHOWN)
        .map(|b| format!("\n  - {b}"))
        .collect();
    if specific.len() > BLOCKERS_SHOWN {
        out.push_str(&format!(
            "\n  - ... and {} more (`--format json` lists every one)",
            specific.len() - BLOCKERS_SHOWN
        ));
    }
    for b in general {
        out.push_str(&format!("\n  - {b}"));
    }
    out
}

/// The driver's own error behind one of migrate's (a `sqlx::Error` when a
/// database answered), what [`std::error::Error::source`] returns. Its text
/// is the driver's, not redacted: migrate's messages are the ones to show.
/// It dereferences to the error itself (so `source()` yields the driver's
/// error, which `downcast_ref::<sqlx::Error>()` recognises, not a wrapper).
#[derive(Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync + 'static>);

impl Cause {
    /// Wraps a driver's error.
    #[cfg(feature = "db")]
    pub(crate) fn new(e: impl std::error::Error + Send + Sync + 'static) -> Cause {
        Cause(Arc::new(e))
    }
}

impl std::ops::Deref for Cause {
    type Target = dyn std::error::Error + Send + Sync + 'static;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// A database's answer to a statement that failed.
#[derive(Debug, Clone, Serialize)]
pub struct DbError {
    /// The database's message (secrets redacted).
    pub message: String,
    /// SQLSTATE or engine code, when there is one.
    pub code: Option<String>,
    /// It failed waiting for a lock: worth a retry.
    pub lock_timeout: bool,
    /// The driver's error, when there was one (see [`Cause`]).
    #[serde(skip)]
    pub cause: Option<Cause>,
}

/// Two answers are the same when they say the same; the driver's error
/// object behind them is not compared.
impl PartialEq for DbError {
    fn eq(&self, other: &DbError) -> bool {
        self.message == other.message
            && self.code == other.code
            && self.lock_timeout == other.lock_timeout
    }
}

impl Eq for DbError {}

impl DbError {
    /// An error of migrate's own, in the place of a database's.
    pub fn of(e: &Error) -> DbError {
        DbError {
            message: e.to_string(),
            code: None,
            lock_timeout: false,
            cause: e.cause(),
        }
    }
}

/// A stage that has been applied or reverted by a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StepReport {
    /// Migration version.
    pub version: i64,
    /// `0003_add_x`.
    pub migration: String,
    /// Which stage.
    pub stage: StageKind,
    /// Applied (up) or reverted (down).
    pub direction: Direction,
    /// Statements run.
    pub statements: usize,
    /// Wall time.
    pub duration_ms: u64,
    /// Attempts needed (more than one after lock timeouts).
    pub attempts: u32,
    /// What `-- migrate:archive` kept.
    pub archived: Vec<String>,
    /// What archives came back.
    pub restored: Vec<String>,
}

/// A stage that failed while running.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StageFailure {
    /// `0003_add_x`.
    pub migration: String,
    /// Version.
    pub version: i64,
    /// Stage.
    pub stage: StageKind,
    /// Applying or reverting.
    pub direction: Direction,
    /// 1-based number of the failing statement within the script.
    pub statement: usize,
    /// `file:line` of that statement.
    pub location: String,
    /// The first line of the statement.
    pub excerpt: String,
    /// The database's error.
    pub db: DbError,
    /// True when the stage ran in a transaction that was rolled back: the
    /// database is exactly as before the stage.
    pub rolled_back: bool,
    /// Statements of the stage that did complete (non-transactional stages).
    pub statements_done: usize,
    /// Attempts made.
    pub attempts: u32,
    /// Stages the run completed before this one.
    pub completed: Vec<StepReport>,
    /// What the failed statement itself left in the database outside a
    /// transaction (an invalid index of a failed `CREATE INDEX
    /// CONCURRENTLY`), and whether migrate removed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub residue: Option<Residue>,
}

/// Something a failed statement left behind outside a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "what")]
#[non_exhaustive]
pub enum Residue {
    /// migrate removed it; the message says what it was.
    Removed(String),
    /// It is still there; the message says what to do.
    Left(String),
}

impl fmt::Display for StageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let doing = match self.direction {
            Direction::Up => "applying",
            Direction::Down => "reverting",
        };
        write!(
            f,
            "{} ({}) failed while {doing}, at statement {} ({}): {}",
            self.migration, self.stage, self.statement, self.location, self.db.message
        )?;
        if let Some(code) = &self.db.code {
            write!(f, " [{code}]")?;
        }
        write!(f, "\n  statement: {}", self.excerpt)?;
        if self.attempts > 1 {
            write!(
                f,
                "\n  gave up after {} attempts: another session held a lock on the table",
                self.attempts
            )?;
        }
        if self.rolled_back {
            write!(
                f,
                "\n  the stage was rolled back: the database is as it was before it"
            )?;
        } else if let Some(Residue::Left(what)) = &self.residue {
            write!(f, "\n  {what}")?;
        } else if self.statements_done == 0 {
            if let Some(Residue::Removed(what)) = &self.residue {
                write!(f, "\n  {what}")?;
            }
            write!(
                f,
                "\n  no statement of the stage had completed: the database is as it was before it"
            )?;
        } else {
            write!(
                f,
                "\n  the stage ran outside a transaction and {} statement(s) completed; the history marks it failed.\n  check the database, finish or undo the stage by hand, then run `migrate resolve {}:{} --as applied|reverted --reason ...`",
                self.statements_done, self.version, self.stage
            )?;
        }
        if !self.completed.is_empty() {
            // The first few and the last: a revert of hundreds of stages
            // would otherwise bury the failure under one endless line.
            const SHOWN: usize = 5;
            let label = |s: &StepReport| format!("{} ({})", s.migration, s.stage);
            let n = self.completed.len();
            let mut done: Vec<String> = self.completed.iter().take(SHOWN).map(label).collect();
            if n > SHOWN + 1 {
                done.push(format!("{} more", n - SHOWN - 1));
            }
            if n > SHOWN {
                done.push(label(&self.completed[n - 1]));
            }
            write!(
                f,
                "\n  completed before the failure ({n}): {}",
                done.join(", ")
            )?;
        }
        Ok(())
    }
}

/// The source of a failed stage is the database's own error (a
/// `sqlx::Error`), when a database answered.
impl std::error::Error for StageFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.db
            .cause
            .as_ref()
            .map(|e| &**e as &(dyn std::error::Error + 'static))
    }
}

/// A stage waiting to be applied (`Migrator::pending`, and what a
/// check-only start-up refuses with [`Error::Pending`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PendingStage {
    /// Version.
    pub version: i64,
    /// `0003_add_x`.
    pub migration: String,
    /// Stage.
    pub stage: StageKind,
    /// Another instance is applying it right now (it holds the runner lock
    /// and the stage is recorded as not yet complete).
    pub running: bool,
}

/// Everything that can go wrong outside the checker. Match on the variants
/// an application can act on (`Locked`, `Pending`, `Refused` with its
/// blockers' [`BlockerKind`], `Connect`,
/// `StageFailed`, `Load`); `source()` leads to the driver's error where one
/// caused it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The migration files could not be read.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The URL's scheme names no supported database.
    #[error(
        "unknown database URL scheme `{scheme}` in `{url}`: use sqlite://FILE, postgres://USER@HOST/DB or mysql://USER@HOST/DB (mariadb:// works too)"
    )]
    UnknownScheme {
        /// The scheme found.
        scheme: String,
        /// The redacted URL.
        url: String,
    },
    /// The database could not be reached or refused the login.
    #[error("cannot connect to {url}: {message}")]
    Connect {
        /// The redacted URL.
        url: String,
        /// What the driver said (redacted).
        message: String,
        /// The URL itself is malformed (bad input rather than a failure).
        bad_url: bool,
        /// The driver's error (none for a timeout or a missing file).
        #[source]
        cause: Option<Cause>,
    },
    /// A query of migrate's own failed.
    #[error("{doing} on {url} failed: {message}")]
    Database {
        /// The redacted URL.
        url: String,
        /// What migrate was doing.
        doing: String,
        /// The database's message.
        message: String,
        /// The driver's error, when there was one.
        #[source]
        cause: Option<Cause>,
    },
    /// The history tables come from a newer release.
    #[error(
        "the history tables were written by a newer release of migrate (history schema {found}, this release knows {supported}): upgrade migrate before running it against this database"
    )]
    NewerHistory {
        /// Version found.
        found: i64,
        /// Version this release writes.
        supported: i64,
    },
    /// The runner lock could not be used.
    #[error("cannot take the runner lock: {message}")]
    Lock {
        /// Why.
        message: String,
    },
    /// Another runner held the lock for longer than the wait allowed.
    #[error("another migrate run holds the lock{}; gave up after {}. Wait for it to finish, or raise --lock-wait", holder.as_ref().map(|h| format!(" ({h})")).unwrap_or_default(), humantime::format_duration(*waited))]
    Locked {
        /// How long we waited.
        waited: Duration,
        /// Who holds it, where the database can tell.
        holder: Option<String>,
    },
    /// The plan was refused before anything ran.
    #[error("refused; nothing was run:{}", list_blockers(blockers))]
    Refused {
        /// Every reason.
        blockers: Vec<Blocker>,
    },
    /// A statement failed while running a stage.
    #[error(transparent)]
    StageFailed(Box<StageFailure>),
    /// `Migrator` with a check-only policy found stages to apply: the deploy
    /// job has not run `migrate up` yet.
    #[error("start-up is check-only and {} stage(s) are pending: {}. Run `migrate up` in the deploy job first", stages.len(), stages.iter().map(|p| format!("{} ({})", p.migration, p.stage)).collect::<Vec<_>>().join(", "))]
    Pending {
        /// The stages, in run order.
        stages: Vec<PendingStage>,
    },
    /// The database has applied stages this build does not know (a newer
    /// release was rolled back), and `Migrator` was told to refuse that.
    #[error("the database has stages this build does not know: {}", stages.iter().map(|(v, s)| format!("{v} ({s})")).collect::<Vec<_>>().join(", "))]
    UnknownApplied {
        /// (version, stage) of each.
        stages: Vec<(i64, StageKind)>,
    },
    /// The verification command of `up --verify` failed; the stages the run
    /// applied were reverted under the same lock hold (or the revert failed
    /// too, with its error).
    #[error("verification `{command}` failed ({outcome}); {}", match (revert_error, reverted) {
        (None, 0) => "this run applied nothing, so nothing was reverted".to_string(),
        (None, n) => format!("reverted the {n} stage(s) this run applied: the database is back where the run started, and no checkpoint was recorded"),
        (Some(e), _) => format!("reverting the run failed too: {e}"),
    })]
    Verification {
        /// The command.
        command: String,
        /// `exit code N`, or how it ended.
        outcome: String,
        /// Stages reverted.
        reverted: usize,
        /// Why the revert failed, if it did.
        revert_error: Option<String>,
    },
    /// A target, version or stage given by the user does not exist.
    #[error("{0}")]
    BadInput(String),
}

impl Error {
    /// The driver's error behind this one, to carry over into another.
    pub(crate) fn cause(&self) -> Option<Cause> {
        match self {
            Error::Connect { cause, .. } | Error::Database { cause, .. } => cause.clone(),
            Error::StageFailed(f) => f.db.cause.clone(),
            _ => None,
        }
    }

    /// Bad usage or input (exit code 2) rather than a failure or refusal (1).
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            Error::Load(_)
                | Error::UnknownScheme { .. }
                | Error::BadInput(_)
                | Error::Connect { bad_url: true, .. }
        )
    }
}
