//! `resolve` and `repair`: changing what the history says by hand, with
//! the states that cannot exist refused.

use super::*;

impl Runner {
    /// Records by hand what the database really holds for a stage: the way
    /// out of a failed non-transactional stage. Runs no migration SQL.
    pub async fn resolve(
        &mut self,
        version: i64,
        stage: Option<StageKind>,
        resolution: Resolution,
        reason: &str,
        force: bool,
    ) -> Result<String, Error> {
        if reason.trim().is_empty() {
            return Err(Error::BadInput(
                "resolve needs --reason: say what you checked, for the event log".into(),
            ));
        }
        with_lock!(self, async {
            self.driver.ensure_tables().await?;
            let history = self.history().await?;
            let migration = self.source.get(version);
            let stage = match stage {
                Some(s) => s,
                None => {
                    let rows: Vec<&AppliedStage> =
                        history.iter().filter(|r| r.version == version).collect();
                    match (rows.as_slice(), migration) {
                        ([one], _) => one.stage,
                        ([], Some(m)) if m.stages.len() == 1 => m.stages[0].kind,
                        _ => {
                            return Err(Error::BadInput(format!(
                                "say which stage of {version}: `{version}:expand` or `{version}:contract`"
                            )));
                        }
                    }
                }
            };
            let row = history
                .iter()
                .find(|r| r.version == version && r.stage == stage);
            let step_label = format!("{version} ({stage})");
            self.refuse_impossible_resolution(&history, version, stage, resolution, row, force)?;
            let detail = format!(
                "as {}: {reason}",
                if resolution == Resolution::Applied {
                    "applied"
                } else {
                    "reverted"
                }
            );
            let message = match (resolution, row) {
                (Resolution::Applied, Some(row)) => {
                    // Take the file's checksum: this is also how an edit to an
                    // applied up is accepted on purpose.
                    let file_stage = migration.and_then(|m| m.stage(stage));
                    let mut fixed = row.clone();
                    fixed.state = RowState::Applied;
                    fixed.failed_direction = None;
                    fixed.statements_done = None;
                    fixed.error = None;
                    if let Some(s) = file_stage {
                        fixed.up_checksum = s.up.checksum.to_string();
                    }
                    // One transaction: a crash between the two leaves the row.
                    self.driver.begin().await?;
                    let replaced = async {
                        self.driver.delete_applied(version, stage).await?;
                        self.driver.insert_applied(&fixed).await
                    }
                    .await;
                    match replaced {
                        Ok(()) => self.driver.commit().await?,
                        Err(e) => {
                            self.driver.rollback().await;
                            return Err(e);
                        }
                    }
                    format!("{step_label} is recorded as applied")
                }
                (Resolution::Applied, None) => {
                    let Some(m) = migration else {
                        return Err(Error::BadInput(format!(
                            "no migration has version {version} in {}",
                            self.source.dir.display()
                        )));
                    };
                    let Some(s) = m.stage(stage) else {
                        return Err(Error::BadInput(format!(
                            "{} has no {stage} stage",
                            m.label()
                        )));
                    };
                    let step = Step {
                        direction: Direction::Up,
                        version,
                        version_text: m.version_text.clone(),
                        name: m.name.clone(),
                        stage,
                        script: s.up.clone(),
                        down: s.down.clone(),
                    };
                    let seq = self.driver.next_seq().await?;
                    self.driver
                        .insert_applied(&self.applied_row(
                            &step,
                            seq,
                            RowState::Applied,
                            Duration::ZERO,
                        ))
                        .await?;
                    format!("{step_label} is recorded as applied (no SQL was run)")
                }
                (Resolution::Reverted, Some(_)) => {
                    self.driver.delete_applied(version, stage).await?;
                    format!("{step_label} is recorded as not applied")
                }
                (Resolution::Reverted, None) => {
                    return Err(Error::BadInput(format!(
                        "{step_label} is not in the history: there is nothing to resolve"
                    )));
                }
            };
            let ev = self.stage_event("resolve", version, stage, "forced", detail);
            self.driver.insert_event(&ev).await?;
            Ok(message)
        })
    }

