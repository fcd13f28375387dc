//! What the database says was applied, and its comparison with the files.
//!
//! Invariant: pure. [`verify`] is a function of the source and the history
//! rows; it never reads a file or a database.

use serde::Serialize;

use crate::source::{Direction, Source, StageKind};

/// The state of a row in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RowState {
    /// The stage is applied.
    Applied,
    /// A stage that could not run in a transaction stopped part-way (or the
    /// process died during it). `status` shows it, `up` and `down` refuse
    /// until `migrate resolve` says what the database really holds.
    Failed,
}

impl RowState {
    /// As stored.
    pub fn name(self) -> &'static str {
        match self {
            RowState::Applied => "applied",
            RowState::Failed => "failed",
        }
    }
}

/// One applied (or failed) stage, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedStage {
    /// Migration version.
    pub version: i64,
    /// Which stage.
    pub stage: StageKind,
    /// Migration name at the time.
    pub name: String,
    /// Checksum of the up that ran.
    pub up_checksum: String,
    /// The down SQL, stored when the stage was applied, so that it can be
    /// reverted from a checkout that lacks the file.
    #[serde(skip)]
    pub down_sql: Option<String>,
    /// Its checksum.
    pub down_checksum: Option<String>,
    /// The file the down came from, for messages.
    pub down_path: Option<String>,
    /// When (RFC 3339, UTC).
    pub applied_at: String,
    /// `user@host`.
    pub applied_by: String,
    /// How long the up took.
    pub duration_ms: i64,
    /// Order of application: reverts go by descending sequence.
    pub seq: i64,
    /// Applied or failed.
    pub state: RowState,
    /// For a failed row: `up` or `down`.
    pub failed_direction: Option<Direction>,
    /// For a failed row: statements completed before it stopped.
    pub statements_done: Option<i64>,
    /// For a failed row: the database's message.
    pub error: Option<String>,
}

impl AppliedStage {
    /// `0003 (main)`.
    pub fn label(&self) -> String {
        format!("{}_{} ({})", self.version, self.name, self.stage)
    }
}

/// An applied up whose file changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// Version.
    pub version: i64,
    /// Stage.
    pub stage: StageKind,
    /// The file.
    pub path: String,
    /// Checksum recorded when applied.
    pub applied: String,
    /// Checksum of the file now.
    pub on_disk: String,
}

/// The history compared with the files.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    /// Applied ups changed on disk: `up` and `down` refuse.
    pub drift: Vec<Drift>,
    /// Downs on disk that differ from the stored ones (the stored one is used).
    pub down_drift: Vec<Drift>,
    /// Failed rows: `up` and `down` refuse until resolved.
    pub failed: Vec<(i64, StageKind)>,
    /// Applied stages whose migration (or stage) is not in the source
    /// directory: normal after an application rollback.
    pub unknown: Vec<(i64, StageKind)>,
}

/// Compares the history with the files.
pub fn verify(source: &Source, applied: &[AppliedStage]) -> Verification {
    let mut v = Verification::default();
    for row in applied {
        if row.state == RowState::Failed {
            v.failed.push((row.version, row.stage));
        }
        let Some(stage) = source.get(row.version).and_then(|m| m.stage(row.stage)) else {
            v.unknown.push((row.version, row.stage));
            continue;
        };
        if stage.up.checksum.as_str() != row.up_checksum {
            v.drift.push(Drift {
                version: row.version,
                stage: row.stage,
                path: stage.up.path.display().to_string(),
                applied: row.up_checksum.clone(),
                on_disk: stage.up.checksum.to_string(),
            });
        }
        let disk_down = stage.down.as_ref().map(|d| d.checksum.to_string());
        if row.state == RowState::Applied && disk_down != row.down_checksum {
            v.down_drift.push(Drift {
                version: row.version,
                stage: row.stage,
                path: stage
                    .down
                    .as_ref()
                    .map(|d| d.path.display().to_string())
                    .or_else(|| row.down_path.clone())
                    .unwrap_or_default(),
                applied: row.down_checksum.clone().unwrap_or_else(|| "(none)".into()),
                on_disk: disk_down.unwrap_or_else(|| "(none)".into()),
            });
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Layout, Migration, Script, Stage, checksum};
    use std::path::PathBuf;

    fn script(sql: &str) -> Script {
        Script::from_sql("f.sql", sql.to_string(), 0, crate::source::Direction::Up).unwrap()
    }

    fn source() -> Source {
        Source {
            dir: PathBuf::from("m"),
            migrations: vec![Migration {
                version: 1,
                version_text: "0001".into(),
                name: "a".into(),
                layout: Layout::Flat,
                path: PathBuf::from("m/0001_a.up.sql"),
                stages: vec![Stage {
                    kind: StageKind::Main,
                    up: script("CREATE TABLE a (x int);"),
                    down: Some(script("DROP TABLE a;")),
                }],
            }],
            ..Default::default()
        }
    }

    pub(crate) fn row(version: i64, up: &str, down: &str) -> AppliedStage {
        AppliedStage {
            version,
            stage: StageKind::Main,
            name: "a".into(),
            up_checksum: checksum(up).0,
            down_sql: Some(down.into()),
            down_checksum: Some(checksum(down).0),
            down_path: None,
            applied_at: String::new(),
            applied_by: String::new(),
            duration_ms: 0,
            seq: version,
            state: RowState::Applied,
            failed_direction: None,
            statements_done: None,
            error: None,
        }
    }

    #[test]
    fn clean_history_verifies() {
        let v = verify(
            &source(),
            &[row(1, "CREATE TABLE a (x int);", "DROP TABLE a;")],
        );
        assert!(v.drift.is_empty() && v.down_drift.is_empty() && v.unknown.is_empty());
    }

    #[test]
    fn edited_up_is_drift_and_unknown_versions_are_listed() {
        let v = verify(
            &source(),
            &[
                row(1, "CREATE TABLE a (x bigint);", "DROP TABLE a;"),
                row(2, "x", "y"),
            ],
        );
        assert_eq!(v.drift.len(), 1);
        assert_eq!(v.drift[0].on_disk, checksum("CREATE TABLE a (x int);").0);
        assert_eq!(v.unknown, vec![(2, StageKind::Main)]);
    }

    #[test]
    fn edited_down_is_reported_not_fatal() {
        let v = verify(
            &source(),
            &[row(1, "CREATE TABLE a (x int);", "DROP TABLE a CASCADE;")],
        );
        assert!(v.drift.is_empty());
        assert_eq!(v.down_drift.len(), 1);
    }
}
