//! The planner: source + history + target -> the ordered steps to run.
//!
//! Invariants: pure; a plan is either complete and valid or refused with
//! every blocker listed (never only the first), so nothing is half-done
//! because step 7 of 9 was refused. Reverts follow the reverse of the apply
//! sequence, not version order, and use the down stored in the history.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::history::{AppliedStage, RowState, Verification};
use crate::source::{Direction, Script, Source, StageKind, beyond, cmp_versions};

/// One stage to apply or revert.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Apply (up) or revert (down).
    pub direction: Direction,
    /// Migration version.
    pub version: i64,
    /// As spelled in the file name (the number, when no file is left).
    pub version_text: String,
    /// Migration name.
    pub name: String,
    /// Which stage.
    pub stage: StageKind,
    /// The SQL to run: the up file, or the stored down.
    pub script: Script,
    /// For an up: the down to store with it (None when no down was written).
    #[serde(skip)]
    pub down: Option<Script>,
}

impl Step {
    /// `0003_add_x (main)`.
    pub fn label(&self) -> String {
        format!("{}_{} ({})", self.version_text, self.name, self.stage)
    }
}

/// Why a plan cannot run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// What kind of obstacle it is, for a program deciding what to do.
    pub kind: BlockerKind,
    /// The migration concerned, if one is.
    pub version: Option<i64>,
    /// What blocks and what to do.
    pub message: String,
}

/// What kind of obstacle a [`Blocker`] is. Serialised in kebab-case
/// (`"drift"`, `"failed-stage"`, ...) in `--format json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum BlockerKind {
    /// An applied migration's file changed since it was applied.
    Drift,
    /// A stage failed part-way earlier and needs `migrate resolve`.
    FailedStage,
    /// The order is impossible: a migration merged below one already
    /// applied, or a contract before its expand.
    Order,
    /// A stage to revert has no usable down (none stored, or unreadable).
    NoDown,
    /// A stage to revert is declared irreversible.
    Irreversible,
    /// The checker found an error in what would run.
    Checker,
    /// A statement migrate cannot run as written (an unfilled template, a
    /// COPY without its rows, transaction control inside a stage ...).
    Statement,
    /// An archive cannot be made or restored as declared.
    Archive,
    /// The plan changed between its confirmation and its run.
    PlanChanged,
    /// Another tool's history cannot be adopted as it is.
    Adopt,
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Where `down` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownTarget {
    /// Revert the N most recently applied stages.
    Steps(usize),
    /// Revert every stage of versions above this one (`0` reverts all).
    Version(i64),
    /// Revert every applied stage that is not in this state (a checkpoint).
    State(BTreeSet<(i64, StageKind)>),
}

/// Which stages `up`, `expand` and `contract` consider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StageFilter {
    /// Every stage (`migrate up`).
    #[default]
    All,
    /// Simple migrations and expand stages (`migrate expand`).
    Expand,
    /// Contract stages only (`migrate contract`).
    Contract,
}

/// What `up` may apply.
#[derive(Debug, Clone, Default)]
pub struct UpScope {
    /// Versions up to this one (inclusive: `up --to 0` applies a diesel
    /// history's version 0, where `down --to 0` reverts every version).
    pub to: Option<i64>,
    /// Only stages of this state (a checkpoint).
    pub within: Option<BTreeSet<(i64, StageKind)>>,
    /// Which kinds of stage.
    pub stages: StageFilter,
}

impl UpScope {
    fn includes(&self, version: i64, stage: StageKind) -> bool {
        self.to.is_none_or(|to| cmp_versions(version, to).is_le())
            && self
                .within
                .as_ref()
                .is_none_or(|w| w.contains(&(version, stage)))
            && match self.stages {
                StageFilter::All => true,
                StageFilter::Expand => stage != StageKind::Contract,
                StageFilter::Contract => stage == StageKind::Contract,
            }
    }
}

fn common_blockers(v: &Verification, applied: &[AppliedStage]) -> Vec<Blocker> {
    let mut blockers = Vec::new();
    for d in &v.drift {
        blockers.push(Blocker {
            kind: BlockerKind::Drift,
            version: Some(d.version),
            message: format!(
                "{} ({}) changed after it was applied: applied {}, on disk {}. Restore the file as it was (an applied migration must not be edited; write a new one), or record the edit with `migrate resolve {}:{} --as applied --reason ...`",
                d.path, d.stage, d.applied, d.on_disk, d.version, d.stage
            ),
        });
    }
    for row in applied.iter().filter(|r| r.state == RowState::Failed) {
        blockers.push(Blocker {
            kind: BlockerKind::FailedStage,
            version: Some(row.version),
            message: format!(
                "{} failed during {} after {} statement(s){}: check the database, then run `migrate resolve {}:{} --as applied|reverted --reason ...`",
                row.label(),
                row.failed_direction.unwrap_or(Direction::Up),
                row.statements_done.unwrap_or(0),
                row.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default(),
                row.version,
                row.stage
            ),
        });
    }
    blockers
}