    /// Replaces the down stored with an applied stage by the down in the
    /// file, once the checker finds no error in the file's down: how a team
    /// uses the fix of a wrong down (one that fails on production data, or
    /// loses data) for a stage already applied. Recorded in the event log.
    pub async fn repair(
        &mut self,
        version: i64,
        stage: Option<StageKind>,
        reason: &str,
        dry_run: bool,
    ) -> Result<Repair, Error> {
        if reason.trim().is_empty() {
            return Err(Error::BadInput(
                "repair needs --reason: say what was wrong with the stored down".into(),
            ));
        }
        let Some(m) = self.source.get(version) else {
            return Err(Error::BadInput(format!(
                "no migration has version {version} in {}: repair takes the down from the file",
                self.source.dir.display()
            )));
        };
        let kind = match stage {
            Some(k) => k,
            None if m.stages.len() == 1 => m.stages[0].kind,
            None => {
                return Err(Error::BadInput(format!(
                    "say which stage of {}: `{version}:expand` or `{version}:contract`",
                    m.label()
                )));
            }
        };
        let Some(file_stage) = m.stage(kind) else {
            return Err(Error::BadInput(format!(
                "{} has no {kind} stage",
                m.label()
            )));
        };
        let Some(down) = file_stage.down.clone() else {
            return Err(Error::BadInput(format!(
                "{} ({kind}) has no down file to take",
                m.label()
            )));
        };
        let label = format!("{} ({kind})", m.label());
        // The file's down must pass the checker first.
        let report = check::check(
            &self.source,
            &CheckOptions {
                dialect: self.driver.backend().dialect(),
                severities: self.options.check_severities.clone(),
            },
        );
        let path = down.path.display().to_string();
        let errors: Vec<Blocker> = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error && d.file == path)
            .map(|d| Blocker {
                kind: BlockerKind::Checker,
                version: Some(version),
                message: format!(
                    "{label}: checker error [{}] at {}:{}: {}",
                    d.rule, d.file, d.line, d.message
                ),
            })
            .collect();
        if !errors.is_empty() {
            return Err(Error::Refused { blockers: errors });
        }
        with_lock!(self, async {
            self.driver.ensure_tables().await?;
            let history = self.history().await?;
            let Some(row) = history
                .iter()
                .find(|r| r.version == version && r.stage == kind && r.state == RowState::Applied)
            else {
                return Err(Error::BadInput(format!(
                    "{label} is not applied: only an applied stage has a stored down to repair"
                )));
            };
            let repair = Repair {
                stage: label.clone(),
                stored: row.down_sql.clone().unwrap_or_default(),
                file: down.sql.clone(),
                path: path.clone(),
                written: !dry_run,
            };
            if !dry_run {
                self.driver
                    .replace_down(
                        version,
                        kind,
                        &down.stored_text(),
                        &down.checksum.to_string(),
                        &path,
                    )
                    .await?;
                let ev = self.stage_event(
                    "repair",
                    version,
                    kind,
                    "forced",
                    format!("stored down replaced by {path}: {reason}"),
                );
                self.driver.insert_event(&ev).await?;
            }
            Ok(repair)
        })
    }

    /// `resolve` records what the database really holds; it refuses states
    /// that cannot exist, and taking back a healthy stage that has a down
    /// (that is `migrate down`'s work) unless forced.
    pub(super) fn refuse_impossible_resolution(
        &self,
        history: &[AppliedStage],
        version: i64,
        stage: StageKind,
        resolution: Resolution,
        row: Option<&AppliedStage>,
        force: bool,
    ) -> Result<(), Error> {
        let applied = |s: StageKind| {
            history
                .iter()
                .any(|r| r.version == version && r.stage == s && r.state == RowState::Applied)
        };
        let impossible = match (resolution, stage) {
            (Resolution::Applied, StageKind::Contract) if !applied(StageKind::Expand) => {
                Some(format!(
                    "{version} (contract) cannot be applied while {version} (expand) is not: resolve the expand first"
                ))
            }
            (Resolution::Reverted, StageKind::Expand) if applied(StageKind::Contract) => {
                Some(format!(
                    "{version} (expand) cannot be reverted while {version} (contract) is applied: resolve the contract first"
                ))
            }
            _ => None,
        };
        if let Some(message) = impossible {
            return Err(Error::BadInput(message));
        }
        if resolution == Resolution::Reverted
            && !force
            && let Some(r) = row
            && r.state == RowState::Applied
            && r.down_sql.is_some()
        {
            return Err(Error::BadInput(format!(
                "{version} ({stage}) is applied, not failed, and has a down: revert it with `migrate down`, which runs that down. If you already undid it by hand, say so with --force"
            )));
        }
        Ok(())
    }
}

/// What `resolve` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The stage is (now) fully applied.
    Applied,
    /// The stage is (now) not applied at all.
    Reverted,
}

/// What `migrate repair` replaced (or would, in a dry run).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Repair {
    /// `0003_add_x (main)`.
    pub stage: String,
    /// The down stored in the database until now.
    pub stored: String,
    /// The file's down that replaces it.
    pub file: String,
    /// The file it came from.
    pub path: String,
    /// Whether it was written (false for a dry run).
    pub written: bool,
}
