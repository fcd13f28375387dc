//! `status`: every stage applied, pending, failed or running, with drift.

use super::*;

impl Runner {
    /// Every migration and stage: applied, pending or failed, with drift.
    pub async fn status(&mut self) -> Result<Status, Error> {
        let history = match self.history().await {
            Ok(h) => h,
            // SQLite: a stage writing in its transaction holds the database's
            // write lock, and nothing can be read until it commits. Say who
            // holds it rather than wait.
            Err(Error::Database {
                url,
                message,
                cause,
                ..
            }) if self.driver.backend() == crate::driver::Backend::Sqlite
                && message.contains("database is locked") =>
            {
                let holder = match self.driver.lock(Duration::ZERO).await {
                    Err(Error::Locked { holder, .. }) => {
                        holder.unwrap_or_else(|| "another migrate run".into())
                    }
                    Ok(()) => {
                        self.driver.unlock().await;
                        "another program (not a migrate run)".into()
                    }
                    Err(_) => "another program".into(),
                };
                return Err(Error::Database {
                    url,
                    doing: "reading the history".into(),
                    message: format!(
                        "the database is being written by {holder}, which holds SQLite's write lock (a stage in progress, most likely): the history can be read once that commits. Run status again in a moment; `migrate log` then shows what ran"
                    ),
                    cause,
                });
            }
            Err(e) => return Err(e),
        };
        let mut status = status_of(&self.source, &history);
        if status.failed == 0 {
            // A stage in a transaction shows `pending` until it commits:
            // whether another run is at work is the lock's to say.
            if status.pending > 0
                && let Err(Error::Locked { holder, .. }) = self.driver.lock(Duration::ZERO).await
            {
                status.in_progress = Some(holder.unwrap_or_else(|| "another migrate run".into()));
            } else {
                self.driver.unlock().await;
            }
            return Ok(status);
        }
        // A stage outside a transaction (every stage on MySQL) is recorded
        // `failed` before its first statement and completed after its last:
        // while it runs it looks like one a crash cut. The runner lock tells
        // them apart. Free: nobody is running, so re-read under it. Held:
        // the failed rows are another run's work in progress.
        match self.driver.lock(Duration::ZERO).await {
            Ok(()) => {
                let history = self.history().await;
                self.driver.unlock().await;
                Ok(status_of(&self.source, &history?))
            }
            Err(Error::Locked { holder, .. }) => {
                let holder = holder.unwrap_or_else(|| "another migrate run".into());
                Ok(status.running_under(&holder))
            }
            // No lock to probe (a read-only directory beside a SQLite file,
            // say): status still answers, as it did without the probe.
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell a stage in progress from a failed one: the runner lock is unavailable");
                Ok(status)
            }
        }
    }
}

/// Where a stage is, in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum StageState {
    /// Applied and recorded.
    Applied,
    /// Not applied yet.
    Pending,
    /// Recorded as failed part-way (a crash, or a failed statement outside
    /// a transaction): needs `migrate resolve`.
    Failed,
    /// Recorded as not complete while another run holds the lock: in
    /// progress there.
    Running,
}

impl StageState {
    /// The word `status` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            StageState::Applied => "applied",
            StageState::Pending => "pending",
            StageState::Failed => "failed",
            StageState::Running => "running",
        }
    }
}

impl std::fmt::Display for StageState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stage in `status`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StageStatus {
    /// Which stage.
    pub stage: StageKind,
    /// Where the stage is (serialised `applied`, `pending`, `failed`,
    /// `running`).
    pub state: StageState,
    /// When applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
    /// The up file changed after it was applied.
    pub drift: bool,
    /// The down on disk differs from the stored one.
    pub down_changed: bool,
    /// For a failed stage: what happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a failed or running stage: `up` or `down`, and the statements
    /// done so far.
    #[serde(skip)]
    progress: Option<(String, i64)>,
}

/// One migration in `status`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct MigrationStatus {
    /// Version.
    pub version: i64,
    /// Version as spelled.
    pub version_text: String,
    /// Name.
    pub name: String,
    /// Applied but not in the source directory (a newer release was rolled back).
    pub unknown: bool,
    /// Its stages.
    pub stages: Vec<StageStatus>,
}

