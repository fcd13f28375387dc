//! `migrate`: database migrations where every change can be taken back.
//!
//! The library reads paired up/down migrations in the layouts of sqlx,
//! golang-migrate, diesel and dbmate (plus staged expand/contract
//! directories), and applies and reverts them on SQLite, PostgreSQL and
//! MySQL/MariaDB. See `ARCHITECTURE.md` for the code map.

pub mod source;
pub mod sql;
pub mod redact;
