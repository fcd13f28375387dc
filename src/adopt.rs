//! Taking over a database whose history another tool recorded.
//!
//! Reads the other tool's history table, checks it against the migration
//! files, and (unless it is a dry run) records the same migrations as
//! applied here, with their downs taken from the files, without running any
//! of their SQL. Any mismatch refuses the whole adoption.

use serde::Serialize;
use sha2::{Digest, Sha384};

use crate::driver::Backend;
use crate::error::Error;
use crate::plan::{Blocker, BlockerKind};
use crate::runner::Runner;
use crate::source::Source;

/// The tools whose history can be adopted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    /// sqlx-cli: `_sqlx_migrations (version, description, success, checksum, ...)`.
    Sqlx,
    /// diesel: `__diesel_schema_migrations (version, run_on)`.
    Diesel,
    /// golang-migrate: `schema_migrations (version, dirty)`, one row: the current version.
    GolangMigrate,
    /// dbmate: `schema_migrations (version)`, one row per applied migration.
    Dbmate,
}

impl Tool {
    /// Reads `sqlx`, `diesel`, `golang-migrate`, `dbmate`.
    pub fn parse(s: &str) -> Option<Tool> {
        match s {
            "sqlx" => Some(Tool::Sqlx),
            "diesel" => Some(Tool::Diesel),
            "golang-migrate" => Some(Tool::GolangMigrate),
            "dbmate" => Some(Tool::Dbmate),
            _ => None,
        }
    }

    /// The tool's history table.
    pub fn table(self) -> &'static str {
        match self {
            Tool::Sqlx => "_sqlx_migrations",
            Tool::Diesel => "__diesel_schema_migrations",
            Tool::GolangMigrate | Tool::Dbmate => "schema_migrations",
        }
    }
}

/// What an adoption records (or would).
#[derive(Debug, Clone, Serialize)]
pub struct Adoption {
    /// The tool.
    pub tool: Tool,
    /// Versions recorded as applied.
    pub versions: Vec<i64>,
    /// Whether it was recorded (false for a dry run).
    pub recorded: bool,
}

