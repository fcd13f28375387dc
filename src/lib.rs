//! `migrate`: database migrations where every change can be taken back.
//!
//! The library reads paired up/down migrations in the layouts of sqlx,
//! golang-migrate, diesel and dbmate (plus staged expand/contract
//! directories), and applies and reverts them on SQLite, PostgreSQL and
//! MySQL/MariaDB. See `ARCHITECTURE.md` for the code map.
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

#[cfg(feature = "db")]
pub mod adopt;
pub mod archive;
pub mod build;
pub mod check;
pub mod checkpoint;
#[cfg(feature = "db")]
pub mod drill;
#[cfg(feature = "db")]
pub mod driver;
pub mod error;
pub mod history;
#[cfg(feature = "db")]
pub mod migrator;
pub mod plan;
pub mod redact;
#[cfg(feature = "db")]
pub mod runner;
pub mod source;
pub mod sql;

pub use error::Error;
#[cfg(feature = "db")]
pub use migrator::{ConnectTo, Migrator, StartupPolicy, UnknownApplied};
#[cfg(feature = "db")]
pub use runner::Runner;