/// The answer of `status`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Status {
    /// Every migration, on disk or in the history, by version.
    pub migrations: Vec<MigrationStatus>,
    /// Counts.
    pub applied: usize,
    /// Counts.
    pub pending: usize,
    /// Counts.
    pub failed: usize,
    /// Stages another run is applying or reverting right now (recorded
    /// `failed` until they complete, and the runner lock is held).
    pub running: usize,
    /// Applied ups changed on disk.
    pub drift: usize,
    /// Who holds the runner lock right now, when another run does while
    /// stages are pending (a transactional stage in progress is still
    /// `pending` until it commits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<String>,
}

/// Builds `status` from the source and the history.
pub fn status_of(source: &Source, history: &[AppliedStage]) -> Status {
    let v = verify(source, history);
    let mut migrations = Vec::new();
    let row_of = |version: i64, stage: StageKind| {
        history
            .iter()
            .find(|r| r.version == version && r.stage == stage)
    };
    let stage_status = |row: Option<&AppliedStage>, version: i64, stage: StageKind| {
        let (state, error) = match row {
            None => (StageState::Pending, None),
            Some(r) if r.state == RowState::Failed => (
                StageState::Failed,
                Some(format!(
                    "failed during {} after {} statement(s){}",
                    r.failed_direction.unwrap_or(Direction::Up),
                    r.statements_done.unwrap_or(0),
                    r.error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                )),
            ),
            Some(_) => (StageState::Applied, None),
        };
        let progress = row.filter(|r| r.state == RowState::Failed).map(|r| {
            (
                r.failed_direction
                    .unwrap_or(Direction::Up)
                    .name()
                    .to_string(),
                r.statements_done.unwrap_or(0),
            )
        });
        StageStatus {
            stage,
            state,
            applied_at: row.map(|r| r.applied_at.clone()),
            drift: v
                .drift
                .iter()
                .any(|d| d.version == version && d.stage == stage),
            down_changed: v
                .down_drift
                .iter()
                .any(|d| d.version == version && d.stage == stage),
            error,
            progress,
        }
    };
    for m in &source.migrations {
        migrations.push(MigrationStatus {
            version: m.version,
            version_text: m.version_text.clone(),
            name: m.name.clone(),
            unknown: false,
            stages: m
                .stages
                .iter()
                .map(|s| stage_status(row_of(m.version, s.kind), m.version, s.kind))
                .collect(),
        });
    }
    for row in history {
        if source
            .get(row.version)
            .is_some_and(|m| m.stage(row.stage).is_some())
        {
            continue;
        }
        let status = stage_status(Some(row), row.version, row.stage);
        match migrations.iter_mut().find(|m| m.version == row.version) {
            Some(m) => m.stages.push(status),
            None => migrations.push(MigrationStatus {
                version: row.version,
                version_text: row.version.to_string(),
                name: row.name.clone(),
                unknown: true,
                stages: vec![status],
            }),
        }
    }
    migrations.sort_by(|a, b| crate::source::cmp_versions(a.version, b.version));
    let count = |state: StageState| {
        migrations
            .iter()
            .flat_map(|m| &m.stages)
            .filter(|s| s.state == state)
            .count()
    };
    Status {
        applied: count(StageState::Applied),
        pending: count(StageState::Pending),
        failed: count(StageState::Failed),
        running: 0,
        drift: v.drift.len(),
        in_progress: None,
        migrations,
    }
}

impl Status {
    /// The failed stages, seen while another run holds the lock: in
    /// progress there, not cut by a crash.
    fn running_under(mut self, holder: &str) -> Status {
        for s in self.migrations.iter_mut().flat_map(|m| &mut m.stages) {
            if s.state == StageState::Failed {
                let (direction, done) = s.progress.clone().unwrap_or_default();
                s.state = StageState::Running;
                s.error = Some(format!(
                    "in progress ({direction}, {done} statement(s) done so far): the runner lock is held by {holder}"
                ));
            }
        }
        self.running = self.failed;
        self.failed = 0;
        self
    }
}