/// Plans `up`: every pending stage up to `to` (inclusive), in version order,
/// expand before contract.
pub fn plan_up(
    source: &Source,
    applied: &[AppliedStage],
    verification: &Verification,
    scope: &UpScope,
) -> Result<Vec<Step>, Vec<Blocker>> {
    let mut blockers = common_blockers(verification, applied);
    let applied_set: std::collections::HashSet<(i64, StageKind)> =
        applied.iter().map(|r| (r.version, r.stage)).collect();
    let is_applied = |version: i64, stage: StageKind| applied_set.contains(&(version, stage));
    let newest_applied = applied
        .iter()
        .map(|r| r.version)
        .max_by(|a, b| cmp_versions(*a, *b));
    let mut steps = Vec::new();
    for m in &source.migrations {
        if !m.stages.iter().any(|s| scope.includes(m.version, s.kind)) {
            continue;
        }
        let untouched = m.stages.iter().all(|s| !is_applied(m.version, s.kind));
        if untouched
            && let Some(newest) = newest_applied.filter(|&n| cmp_versions(n, m.version).is_gt())
        {
            blockers.push(Blocker {
                kind: BlockerKind::Order,
                version: Some(m.version),
                message: format!(
                    "{} is older than {newest}, which is already applied: it was probably merged late. Give it a version above {newest} (rename the file) so that every database applies migrations in the same order",
                    m.label()
                ),
            });
            continue;
        }
        for stage in &m.stages {
            if is_applied(m.version, stage.kind) || !scope.includes(m.version, stage.kind) {
                continue;
            }
            if stage.kind == StageKind::Contract
                && scope.stages == StageFilter::Contract
                && m.stage(StageKind::Expand).is_some()
                && !is_applied(m.version, StageKind::Expand)
            {
                blockers.push(Blocker {
                    kind: BlockerKind::Order,
                    version: Some(m.version),
                    message: format!(
                        "{} (contract) cannot run before its expand stage: run `migrate expand` first",
                        m.label()
                    ),
                });
                continue;
            }
            steps.push(Step {
                direction: Direction::Up,
                version: m.version,
                version_text: m.version_text.clone(),
                name: m.name.clone(),
                stage: stage.kind,
                script: stage.up.clone(),
                down: stage.down.clone(),
            });
        }
    }
    if blockers.is_empty() {
        Ok(steps)
    } else {
        Err(blockers)
    }
}

/// Plans `down`: the stages to revert, most recently applied first, each
/// with the down stored in the history.
pub fn plan_down(
    source: &Source,
    applied: &[AppliedStage],
    verification: &Verification,
    target: &DownTarget,
) -> Result<Vec<Step>, Vec<Blocker>> {
    let (steps, blockers) = plan_down_parts(source, applied, verification, target);
    if blockers.is_empty() {
        Ok(steps)
    } else {
        Err(blockers)
    }
}