fn sqlx_checksum(text: &str) -> String {
    let digest = Sha384::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads `tool`'s history through `runner` and records it (unless `dry_run`).
pub async fn adopt(
    runner: &mut Runner,
    source: &Source,
    tool: Tool,
    dry_run: bool,
    reason: &str,
) -> Result<Adoption, Error> {
    let backend = runner.driver().backend();
    let sql = match (tool, backend) {
        (Tool::Sqlx, Backend::Postgres) => {
            "SELECT version::text, CASE WHEN success THEN '1' ELSE '0' END, encode(checksum, 'hex') FROM _sqlx_migrations ORDER BY version"
        }
        (Tool::Sqlx, Backend::Mysql) => {
            "SELECT CAST(version AS CHAR), CASE WHEN success THEN '1' ELSE '0' END, LOWER(HEX(checksum)) FROM _sqlx_migrations ORDER BY version"
        }
        (Tool::Sqlx, Backend::Sqlite) => {
            "SELECT CAST(version AS TEXT), CASE WHEN success THEN '1' ELSE '0' END, lower(hex(checksum)) FROM _sqlx_migrations ORDER BY version"
        }
        (Tool::GolangMigrate, Backend::Mysql) => {
            "SELECT CAST(version AS CHAR), CASE WHEN dirty THEN '1' ELSE '0' END, '' FROM schema_migrations"
        }
        (Tool::GolangMigrate, _) => {
            "SELECT CAST(version AS TEXT), CASE WHEN dirty THEN '1' ELSE '0' END, '' FROM schema_migrations"
        }
        (Tool::Diesel, Backend::Mysql) => {
            "SELECT CAST(version AS CHAR), '1', '' FROM __diesel_schema_migrations"
        }
        (Tool::Diesel, _) => {
            "SELECT CAST(version AS TEXT), '1', '' FROM __diesel_schema_migrations"
        }
        (Tool::Dbmate, Backend::Mysql) => {
            "SELECT CAST(version AS CHAR), '1', '' FROM schema_migrations"
        }
        (Tool::Dbmate, _) => "SELECT CAST(version AS TEXT), '1', '' FROM schema_migrations",
    };
    let rows = runner.driver().text_query(sql).await.map_err(|e| {
        Error::BadInput(format!(
            "cannot read {}'s history table {}: {e}",
            tool_name(tool),
            tool.table()
        ))
    })?;
    let mut blockers = Vec::new();
    let mut versions = Vec::new();
    for r in &rows {
        let digits: String = r[0].chars().filter(char::is_ascii_digit).collect();
        let Ok(version) = digits.parse::<i64>() else {
            blockers.push(Blocker {
                kind: BlockerKind::Adopt,
                version: None,
                message: format!("{}: version `{}` is not a number", tool.table(), r[0]),
            });
            continue;
        };
        match tool {
            Tool::Sqlx if r[1] != "1" => blockers.push(Blocker {
                kind: BlockerKind::FailedStage,
                version: Some(version),
                message: format!("sqlx recorded {version} as failed (success = false): fix it with sqlx first"),
            }),
            Tool::GolangMigrate if r[1] == "1" => blockers.push(Blocker {
                kind: BlockerKind::FailedStage,
                version: Some(version),
                message: format!("golang-migrate marked version {version} dirty: fix it with `migrate force` of golang-migrate first"),
            }),
            _ => {}
        }
        if tool == Tool::GolangMigrate {
            // One row: every migration up to it is applied.
            versions.extend(
                source
                    .migrations
                    .iter()
                    .filter(|m| !crate::source::beyond(m.version, version))
                    .map(|m| m.version),
            );
            if source.get(version).is_none() {
                blockers.push(Blocker {
                    kind: BlockerKind::Adopt,
                    version: Some(version),
                    message: format!(
                        "golang-migrate is at version {version}, which is not in {}",
                        source.dir.display()
                    ),
                });
            }
            continue;
        }
        match source.get(version) {
            None => blockers.push(Blocker {
                kind: BlockerKind::Adopt,
                version: Some(version),
                message: format!(
                    "{} recorded version {version}, which is not in {}",
                    tool_name(tool),
                    source.dir.display()
                ),
            }),
            Some(m) => {
                if tool == Tool::Sqlx && !r[2].is_empty() {
                    let file = std::fs::read_to_string(&m.stages[0].up.path).unwrap_or_default();
                    if sqlx_checksum(&file) != r[2] {
                        blockers.push(Blocker {
                            kind: BlockerKind::Drift,
                            version: Some(version),
                            message: format!("{}: the file differs from what sqlx applied (its checksum does not match)", m.stages[0].up.path.display()),
                        });
                    }
                }
                versions.push(version);
            }
        }
    }
    versions.sort();
    versions.dedup();
    // Once migrate has run here (even if everything was reverted since), its
    // own history is the truth: adopting again would record stale state.
    if !runner.history().await?.is_empty() || !runner.events().await?.is_empty() {
        blockers.push(Blocker {
            kind: BlockerKind::Adopt,
            version: None,
            message: "migrate already has a history in this database: nothing to adopt".into(),
        });
    }
    if !blockers.is_empty() {
        return Err(Error::Refused { blockers });
    }
    if !dry_run {
        for v in &versions {
            let m = source.get(*v).expect("checked above");
            for s in &m.stages {
                runner
                    .resolve(
                        *v,
                        Some(s.kind),
                        crate::runner::Resolution::Applied,
                        &format!("adopted from {}: {reason}", tool_name(tool)),
                        false,
                    )
                    .await?;
            }
        }
    }
    Ok(Adoption {
        tool,
        versions,
        recorded: !dry_run,
    })
}

fn tool_name(tool: Tool) -> &'static str {
    match tool {
        Tool::Sqlx => "sqlx",
        Tool::Diesel => "diesel",
        Tool::GolangMigrate => "golang-migrate",
        Tool::Dbmate => "dbmate",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlx_checksum_is_sha384_of_the_file() {
        assert_eq!(
            super::sqlx_checksum(""),
            "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"
        );
    }
}
