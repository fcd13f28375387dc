//! Bookkeeping: the history, the event log, checkpoints and archives as
//! recorded, and who runs migrate.

use super::*;

impl Runner {
    /// The history as it is now (empty when the tables do not exist).
    pub async fn history(&mut self) -> Result<Vec<AppliedStage>, Error> {
        Ok(self.driver.read_history().await?.unwrap_or_default())
    }

    /// The event log, oldest first.
    pub async fn events(&mut self) -> Result<Vec<Event>, Error> {
        self.driver.read_events().await
    }

    /// Every archive, oldest first.
    pub async fn archives(&mut self) -> Result<Vec<ArchiveRecord>, Error> {
        self.driver.archives().await
    }

    /// Drops archive tables and their records: those older than
    /// `older_than` (all when `None`), and only restored ones when
    /// `restored_only`. Archives are never deleted any other way.
    pub async fn purge_archives(
        &mut self,
        older_than: Option<Duration>,
        restored_only: bool,
    ) -> Result<Vec<ArchiveRecord>, Error> {
        with_lock!(self, async {
            let cutoff = older_than.map(|d| SystemTime::now() - d);
            let chosen: Vec<ArchiveRecord> = self
                .driver
                .archives()
                .await?
                .into_iter()
                .filter(|a| {
                    !restored_only || (a.restored_at.is_some() && a.rows_left_behind() == 0)
                })
                .filter(
                    |a| match (cutoff, humantime::parse_rfc3339(&a.created_at)) {
                        (None, _) => true,
                        (Some(cutoff), Ok(created)) => created < cutoff,
                        (Some(_), Err(_)) => false,
                    },
                )
                .collect();
            for a in &chosen {
                self.driver.drop_archive(a).await?;
                let detail = format!(
                    "dropped {} ({} rows of {})",
                    a.archive_table,
                    a.row_count,
                    a.label()
                );
                let ev = self.stage_event("purge", a.version, a.stage, "ok", detail);
                self.driver.insert_event(&ev).await?;
            }
            Ok(chosen)
        })
    }

    pub(super) async fn record_checkpoint(
        &mut self,
        name: &str,
        kind: &str,
        note: Option<String>,
        history: &[AppliedStage],
    ) -> Result<(), Error> {
        let state: State = history
            .iter()
            .filter(|r| r.state == RowState::Applied)
            .map(|r| (r.version, r.stage))
            .collect();
        let c = Checkpoint {
            name: name.to_string(),
            state,
            note,
            kind: kind.to_string(),
            created_at: now(),
            created_by: self.actor.clone(),
        };
        self.driver.put_checkpoint(&c).await
    }

    /// Appends an event of this run to the log.
    pub async fn log(
        &mut self,
        action: &str,
        outcome: &str,
        detail: Option<String>,
    ) -> Result<(), Error> {
        self.event(action, None, outcome, detail, None).await
    }

    /// Records the current state under `name`.
    pub async fn create_checkpoint(
        &mut self,
        name: &str,
        note: Option<String>,
        replace: bool,
    ) -> Result<Checkpoint, Error> {
        crate::checkpoint::validate_name(name).map_err(Error::BadInput)?;
        with_lock!(self, async {
            self.driver.ensure_tables().await?;
            if !replace && self.driver.checkpoint(name).await?.is_some() {
                return Err(Error::BadInput(format!(
                    "checkpoint `{name}` exists already: pass --replace to move it to the current state"
                )));
            }
            let history = self.history().await?;
            if let Some(row) = history.iter().find(|r| r.state == RowState::Failed) {
                return Err(Error::Refused {
                    blockers: vec![Blocker {
                        kind: BlockerKind::FailedStage,
                        version: Some(row.version),
                        message: format!(
                            "{} is in a failed state: resolve it before recording a checkpoint",
                            row.label()
                        ),
                    }],
                });
            }
            self.record_checkpoint(name, "named", note, &history)
                .await?;
            self.log("checkpoint", "ok", Some(format!("created {name}")))
                .await?;
            Ok(self.driver.checkpoint(name).await?.expect("just written"))
        })
    }

    /// Recorded checkpoints (named ones; with `runs`, the run starts too).
    pub async fn checkpoints(&mut self, runs: bool) -> Result<Vec<Checkpoint>, Error> {
        Ok(self
            .driver
            .checkpoints()
            .await?
            .into_iter()
            .filter(|c| runs || c.kind == "named")
            .collect())
    }

    /// Deletes a checkpoint.
    pub async fn delete_checkpoint(&mut self, name: &str) -> Result<(), Error> {
        if !self.driver.delete_checkpoint(name).await? {
            return Err(Error::BadInput(format!(
                "unknown checkpoint `{name}`: `migrate checkpoint list` shows them"
            )));
        }
        self.log("checkpoint", "ok", Some(format!("deleted {name}")))
            .await
    }

    pub(super) async fn event(
        &mut self,
        action: &str,
        step: Option<&Step>,
        outcome: &str,
        detail: Option<String>,
        duration: Option<Duration>,
    ) -> Result<(), Error> {
        let ev = self.new_event(action, step, outcome, detail, duration);
        self.driver.insert_event(&ev).await
    }

    /// An event of this run, not written yet.
    pub(super) fn new_event(
        &self,
        action: &str,
        step: Option<&Step>,
        outcome: &str,
        detail: Option<String>,
        duration: Option<Duration>,
    ) -> Event {
        Event {
            id: 0,
            run_id: self.run_id.clone(),
            at: now(),
            actor: self.actor.clone(),
            action: action.to_string(),
            version: step.map(|s| s.version),
            stage: step.map(|s| s.stage.name().to_string()),
            outcome: outcome.to_string(),
            detail,
            duration_ms: duration.map(|d| d.as_millis() as i64),
        }
    }

    /// An event about one stage named by version and stage (rather than
    /// by a planned step): purge, resolve, repair.
    pub(super) fn stage_event(
        &self,
        action: &str,
        version: i64,
        stage: StageKind,
        outcome: &str,
        detail: String,
    ) -> Event {
        Event {
            version: Some(version),
            stage: Some(stage.name().to_string()),
            ..self.new_event(action, None, outcome, Some(detail), None)
        }
    }

    pub(super) fn applied_row(
        &self,
        step: &Step,
        seq: i64,
        state: RowState,
        duration: Duration,
    ) -> AppliedStage {
        AppliedStage {
            version: step.version,
            stage: step.stage,
            name: step.name.clone(),
            up_checksum: step.script.checksum.to_string(),
            down_sql: step.down.as_ref().map(Script::stored_text),
            down_checksum: step.down.as_ref().map(|d| d.checksum.to_string()),
            down_path: step.down.as_ref().map(|d| d.path.display().to_string()),
            applied_at: now(),
            applied_by: self.actor.clone(),
            duration_ms: duration.as_millis() as i64,
            seq,
            state,
            failed_direction: (state == RowState::Failed).then_some(Direction::Up),
            statements_done: (state == RowState::Failed).then_some(0),
            error: None,
        }
    }
}

pub(super) fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Who runs migrate, for `applied_by` and the event log: `$USER` (or
/// `LOGNAME`, `USERNAME`) when set, as `sudo -u` and CI runners set it,
/// otherwise the account of the process's user id.
pub fn user_name() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .or_else(|| whoami::username().ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// This machine's name, for `applied_by` and lock holder messages.
pub fn hostname() -> String {
    whoami::hostname()
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}