/// [`plan_down`]'s steps that can run and the blockers of the others, so
/// that a caller can add its own blockers and list them all.
pub fn plan_down_parts(
    source: &Source,
    applied: &[AppliedStage],
    verification: &Verification,
    target: &DownTarget,
) -> (Vec<Step>, Vec<Blocker>) {
    let mut blockers = common_blockers(verification, applied);
    let mut rows: Vec<&AppliedStage> = applied
        .iter()
        .filter(|r| r.state == RowState::Applied)
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.seq));
    let chosen: Vec<&AppliedStage> = match target {
        DownTarget::Steps(n) => rows.into_iter().take(*n).collect(),
        DownTarget::Version(v) => rows.into_iter().filter(|r| beyond(r.version, *v)).collect(),
        DownTarget::State(state) => rows
            .into_iter()
            .filter(|r| !state.contains(&(r.version, r.stage)))
            .collect(),
    };
    let mut steps = Vec::new();
    for row in chosen {
        let migration = source.get(row.version);
        let version_text =
            migration.map_or_else(|| row.version.to_string(), |m| m.version_text.clone());
        let label = format!("{version_text}_{} ({})", row.name, row.stage);
        let Some(sql) = &row.down_sql else {
            blockers.push(Blocker {
                kind: BlockerKind::NoDown,
                version: Some(row.version),
                message: format!(
                    "{label} has no down: none was written when it was applied. Revert it by hand, then record that with `migrate resolve {}:{} --as reverted --reason ...`",
                    row.version, row.stage
                ),
            });
            continue;
        };
        let path = row
            .down_path
            .clone()
            .unwrap_or_else(|| format!("stored down of {label}"));
        let script = match Script::from_stored(path, sql) {
            Ok(s) => s,
            Err(errors) => {
                for (line, message) in errors {
                    blockers.push(Blocker {
                        kind: BlockerKind::NoDown,
                        version: Some(row.version),
                        message: format!(
                            "{label}: the stored down is unreadable at line {line}: {message}"
                        ),
                    });
                }
                continue;
            }
        };
        if let Some(reason) = script.irreversible_reason() {
            blockers.push(Blocker {
                kind: BlockerKind::Irreversible,
                version: Some(row.version),
                message: format!("{label} is declared irreversible: {reason}. This is a point of no return; restore from a backup instead"),
            });
            continue;
        }
        steps.push(Step {
            direction: Direction::Down,
            version: row.version,
            version_text,
            name: row.name.clone(),
            stage: row.stage,
            script,
            down: None,
        });
    }
    (steps, blockers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::verify;
    use crate::source::{Layout, Migration, Stage, checksum};
    use std::path::PathBuf;

    fn script(sql: &str, d: Direction) -> Script {
        Script::from_sql("f.sql", sql.to_string(), 0, d).unwrap()
    }

    fn source(versions: &[i64]) -> Source {
        Source {
            dir: PathBuf::from("m"),
            migrations: versions
                .iter()
                .map(|&v| Migration {
                    version: v,
                    version_text: format!("{v:04}"),
                    name: format!("m{v}"),
                    layout: Layout::Flat,
                    path: PathBuf::from(format!("m/{v:04}_m{v}.up.sql")),
                    stages: vec![Stage {
                        kind: StageKind::Main,
                        up: script(&format!("CREATE TABLE t{v} (x int);"), Direction::Up),
                        down: Some(script(&format!("DROP TABLE t{v};"), Direction::Down)),
                    }],
                })
                .collect(),
            ..Default::default()
        }
    }

    fn applied(src: &Source, versions: &[i64]) -> Vec<AppliedStage> {
        versions
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let s = &src.get(v).unwrap().stages[0];
                AppliedStage {
                    version: v,
                    stage: StageKind::Main,
                    name: format!("m{v}"),
                    up_checksum: s.up.checksum.0.clone(),
                    down_sql: s.down.as_ref().map(|d| d.sql.clone()),
                    down_checksum: s.down.as_ref().map(|d| d.checksum.0.clone()),
                    down_path: None,
                    applied_at: String::new(),
                    applied_by: String::new(),
                    duration_ms: 0,
                    seq: i as i64 + 1,
                    state: RowState::Applied,
                    failed_direction: None,
                    statements_done: None,
                    error: None,
                }
            })
            .collect()
    }

    #[test]
    fn up_plans_pending_in_order_and_respects_to() {
        let src = source(&[1, 2, 3]);
        let hist = applied(&src, &[1]);
        let v = verify(&src, &hist);
        let steps = plan_up(&src, &hist, &v, &UpScope::default()).unwrap();
        assert_eq!(
            steps.iter().map(|s| s.version).collect::<Vec<_>>(),
            vec![2, 3]
        );
        let steps = plan_up(
            &src,
            &hist,
            &v,
            &UpScope {
                to: Some(2),
                ..UpScope::default()
            },
        )
        .unwrap();
        assert_eq!(steps.len(), 1);
    }

    #[test]
    fn out_of_order_migration_is_refused() {
        let src = source(&[1, 2, 3]);
        let hist = applied(&src, &[1, 3]);
        let v = verify(&src, &hist);
        let err = plan_up(&src, &hist, &v, &UpScope::default()).unwrap_err();
        assert!(err[0].message.contains("older than 3"), "{}", err[0]);
    }

    #[test]
    fn down_reverts_by_sequence_and_uses_stored_sql() {
        let src = source(&[1, 2, 3]);
        let mut hist = applied(&src, &[1, 2, 3]);
        hist[1].down_sql = Some("DROP TABLE t2 /* stored */;".into());
        let newer_only = source(&[1]); // an older checkout
        let v = verify(&newer_only, &hist);
        let steps = plan_down(&newer_only, &hist, &v, &DownTarget::Version(1)).unwrap();
        assert_eq!(
            steps.iter().map(|s| s.version).collect::<Vec<_>>(),
            vec![3, 2]
        );
        assert!(steps[1].script.sql.contains("stored"));
        let steps = plan_down(&src, &hist, &verify(&src, &hist), &DownTarget::Steps(1)).unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].version, 3);
    }

    #[test]
    fn every_blocker_is_listed() {
        let src = source(&[1, 2, 3]);
        let mut hist = applied(&src, &[1, 2, 3]);
        hist[2].down_sql = None;
        hist[1].down_sql = Some("-- migrate:irreversible: data is gone".into());
        hist[0].up_checksum = checksum("edited").0;
        let v = verify(&src, &hist);
        let err = plan_down(&src, &hist, &v, &DownTarget::Version(0)).unwrap_err();
        assert_eq!(err.len(), 3, "{err:?}");
        assert!(
            err.iter()
                .any(|b| b.message.contains("irreversible: data is gone"))
        );
        assert!(err.iter().any(|b| b.message.contains("has no down")));
        assert!(
            err.iter()
                .any(|b| b.message.contains("changed after it was applied"))
        );
    }
}
