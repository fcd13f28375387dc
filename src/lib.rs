//! `migrate`: database migrations where every change can be taken back.
//!
//! Migrations are plain SQL pairs, an up and its down, in the layouts people
//! already have (sqlx and golang-migrate's flat `0003_x.up.sql` +
//! `.down.sql`, diesel's directories, dbmate's single files, and staged
//! expand/contract directories). They are applied and reverted on SQLite,
//! PostgreSQL and MySQL/MariaDB; each down is stored in the database when
//! its up runs, so a rollback works even from an older build that lacks the
//! newer files. `ARCHITECTURE.md` is the code map.
//!
//! # Three ways in
//!
//! **The command line** is the crate `migrate-cli` (binary `migrate`):
//! `migrate up`, `migrate down --to release-2.4.1`, `migrate check` in CI,
//! `migrate drill`. This library compiles none of its dependencies.
//!
//! **At application start-up**, [`Migrator`] applies what is pending under
//! a policy (expand stages only, by default, so old and new instances both
//! keep working), safe with many replicas starting at once:
//!
//! ```no_run
//! # async fn start() -> Result<(), migrate::Error> {
//! use migrate::{Migrator, StartupPolicy};
//!
//! let report = Migrator::from_dir("migrations")?
//!     .policy(StartupPolicy::ExpandOnly)
//!     .run("postgres://app@db/app") // or &pool: the pool's own options are used
//!     .await?;
//! println!("{} stages applied", report.applied.len());
//! # Ok(()) }
//! ```
//!
//! **Compiled into the binary**: a build script embeds the directory (and
//! fails the build on a migration the checker refuses), and
//! [`Migrator::embedded`] reads it:
//!
//! ```no_run
//! // build.rs: fn main() { ... }
//! migrate::build::Embed::new("migrations").run();
//! ```
//!
//! ```ignore
//! // src/main.rs (the `embed!` path comes from the build script's output)
//! let migrator = migrate::Migrator::embedded(migrate::embed!("migrations"))?;
//! ```
//!
//! Errors are one [`Error`] whose variants say what to do (`Locked`,
//! `Pending`, `Refused` with each blocker's kind, `Connect`, `StageFailed`,
//! `Load`), with the driver's error behind them as `source()`.
//!
//! The library prints nothing: it emits `tracing` events (target `migrate`).
//!
//! Lower level, [`Runner`] is what the command line drives (`up`, `down`
//! to a version or checkpoint, `status`, `resolve`):
//!
//! ```no_run
//! # async fn run() -> Result<(), migrate::Error> {
//! let source = migrate::source::load("migrations".as_ref())?;
//! let mut runner = migrate::Runner::connect(
//!     "sqlite://app.db",
//!     source,
//!     &migrate::driver::ConnectOptions::default(),
//!     migrate::runner::RunOptions::default(),
//! )
//! .await?;
//! let report = runner.up(&migrate::runner::UpRequest::default(), &mut |_| {}).await?;
//! println!("{} stages applied", report.steps.len());
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

// The documented API. `tests/public_api.rs` lists every public item of
// these (the list is in ARCHITECTURE.md) and fails when it changes unseen.
pub mod build;
pub mod check;
#[cfg(feature = "db")]
pub mod drill;
#[cfg(feature = "db")]
pub mod driver;
pub mod error;
#[cfg(feature = "db")]
pub mod fleet;
#[cfg(feature = "db")]
pub mod migrator;
#[cfg(feature = "db")]
pub mod runner;
pub mod source;
pub mod sql;

// What the `migrate` command (the crate `migrate-cli`) needs besides: public
// so that crate can use it, hidden from the documentation, and not part of
// the API (it may change in any release).
#[doc(hidden)]
#[cfg(feature = "db")]
pub mod adopt;
#[doc(hidden)]
pub mod archive;
#[doc(hidden)]
pub mod checkpoint;
#[doc(hidden)]
pub mod history;
#[doc(hidden)]
pub mod plan;
#[doc(hidden)]
pub mod redact;

pub use error::Error;
#[cfg(feature = "db")]
pub use migrator::{ConnectTo, Migrator, StartupPolicy, UnknownApplied};
#[cfg(feature = "db")]
pub use runner::Runner;
