//! The runner: lock, ensure tables, verify, plan, execute, record, unlock.
//!
//! Invariants:
//! - nothing is executed before the whole plan is built and validated;
//! - every stage is applied exactly once, under the runner lock, with the
//!   history re-read after the lock is taken;
//! - on PostgreSQL and SQLite a transactional stage and its history row
//!   commit together; elsewhere the row is written as `failed` first and
//!   completed after, so a crash leaves a visible state;
//! - the lock is released on every path that returns.

use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::archive::{self, ArchiveTarget};
use crate::check::{self, CheckOptions, Severity};
use crate::checkpoint::State;
use crate::driver::{
    ArchiveRecord, Checkpoint, ConnectOptions, Driver, Event, HistoryWrite, RowUpdate,
};
use crate::error::{DbError, Error, Residue, StageFailure, StepReport};
use crate::history::{AppliedStage, RowState, Verification, verify};
use crate::plan::{Blocker, DownTarget, StageFilter, Step, UpScope, plan_down_parts, plan_up};
use crate::source::{Direction, DirectiveKind, Script, Source, StageKind, template};
use crate::sql::{Statement, split};

/// How many run starting points (`@previous` and before) are kept.
pub const KEPT_RUN_CHECKPOINTS: usize = 50;

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// How long to wait for another runner's lock.
    pub lock_wait: Duration,
    /// Attempts for a stage (or, outside a transaction, a statement) that
    /// fails on a lock timeout.
    pub lock_retries: u32,
    /// The checker's per-rule severities (`[check.rules]` of migrate.toml;
    /// `None` turns a rule off), so that `up`, `down` and start-up refuse
    /// exactly what `migrate check` reports as errors.
    pub check_severities: std::collections::BTreeMap<String, Option<Severity>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            lock_wait: Duration::from_secs(60),
            lock_retries: 3,
            check_severities: Default::default(),
        }
    }
}

/// What happens as a run goes, for progress output.
#[derive(Debug)]
pub enum Progress<'a> {
    /// A stage starts.
    Start(&'a Step),
    /// A stage finished.
    Done(&'a StepReport),
    /// A lock timeout; the stage or statement is tried again after `delay`.
    Retry {
        /// The stage.
        step: &'a Step,
        /// The attempt that failed.
        attempt: u32,
        /// Wait before the next.
        delay: Duration,
    },
}

/// The result of `up` or `down`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// Stages run, in order.
    pub steps: Vec<StepReport>,
    /// Notes for the user (stored downs that differ from the files, ...).
    pub notes: Vec<String>,
    /// The checkpoint holding the state this run started from (`@previous`).
    pub started_from: Option<String>,
    /// The named checkpoint this run recorded (`up --checkpoint`), or that
    /// already named the state it reached.
    pub checkpoint: Option<String>,
    /// The verification command that passed (`up --verify`).
    pub verified: Option<String>,
}

/// Where a run goes, as the user said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A version: everything up to it (`0`: nothing).
    Version(i64),
    /// A checkpoint, recorded or declared in `checkpoints.toml`.
    Checkpoint(String),
    /// The state before the last `up`, `expand` or `contract` run.
    Previous,
}

impl Target {
    /// Reads `20240101120000`, `0`, `@previous` or a checkpoint name.
    pub fn parse(text: &str) -> Result<Target, Error> {
        if text == "@previous" {
            return Ok(Target::Previous);
        }
        if !text.is_empty()
            && text.chars().all(|c| c.is_ascii_digit() || c == '-')
            && text.starts_with(|c: char| c.is_ascii_digit())
        {
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            return digits
                .parse()
                .map(Target::Version)
                .map_err(|_| Error::BadInput(format!("version {text} is too large")));
        }
        crate::checkpoint::validate_name(text).map_err(Error::BadInput)?;
        Ok(Target::Checkpoint(text.to_string()))
    }
}

/// What `up`, `expand` and `contract` do.
#[derive(Debug, Clone, Default)]
pub struct UpRequest {
    /// How far.
    pub to: Option<Target>,
    /// Which stages.
    pub stages: StageFilter,
    /// Record the state reached under this name.
    pub checkpoint: Option<String>,
    /// Apply despite checker errors, for this reason.
    pub no_check: Option<String>,
    /// A shell command run after the stages are applied, while the lock is
    /// still held: if it fails, the stages this run applied are reverted
    /// before anyone else can migrate, and no checkpoint is recorded.
    pub verify: Option<String>,
}

/// How far `down` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownSpec {
    /// The N most recently applied stages.
    Steps(usize),
    /// Back to a version, checkpoint or `@previous`.
    To(Target),
}

/// What `down` does.
#[derive(Debug, Clone)]
pub struct DownRequest {
    /// How far.
    pub target: DownSpec,
    /// Revert despite checker errors, for this reason.
    pub force: Option<String>,
}

/// A planned run, for `--dry-run`.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedRun {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// For each step, the archives it will make and restore.
    pub actions: Vec<Vec<String>>,
    /// Notes.
    pub notes: Vec<String>,
}

/// One stage in `status`.
#[derive(Debug, Clone, Serialize)]
pub struct StageStatus {
    /// Which stage.
    pub stage: StageKind,
    /// `applied`, `pending`, `failed`, or `running` (another run holds the
    /// lock and is in the middle of it).
    pub state: &'static str,
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

/// What `resolve` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The stage is (now) fully applied.
    Applied,
    /// The stage is (now) not applied at all.
    Reverted,
}

/// Applies and reverts migrations of one source on one database.
pub struct Runner {
    driver: Driver,
    source: Source,
    options: RunOptions,
    run_id: String,
    actor: String,
    /// Every archive, read once per locked run and kept current.
    archives: Vec<ArchiveRecord>,
    /// What the checker guard accepted through the baseline for the last
    /// plan it vetted, as notes for the plan and the report.
    accepted: Vec<String>,
}

impl Runner {
    /// Connects to `url` for `source`.
    pub async fn connect(
        url: &str,
        source: Source,
        connect: &ConnectOptions,
        options: RunOptions,
    ) -> Result<Runner, Error> {
        let driver = Driver::connect(url, connect).await?;
        Ok(Runner::new(driver, source, options))
    }

    /// A runner over an open driver.
    pub fn new(driver: Driver, source: Source, options: RunOptions) -> Runner {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Runner {
            driver,
            source,
            options,
            archives: Vec::new(),
            accepted: Vec::new(),
            run_id: format!("{:x}-{:x}", nanos, std::process::id()),
            actor: format!("{}@{}", user_name(), hostname()),
        }
    }

    /// Notes for a plan or a report: stored downs that differ from the
    /// files, stages not in the source, and what the baseline accepted.
    fn notes(&self, v: &Verification) -> Vec<String> {
        let mut notes = verification_notes(v);
        notes.extend(self.accepted.iter().cloned());
        notes
    }

    /// The driver, for callers that need the connection afterwards.
    pub fn driver(&mut self) -> &mut Driver {
        &mut self.driver
    }

    /// Closes the connection.
    pub async fn close(self) {
        self.driver.close().await;
    }

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
        self.driver.lock(self.options.lock_wait).await?;
        let result = async {
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
                let ev = Event {
                    id: 0,
                    run_id: self.run_id.clone(),
                    at: now(),
                    actor: self.actor.clone(),
                    action: "purge".into(),
                    version: Some(a.version),
                    stage: Some(a.stage.name().into()),
                    outcome: "ok".into(),
                    detail: Some(format!(
                        "dropped {} ({} rows of {})",
                        a.archive_table,
                        a.row_count,
                        a.label()
                    )),
                    duration_ms: None,
                };
                self.driver.insert_event(&ev).await?;
            }
            Ok(chosen)
        }
        .await;
        self.driver.unlock().await;
        result
    }

    /// Every migration and stage: applied, pending or failed, with drift.
    pub async fn status(&mut self) -> Result<Status, Error> {
        let history = self.history().await?;
        let mut status = status_of(&self.source, &history);
        if status.failed == 0 {
            // A stage in a transaction shows `pending` until it commits:
            // whether another run is at work is the lock's to say.
            if status.pending > 0
                && let Err(Error::LockTimeout { holder, .. }) =
                    self.driver.lock(Duration::ZERO).await
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
            Err(Error::LockTimeout { holder, .. }) => {
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

    /// The plan `up` would run, without locking or changing anything.
    pub async fn plan_up(&mut self, req: &UpRequest) -> Result<PlannedRun, Error> {
        let history = self.history().await?;
        let scope = self.up_scope(req, &history).await?;
        let v = verify(&self.source, &history);
        let steps = plan_up(&self.source, &history, &v, &scope)
            .map_err(|blockers| Error::Refused { blockers })?;
        let actions = self
            .vetted(&steps, &history, req.no_check.is_some())
            .await?;
        self.checkpoint_exists(req, &history, &steps).await?;
        Ok(PlannedRun {
            steps,
            actions,
            notes: self.notes(&v),
        })
    }

    /// The plan `down` would run, without locking or changing anything.
    pub async fn plan_down(&mut self, req: &DownRequest) -> Result<PlannedRun, Error> {
        let history = self.history().await?;
        let target = self.down_target(&req.target, &history).await?;
        let v = verify(&self.source, &history);
        let (steps, actions) = self
            .checked_down(&history, &v, &target, req.force.is_some())
            .await?;
        Ok(PlannedRun {
            steps,
            actions,
            notes: self.notes(&v),
        })
    }

    fn check_target(&self, to: Option<i64>, history: &[AppliedStage]) -> Result<(), Error> {
        match to {
            Some(v)
                if v != 0
                    && self.source.get(v).is_none()
                    && !history.iter().any(|r| r.version == v) =>
            {
                Err(Error::BadInput(format!(
                    "no migration has version {v}: it is neither in {} nor in the history (`migrate status` lists them; 0 means before the first)",
                    self.source.dir.display()
                )))
            }
            _ => Ok(()),
        }
    }

    /// The state a checkpoint name stands for: recorded in the database, or
    /// declared in `checkpoints.toml`.
    async fn checkpoint_state(&mut self, target: &Target) -> Result<(String, State), Error> {
        match target {
            Target::Previous => {
                let last = self
                    .driver
                    .checkpoints()
                    .await?
                    .into_iter()
                    .rev()
                    .find(|c| c.kind == "run");
                match last {
                    Some(c) => Ok((c.name, c.state)),
                    None => Err(Error::BadInput("`@previous` names the state before the last `up`, `expand` or `contract` run, and there has been none".into())),
                }
            }
            Target::Checkpoint(name) => {
                if let Some(c) = self.driver.checkpoint(name).await? {
                    return Ok((c.name, c.state));
                }
                if let Some(state) = self.source.checkpoints.get(name) {
                    return Ok((name.clone(), state.clone()));
                }
                Err(Error::BadInput(format!(
                    "unknown checkpoint `{name}`: `migrate checkpoint list` shows the recorded ones, and {}/checkpoints.toml may declare more",
                    self.source.dir.display()
                )))
            }
            Target::Version(_) => unreachable!("versions are not checkpoints"),
        }
    }

    async fn up_scope(
        &mut self,
        req: &UpRequest,
        history: &[AppliedStage],
    ) -> Result<UpScope, Error> {
        let mut scope = UpScope {
            stages: req.stages,
            ..UpScope::default()
        };
        match &req.to {
            None => {}
            Some(Target::Version(v)) => {
                self.check_target(Some(*v), history)?;
                scope.to = Some(*v);
            }
            Some(Target::Previous) => {
                return Err(Error::BadInput(
                    "`@previous` is a target for `down`: it undoes the last run".into(),
                ));
            }
            Some(t @ Target::Checkpoint(_)) => {
                scope.within = Some(self.checkpoint_state(t).await?.1)
            }
        }
        Ok(scope)
    }

    /// For `up --checkpoint NAME`: whether NAME exists already. It may, if
    /// it names exactly the state this run reaches (a re-run of the same
    /// deploy); a checkpoint naming another state is refused.
    async fn checkpoint_exists(
        &mut self,
        req: &UpRequest,
        history: &[AppliedStage],
        steps: &[Step],
    ) -> Result<bool, Error> {
        let Some(name) = &req.checkpoint else {
            return Ok(false);
        };
        let Some(existing) = self.driver.checkpoint(name).await? else {
            return Ok(false);
        };
        let mut reached: State = history
            .iter()
            .filter(|r| r.state == RowState::Applied)
            .map(|r| (r.version, r.stage))
            .collect();
        reached.extend(steps.iter().map(|s| (s.version, s.stage)));
        if existing.state == reached {
            return Ok(true);
        }
        Err(Error::BadInput(format!(
            "checkpoint `{name}` exists already and names another state than this run reaches: choose another name, or `migrate checkpoint delete {name}` first"
        )))
    }

    async fn down_target(
        &mut self,
        spec: &DownSpec,
        history: &[AppliedStage],
    ) -> Result<DownTarget, Error> {
        Ok(match spec {
            DownSpec::Steps(n) => DownTarget::Steps(*n),
            DownSpec::To(Target::Version(v)) => {
                self.check_target(Some(*v), history)?;
                DownTarget::Version(*v)
            }
            DownSpec::To(t) => {
                let (name, state) = self.checkpoint_state(t).await?;
                let applied: State = history.iter().map(|r| (r.version, r.stage)).collect();
                let missing: Vec<String> = state
                    .difference(&applied)
                    .map(|(v, s)| format!("{v} ({s})"))
                    .collect();
                if !missing.is_empty() {
                    return Err(Error::BadInput(format!(
                        "checkpoint `{name}` includes stages that are not applied ({}): `down` only reverts; use `migrate up --to {name}`",
                        missing.join(", ")
                    )));
                }
                DownTarget::State(state)
            }
        })
    }

    /// The checker guards both directions: a stage to apply with checker
    /// errors in its files, or a down to run with checker errors, is a
    /// blocker unless the user forced it (with a reason, logged).
    fn guard(
        &mut self,
        steps: &[Step],
        history: &[AppliedStage],
        forced: bool,
    ) -> Result<(), Error> {
        self.accepted.clear();
        if steps.is_empty() || forced {
            return Ok(());
        }
        // Check the downs that would really run: the stored ones.
        let mut src = self.source.clone();
        let rows: std::collections::HashMap<(i64, StageKind), &AppliedStage> =
            history.iter().map(|r| ((r.version, r.stage), r)).collect();
        for m in &mut src.migrations {
            for s in &mut m.stages {
                if let Some(row) = rows.get(&(m.version, s.kind))
                    && let Some(sql) = &row.down_sql
                {
                    let path = s
                        .down
                        .as_ref()
                        .map(|d| d.path.clone())
                        .unwrap_or_else(|| s.up.path.with_extension("stored-down.sql"));
                    if let Ok(stored) = Script::from_stored(path, sql) {
                        s.down = Some(stored);
                    }
                }
            }
        }
        let report = check::check(
            &src,
            &CheckOptions {
                dialect: self.driver.backend().dialect(),
                severities: self.options.check_severities.clone(),
            },
        );
        let mut errors_by_file: std::collections::HashMap<&str, Vec<&check::Diagnostic>> =
            Default::default();
        for d in report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
        {
            errors_by_file.entry(d.file.as_str()).or_default().push(d);
        }
        let mut blockers = Vec::new();
        let mut baselined_by_file: std::collections::HashMap<&str, Vec<&str>> = Default::default();
        for d in report.diagnostics.iter().filter(|d| d.baselined) {
            baselined_by_file
                .entry(d.file.as_str())
                .or_default()
                .push(d.rule);
        }
        for step in steps {
            let Some(stage) = src.get(step.version).and_then(|m| m.stage(step.stage)) else {
                continue;
            };
            let files: Vec<String> = match step.direction {
                Direction::Up => std::iter::once(&stage.up)
                    .chain(stage.down.as_ref())
                    .map(|s| s.path.display().to_string())
                    .collect(),
                Direction::Down => stage
                    .down
                    .iter()
                    .map(|s| s.path.display().to_string())
                    .collect(),
            };
            let mut accepted: Vec<&str> = files
                .iter()
                .flat_map(|f| baselined_by_file.get(f.as_str()).into_iter().flatten())
                .copied()
                .collect();
            if !accepted.is_empty() {
                accepted.sort_unstable();
                accepted.dedup();
                self.accepted.push(format!(
                    "{}: checker findings accepted (baseline): {}",
                    step.label(),
                    accepted.join(", ")
                ));
            }
            for d in files
                .iter()
                .flat_map(|f| errors_by_file.get(f.as_str()).into_iter().flatten())
            {
                blockers.push(Blocker {
                    version: Some(step.version),
                    message: format!(
                        "{}: checker error [{}] at {}:{}: {}",
                        step.label(),
                        d.rule,
                        d.file,
                        d.line,
                        d.message
                    ),
                });
            }
        }
        if blockers.is_empty() {
            return Ok(());
        }
        let how = match steps[0].direction {
            Direction::Up => {
                "fix them, or pass --no-check --reason TEXT to apply anyway (recorded in the event log)"
            }
            Direction::Down => {
                "fix them, or pass --force --reason TEXT to revert anyway (recorded in the event log)"
            }
        };
        blockers.push(Blocker {
            version: None,
            message: format!("`migrate check` shows these in full; {how}"),
        });
        Err(Error::Refused { blockers })
    }

    /// Applies pending stages: all of them, or up to a target, or only the
    /// expand or contract stages.
    pub async fn up(
        &mut self,
        req: &UpRequest,
        on: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<RunReport, Error> {
        // Fast path: a start-up with nothing to do reads the history once and
        // takes no lock.
        if req.checkpoint.is_none()
            && req.verify.is_none()
            && matches!(req.to, None | Some(Target::Version(_)))
            && let Some(history) = self.driver.read_history_summary().await?
        {
            let to = match req.to {
                Some(Target::Version(v)) => Some(v),
                _ => None,
            };
            self.check_target(to, &history)?;
            let v = verify(&self.source, &history);
            let scope = UpScope {
                to,
                stages: req.stages,
                ..UpScope::default()
            };
            if let Ok(steps) = plan_up(&self.source, &history, &v, &scope)
                && steps.is_empty()
            {
                tracing::info!("nothing to apply");
                return Ok(RunReport {
                    steps: vec![],
                    notes: verification_notes(&v),
                    started_from: None,
                    checkpoint: None,
                    verified: None,
                });
            }
        }
        self.driver.lock(self.options.lock_wait).await?;
        let result = async {
            self.driver.ensure_tables().await?;
            let history = self.history().await?;
            let scope = self.up_scope(req, &history).await?;
            let v = verify(&self.source, &history);
            let steps = plan_up(&self.source, &history, &v, &scope)
                .map_err(|blockers| Error::Refused { blockers })?;
            self.vetted(&steps, &history, req.no_check.is_some())
                .await?;
            let checkpoint_exists = self.checkpoint_exists(req, &history, &steps).await?;
            if let Some(reason) = &req.no_check
                && !steps.is_empty()
            {
                self.log("no-check", "forced", Some(reason.clone())).await?;
            }
            // The state this run starts from: `down --to @previous` returns to it.
            let started_from = if steps.is_empty() {
                None
            } else {
                let name = format!("@run:{}", self.run_id);
                self.record_checkpoint(&name, "run", None, &history).await?;
                // Keep the last runs' starting points, not all of them forever.
                let runs: Vec<Checkpoint> = self
                    .driver
                    .checkpoints()
                    .await?
                    .into_iter()
                    .filter(|c| c.kind == "run")
                    .collect();
                for old in runs
                    .iter()
                    .take(runs.len().saturating_sub(KEPT_RUN_CHECKPOINTS))
                {
                    self.driver.delete_checkpoint(&old.name).await?;
                }
                Some(name)
            };
            let mut report = self.execute_all(&steps, &v, on).await?;
            report.started_from = started_from;
            if let Some(command) = &req.verify {
                self.verify_or_revert(command, &history, &report, on)
                    .await?;
                report.verified = Some(command.clone());
            }
            if let Some(name) = &req.checkpoint {
                if !checkpoint_exists {
                    let now = self.history().await?;
                    self.record_checkpoint(
                        name,
                        "named",
                        Some(format!("recorded by the run {}", self.run_id)),
                        &now,
                    )
                    .await?;
                }
                self.log("checkpoint", "ok", Some(name.clone())).await?;
                report.checkpoint = Some(name.clone());
            }
            Ok(report)
        }
        .await;
        self.driver.unlock().await;
        result
    }

    /// `up --verify`: runs the command with the lock still held. If it
    /// fails, reverts exactly the stages this run applied (back to
    /// `before`), with the same validation as `down`, before the lock is
    /// released, so no other deployer's stages can be caught in it.
    async fn verify_or_revert(
        &mut self,
        command: &str,
        before: &[AppliedStage],
        report: &RunReport,
        on: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<(), Error> {
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .status()
            .await;
        let outcome = match status {
            Ok(s) if s.success() => {
                self.log("verify", "ok", Some(command.to_string())).await?;
                return Ok(());
            }
            Ok(s) => s.code().map_or("ended by a signal".to_string(), |c| {
                format!("exit code {c}")
            }),
            Err(e) => format!("could not be started: {e}"),
        };
        self.log("verify", "failed", Some(format!("{command}: {outcome}")))
            .await?;
        let failed = |reverted, revert_error| Error::Verification {
            command: command.to_string(),
            outcome: outcome.clone(),
            reverted,
            revert_error,
        };
        if report.steps.is_empty() {
            return Err(failed(0, None));
        }
        let state: State = before
            .iter()
            .filter(|r| r.state == RowState::Applied)
            .map(|r| (r.version, r.stage))
            .collect();
        let history = self.history().await?;
        let v = verify(&self.source, &history);
        let reverted = async {
            let (steps, _) = self
                .checked_down(&history, &v, &DownTarget::State(state), false)
                .await?;
            self.execute_all(&steps, &v, on).await
        }
        .await;
        Err(match reverted {
            Ok(r) => failed(r.steps.len(), None),
            Err(e) => failed(0, Some(e.to_string())),
        })
    }

    /// Reverts stages, most recently applied first, with the stored downs.
    pub async fn down(
        &mut self,
        req: &DownRequest,
        on: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<RunReport, Error> {
        self.driver.lock(self.options.lock_wait).await?;
        let result = async {
            self.driver.ensure_tables().await?;
            let history = self.history().await?;
            let target = self.down_target(&req.target, &history).await?;
            let v = verify(&self.source, &history);
            let (steps, _) = self
                .checked_down(&history, &v, &target, req.force.is_some())
                .await?;
            if let Some(reason) = &req.force
                && !steps.is_empty()
            {
                self.log("force", "forced", Some(reason.clone())).await?;
            }
            self.execute_all(&steps, &v, on).await
        }
        .await;
        self.driver.unlock().await;
        result
    }

    /// Plans a revert and validates all of it, listing every blocker: the
    /// planner's (irreversible, no down, drift), the runner's (archives) and
    /// the checker's.
    async fn checked_down(
        &mut self,
        history: &[AppliedStage],
        v: &Verification,
        target: &DownTarget,
        forced: bool,
    ) -> Result<(Vec<Step>, Vec<Vec<String>>), Error> {
        let (steps, mut blockers) = plan_down_parts(&self.source, history, v, target);
        let (actions, more) = self.vet(&steps, history, forced).await?;
        blockers.extend(more);
        if blockers.is_empty() {
            Ok((steps, actions))
        } else {
            Err(Error::Refused { blockers })
        }
    }

    /// Validates a planned run (archives) and runs the checker guard over
    /// it, collecting the blockers of both, so that a refusal lists every
    /// reason at once. Returns each step's archive actions and the blockers.
    async fn vet(
        &mut self,
        steps: &[Step],
        history: &[AppliedStage],
        unchecked: bool,
    ) -> Result<(Vec<Vec<String>>, Vec<Blocker>), Error> {
        self.archives = self.driver.archives().await?;
        let mut blockers = Vec::new();
        let mut actions = Vec::new();
        match self.validate(steps).await {
            Ok(a) => actions = a,
            Err(Error::Refused { blockers: b }) => blockers.extend(b),
            Err(e) => return Err(e),
        }
        match self.guard(steps, history, unchecked) {
            Ok(()) => {}
            Err(Error::Refused { blockers: b }) => blockers.extend(b),
            Err(e) => return Err(e),
        }
        Ok((actions, blockers))
    }

    /// [`Runner::vet`], refusing on any blocker.
    async fn vetted(
        &mut self,
        steps: &[Step],
        history: &[AppliedStage],
        unchecked: bool,
    ) -> Result<Vec<Vec<String>>, Error> {
        let (actions, blockers) = self.vet(steps, history, unchecked).await?;
        if blockers.is_empty() {
            Ok(actions)
        } else {
            Err(Error::Refused { blockers })
        }
    }

    async fn execute_all(
        &mut self,
        steps: &[Step],
        v: &Verification,
        on: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<RunReport, Error> {
        let mut report = RunReport {
            steps: vec![],
            notes: self.notes(v),
            started_from: None,
            checkpoint: None,
            verified: None,
        };
        if !steps.is_empty() && !self.driver.init_sql().is_empty() {
            let init = self.driver.init_sql().join("; ");
            self.log("init-sql", "ok", Some(init)).await?;
        }
        let mut seq = self.driver.next_seq().await?;
        for step in steps {
            on(Progress::Start(step));
            match self.execute(step, seq, on).await {
                Ok(done) => {
                    on(Progress::Done(&done));
                    report.steps.push(done);
                    seq += 1;
                }
                Err(Error::StageFailed(mut failure)) => {
                    failure.completed = std::mem::take(&mut report.steps);
                    return Err(Error::StageFailed(failure));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    async fn record_checkpoint(
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
        self.driver.lock(self.options.lock_wait).await?;
        let result = async {
            self.driver.ensure_tables().await?;
            if !replace && self.driver.checkpoint(name).await?.is_some() {
                return Err(Error::BadInput(format!("checkpoint `{name}` exists already: pass --replace to move it to the current state")));
            }
            let history = self.history().await?;
            if let Some(row) = history.iter().find(|r| r.state == RowState::Failed) {
                return Err(Error::Refused {
                    blockers: vec![Blocker {
                        version: Some(row.version),
                        message: format!("{} is in a failed state: resolve it before recording a checkpoint", row.label()),
                    }],
                });
            }
            self.record_checkpoint(name, "named", note, &history).await?;
            self.log("checkpoint", "ok", Some(format!("created {name}"))).await?;
            Ok(self.driver.checkpoint(name).await?.expect("just written"))
        }
        .await;
        self.driver.unlock().await;
        result
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

    /// Checks what can be checked before anything runs: transaction control
    /// inside a stage that migrate wraps in a transaction, archive
    /// directives above statements that cannot be archived, tables to
    /// archive that have no key. Returns, per step, the archive and restore
    /// actions it will take.
    async fn validate(&mut self, steps: &[Step]) -> Result<Vec<Vec<String>>, Error> {
        let mut blockers = Vec::new();
        let mut actions = Vec::new();
        for step in steps {
            let mut acts = Vec::new();
            match self.prepare(step) {
                Err(b) => blockers.push(b),
                Ok((statements, _))
                    if statements.is_empty()
                        && step.direction == Direction::Up
                        && template::is_untouched(
                            &step.script.sql,
                            &step.name,
                            step.stage,
                            Direction::Up,
                        ) =>
                {
                    // Recording an untouched template as applied would turn
                    // the statements written into it later into drift. (An
                    // up of only comments is a no-op, applied and recorded.)
                    blockers.push(Blocker {
                        version: Some(step.version),
                        message: format!(
                            "{}: template not filled in: {} is still the template `migrate new` wrote; write the migration, or delete its files",
                            step.label(),
                            step.script.path.display()
                        ),
                    });
                }
                Ok((statements, targets)) => {
                    for (i, target) in targets.iter().enumerate() {
                        let Some(t) = target else { continue };
                        match self.driver.key_columns(&t.table_sql, &t.table).await? {
                            Some(keys) if keys.is_empty() => blockers.push(Blocker {
                                version: Some(step.version),
                                message: format!("{}: {}", step.label(), no_key_message(t)),
                            }),
                            _ => acts.push(format!(
                                "archive {} before statement {} ({})",
                                t.label(),
                                i + 1,
                                step.script.location(statements[i].line)
                            )),
                        }
                    }
                    let opposite = if step.direction == Direction::Up {
                        "down"
                    } else {
                        "up"
                    };
                    for a in self.archives.iter().rev().filter(|a| {
                        a.version == step.version
                            && a.stage == step.stage
                            && a.direction == opposite
                            && a.restored_at.is_none()
                    }) {
                        acts.push(format!(
                            "restore {} ({} rows kept in {}) if the stage re-creates it",
                            a.label(),
                            a.row_count,
                            a.archive_table
                        ));
                    }
                }
            }
            actions.push(acts);
        }
        if blockers.is_empty() {
            Ok(actions)
        } else {
            Err(Error::Refused { blockers })
        }
    }

    /// The statements of a step, and for each the archive target of its
    /// `-- migrate:archive` directive, if it has one.
    fn prepare(
        &self,
        step: &Step,
    ) -> Result<(Vec<Statement>, Vec<Option<ArchiveTarget>>), Blocker> {
        let statements = self.statements(step)?;
        let mut targets = Vec::with_capacity(statements.len());
        for s in &statements {
            let line = step.script.line_offset + s.line;
            let archived = step
                .script
                .directives_for(line)
                .any(|d| d.kind == DirectiveKind::Archive);
            if !archived {
                targets.push(None);
                continue;
            }
            match archive::target(s, &step.script.sql) {
                Ok(t) => targets.push(Some(t)),
                Err(message) => {
                    return Err(Blocker {
                        version: Some(step.version),
                        message: format!(
                            "{}: {} ({})",
                            step.label(),
                            message,
                            step.script.location(s.line)
                        ),
                    });
                }
            }
        }
        Ok((statements, targets))
    }

    fn transactional(&self, step: &Step) -> bool {
        self.driver.backend().capabilities().transactional_ddl && !step.script.no_transaction()
    }

    /// The statements to run. In a transactional stage a leading `BEGIN` and
    /// a trailing `COMMIT` (golang-migrate files often have them) are
    /// dropped; any other transaction control is refused.
    fn statements(&self, step: &Step) -> Result<Vec<Statement>, Blocker> {
        let sql = &step.script.sql;
        let mut statements = split(sql, self.driver.backend().dialect());
        // A COPY FROM STDIN whose rows are not in the file would wait for
        // them forever, holding the lock: refuse it before anything runs.
        for s in &statements {
            let Some(copy) = &s.copy_data else { continue };
            let problem = if self.driver.backend() != crate::driver::Backend::Postgres {
                Some("is PostgreSQL's (psql's data sections); this database does not take it")
            } else if !copy.terminated {
                Some(
                    "has no line `\\.` after its rows: migrate sends the rows written after it, up to that line, and would otherwise wait for data forever. End the rows with a line `\\.`",
                )
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(Blocker {
                    version: Some(step.version),
                    message: format!(
                        "{}: `{}` at {} {problem}",
                        step.label(),
                        first_line(s.text(sql)),
                        step.script.location(s.line)
                    ),
                });
            }
        }
        if !self.transactional(step) {
            return Ok(statements);
        }
        let kind = |s: &Statement| -> Option<&'static str> {
            let words: Vec<String> = s
                .words(sql)
                .take(2)
                .map(|w| w.to_ascii_uppercase())
                .collect();
            match (
                words.first().map(String::as_str),
                words.get(1).map(String::as_str),
                words.len(),
            ) {
                (Some("BEGIN"), None | Some("TRANSACTION") | Some("WORK"), _) => Some("begin"),
                (Some("START"), Some("TRANSACTION"), _) => Some("begin"),
                (Some("COMMIT" | "END"), _, _) => Some("commit"),
                (Some("ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE"), _, _) => Some("other"),
                _ => None,
            }
        };
        if statements.first().and_then(&kind) == Some("begin")
            && statements.last().and_then(&kind) == Some("commit")
            && statements.len() >= 2
        {
            statements.pop();
            statements.remove(0);
        }
        let upper_words = |s: &Statement| -> Vec<String> {
            s.words(sql).take(2).map(str::to_ascii_uppercase).collect()
        };
        if self.driver.backend() == crate::driver::Backend::Sqlite
            && let Some(s) = statements
                .iter()
                .find(|s| crate::check::ir::is_foreign_keys_pragma(&upper_words(s)))
        {
            return Err(Blocker {
                version: Some(step.version),
                message: format!(
                    "{}: `{}` at {} does nothing inside a transaction, and migrate runs this stage in one: foreign keys would stay on, and dropping a table would delete the child rows of its ON DELETE CASCADE keys. Put `-- migrate:no-transaction` at the top of the file (the rebuild then runs statement by statement, as SQLite documents it)",
                    step.label(),
                    first_line(s.text(sql)),
                    step.script.location(s.line)
                ),
            });
        }
        if let Some(s) = statements.iter().find(|s| kind(s).is_some()) {
            return Err(Blocker {
                version: Some(step.version),
                message: format!(
                    "{}: `{}` at {} controls the transaction, but migrate already runs each stage in one. Remove it, or put `-- migrate:no-transaction` at the top of the file to manage transactions yourself",
                    step.label(),
                    first_line(s.text(sql)),
                    step.script.location(s.line)
                ),
            });
        }
        Ok(statements)
    }

    async fn event(
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
    fn new_event(
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

    fn applied_row(
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
            failed_direction: (state == RowState::Failed).then(|| "up".to_string()),
            statements_done: (state == RowState::Failed).then_some(0),
            error: None,
        }
    }

    fn failure(
        &self,
        step: &Step,
        statements: &[Statement],
        index: usize,
        db: DbError,
        rolled_back: bool,
        attempts: u32,
    ) -> Error {
        let s = &statements[index];
        // A revert runs the stored down: point at the file's line only when
        // the file still holds that text, and say so otherwise.
        let file_holds_it = step.direction == Direction::Up
            || self
                .source
                .get(step.version)
                .and_then(|m| m.stage(step.stage))
                .and_then(|st| st.down.as_ref())
                .is_some_and(|d| d.sql == step.script.sql);
        let location = if file_holds_it {
            step.script.location(s.line)
        } else {
            format!(
                "line {} of the down stored when it was applied (from {}, which no longer holds it: `migrate repair` puts the file's down in)",
                step.script.line_offset + s.line,
                step.script.path.display()
            )
        };
        self.failure_at(
            step,
            index + 1,
            location,
            first_line(s.text(&step.script.sql)).to_string(),
            db,
            rolled_back,
            index,
            attempts,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn failure_at(
        &self,
        step: &Step,
        statement: usize,
        location: String,
        excerpt: String,
        db: DbError,
        rolled_back: bool,
        done: usize,
        attempts: u32,
    ) -> Error {
        Error::StageFailed(Box::new(StageFailure {
            migration: format!("{}_{}", step.version_text, step.name),
            version: step.version,
            stage: step.stage,
            direction: step.direction,
            statement,
            location,
            excerpt,
            db,
            rolled_back,
            statements_done: if rolled_back { 0 } else { done },
            attempts,
            completed: vec![],
            residue: None,
        }))
    }

    /// After a statement failed outside a transaction: what it left behind.
    /// A failed `CREATE INDEX CONCURRENTLY` on PostgreSQL leaves an INVALID
    /// index of that name (maintained on every write, used by no query,
    /// and in the way of the next attempt): migrate drops it and says so.
    async fn clean_up_after(&mut self, step: &Step, statement: &Statement) -> Option<Residue> {
        if self.driver.backend() != crate::driver::Backend::Postgres {
            return None;
        }
        let sql = &step.script.sql;
        let crate::check::ir::Op::CreateIndex {
            name: Some(name),
            concurrently: true,
            ..
        } = crate::check::ir::read(statement, sql, crate::sql::Dialect::Postgres).op
        else {
            return None;
        };
        match self.driver.index_is_invalid(&name).await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                return Some(Residue::Left(format!(
                    "the failed CREATE INDEX CONCURRENTLY may have left an INVALID index {name} (checking failed: {e}): look with \\d and drop it with DROP INDEX CONCURRENTLY {name} before running again"
                )));
            }
        }
        let drop = format!("DROP INDEX CONCURRENTLY IF EXISTS {name}");
        Some(match self.driver.execute(&drop).await {
            Ok(()) => {
                tracing::warn!(index = %name, "dropped the invalid index a failed CREATE INDEX CONCURRENTLY left");
                Residue::Removed(format!(
                    "the failed CREATE INDEX CONCURRENTLY had left an INVALID index {name}; migrate dropped it"
                ))
            }
            Err(e) => Residue::Left(format!(
                "the failed CREATE INDEX CONCURRENTLY left an INVALID index {name}, and dropping it failed ({}): drop it with DROP INDEX CONCURRENTLY {name} before running again",
                e.message
            )),
        })
    }

    /// Runs one statement of a stage, first archiving what it drops when
    /// `-- migrate:archive` stands above it. Returns what was archived.
    async fn run_statement(
        &mut self,
        step: &Step,
        statement: &Statement,
        target: Option<&ArchiveTarget>,
    ) -> Result<Option<String>, DbError> {
        let mut archived = None;
        let mut made = None;
        if let Some(target) = target {
            let columns = self
                .driver
                .table_columns(&target.table_sql, &target.table)
                .await
                .map_err(|e| DbError::of(&e))?;
            // Nothing to keep when the table (or column) is not there: the
            // statement must be a DROP ... IF EXISTS.
            let present =
                !columns.is_empty() && target.column.as_ref().is_none_or(|c| columns.contains(c));
            if present {
                let keys = self
                    .driver
                    .key_columns(&target.table_sql, &target.table)
                    .await
                    .map_err(|e| DbError::of(&e))?
                    .unwrap_or_default();
                if keys.is_empty() {
                    return Err(DbError {
                        message: no_key_message(target),
                        code: None,
                        lock_timeout: false,
                    });
                }
                let record = self
                    .driver
                    .archive(
                        step.version,
                        step.stage,
                        step.direction,
                        target,
                        &keys,
                        &now(),
                    )
                    .await?;
                archived = Some(format!(
                    "archived {} ({} rows) into {}",
                    record.label(),
                    record.row_count,
                    record.archive_table
                ));
                made = Some(record);
            }
        }
        let ran = match &statement.copy_data {
            Some(copy) => {
                let sql = &step.script.sql;
                self.driver
                    .copy_in(statement.text(sql), &sql[copy.span.clone()])
                    .await
            }
            None => self.driver.execute(statement.text(&step.script.sql)).await,
        };
        if let Err(e) = ran {
            // The statement did not drop anything: the copy taken for it is
            // not the data of a drop that happened. Outside a transaction it
            // would stay and, after a retry archived again, be restored over
            // newer values; inside one the rollback removes it.
            if let Some(record) = made
                && !self.transactional(step)
                && let Err(drop) = self.driver.drop_archive(&record).await
            {
                tracing::warn!(archive = %record.archive_table, error = %drop, "could not discard the archive of a failed attempt");
            }
            return Err(e);
        }
        Ok(archived)
    }

    /// Puts back what the inverse of this stage archived, if this stage
    /// re-created it. Returns what came back.
    async fn restore_archives(&mut self, step: &Step) -> Result<Vec<String>, DbError> {
        let opposite = match step.direction {
            Direction::Up => "down",
            Direction::Down => "up",
        };
        let pending: Vec<ArchiveRecord> = self
            .archives
            .iter()
            .rev()
            .filter(|a| {
                a.version == step.version
                    && a.stage == step.stage
                    && a.direction == opposite
                    && a.restored_at.is_none()
            })
            .cloned()
            .collect();
        let mut done = Vec::new();
        for a in pending {
            if let Some(rows) = self.driver.restore(&a, &now()).await? {
                let gone = a.row_count - rows;
                let skipped = if gone <= 0 {
                    String::new()
                } else if a.column.is_some() {
                    format!(" ({gone} archived rows no longer exist and were skipped)")
                } else {
                    tracing::warn!(table = %a.table, rows = gone, archive = %a.archive_table, "archived rows not restored: their key exists again");
                    format!(
                        " ({gone} archived rows were not restored because a row with the same key exists again; they stay in {}, which `archive purge --restored-only` keeps)",
                        a.archive_table
                    )
                };
                done.push(format!(
                    "restored {rows} rows of {} from {}{skipped}",
                    a.label(),
                    a.archive_table
                ));
                if let Some(kept) = self.archives.iter_mut().find(|k| k.id == a.id) {
                    kept.restored_at = Some(now());
                }
            }
        }
        Ok(done)
    }

    async fn execute(
        &mut self,
        step: &Step,
        seq: i64,
        on: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<StepReport, Error> {
        let (statements, targets) = self
            .prepare(step)
            .map_err(|b| Error::Refused { blockers: vec![b] })?;
        let started = Instant::now();
        let action = match step.direction {
            Direction::Up => "apply",
            Direction::Down => "revert",
        };
        let retries = self.options.lock_retries.max(1);
        let mut attempts = 1;
        let mut archived: Vec<String> = Vec::new();
        let restored: Vec<String>;
        let restore_failure = |runner: &Runner, db: DbError, rolled_back: bool, attempts: u32| {
            runner.failure_at(
                step,
                statements.len() + 1,
                step.script.path.display().to_string(),
                "(restoring archived data after the stage's statements)".to_string(),
                db,
                rolled_back,
                statements.len(),
                attempts,
            )
        };
        if self.transactional(step) {
            'attempt: loop {
                self.driver.start_stage(true).await?;
                archived.clear();
                for (i, s) in statements.iter().enumerate() {
                    match self.run_statement(step, s, targets[i].as_ref()).await {
                        Ok(a) => archived.extend(a),
                        Err(db) => {
                            self.driver.rollback().await;
                            self.reload_archives().await?;
                            if db.lock_timeout && attempts < retries {
                                self.retry_pause(step, action, i + 1, &db, attempts, on)
                                    .await?;
                                attempts += 1;
                                continue 'attempt;
                            }
                            let detail = format!("statement {}: {}", i + 1, db.message);
                            self.event(
                                action,
                                Some(step),
                                "failed",
                                Some(detail),
                                Some(started.elapsed()),
                            )
                            .await?;
                            return Err(self.failure(step, &statements, i, db, true, attempts));
                        }
                    }
                }
                restored = match self.restore_archives(step).await {
                    Ok(r) => r,
                    Err(db) => {
                        self.driver.rollback().await;
                        self.reload_archives().await?;
                        self.event(
                            action,
                            Some(step),
                            "failed",
                            Some(format!("restore: {}", db.message)),
                            Some(started.elapsed()),
                        )
                        .await?;
                        return Err(restore_failure(self, db, true, attempts));
                    }
                };
                let elapsed = started.elapsed();
                let write = match step.direction {
                    Direction::Up => HistoryWrite::Insert(Box::new(self.applied_row(
                        step,
                        seq,
                        RowState::Applied,
                        elapsed,
                    ))),
                    Direction::Down => HistoryWrite::Delete(step.version, step.stage),
                };
                let detail = detail_of(&archived, &restored);
                let ev = self.new_event(action, Some(step), "ok", detail, Some(elapsed));
                self.driver.record_and_commit(&write, &ev).await?;
                break;
            }
        } else {
            self.driver.start_stage(false).await?;
            // Outside a transaction: the row says `failed` until the stage completes.
            match step.direction {
                Direction::Up => {
                    self.driver
                        .insert_applied(&self.applied_row(
                            step,
                            seq,
                            RowState::Failed,
                            Duration::ZERO,
                        ))
                        .await?
                }
                Direction::Down => {
                    self.driver
                        .update_state(
                            step.version,
                            step.stage,
                            &RowUpdate::failed("down", 0, None),
                        )
                        .await?
                }
            }
            let direction = match step.direction {
                Direction::Up => "up",
                Direction::Down => "down",
            };
            // MySQL's LOCK TABLES (a mysqldump's data sections) makes every
            // other table unwritable until UNLOCK TABLES: no progress row is
            // written meanwhile, and the stage's locks are released before
            // the history is written, whatever happens.
            let mut tables_locked = false;
            for (i, s) in statements.iter().enumerate() {
                loop {
                    match self.run_statement(step, s, targets[i].as_ref()).await {
                        Ok(a) => {
                            archived.extend(a);
                            tables_locked = locks_tables(s, &step.script.sql, tables_locked);
                            break;
                        }
                        Err(db) if db.lock_timeout && attempts < retries => {
                            self.retry_pause(step, action, i + 1, &db, attempts, on)
                                .await?;
                            attempts += 1;
                        }
                        Err(db) => {
                            if tables_locked {
                                self.unlock_tables().await;
                            }
                            let residue = self.clean_up_after(step, &statements[i]).await;
                            let nothing_left = i == 0 && !matches!(residue, Some(Residue::Left(_)));
                            if nothing_left {
                                // Nothing ran: put the history back as it was.
                                match step.direction {
                                    Direction::Up => {
                                        self.driver.delete_applied(step.version, step.stage).await?
                                    }
                                    Direction::Down => {
                                        self.driver
                                            .update_state(
                                                step.version,
                                                step.stage,
                                                &RowUpdate::applied(None),
                                            )
                                            .await?
                                    }
                                }
                            } else {
                                self.driver
                                    .update_state(
                                        step.version,
                                        step.stage,
                                        &RowUpdate::failed(direction, i as i64, Some(&db.message)),
                                    )
                                    .await?;
                            }
                            let detail = format!("statement {}: {}", i + 1, db.message);
                            self.event(
                                action,
                                Some(step),
                                "failed",
                                Some(detail),
                                Some(started.elapsed()),
                            )
                            .await?;
                            let mut failure =
                                self.failure(step, &statements, i, db, false, attempts);
                            if let Error::StageFailed(f) = &mut failure {
                                f.residue = residue;
                            }
                            return Err(failure);
                        }
                    }
                }
                if statements.len() > 1 && i + 1 < statements.len() && !tables_locked {
                    self.driver
                        .update_state(
                            step.version,
                            step.stage,
                            &RowUpdate::failed(direction, i as i64 + 1, None),
                        )
                        .await?;
                }
            }
            if tables_locked {
                self.unlock_tables().await;
            }
            restored = match self.restore_archives(step).await {
                Ok(r) => r,
                Err(db) => {
                    let done = statements.len() as i64;
                    self.driver
                        .update_state(
                            step.version,
                            step.stage,
                            &RowUpdate::failed(direction, done, Some(&db.message)),
                        )
                        .await?;
                    self.event(
                        action,
                        Some(step),
                        "failed",
                        Some(format!("restore: {}", db.message)),
                        Some(started.elapsed()),
                    )
                    .await?;
                    return Err(restore_failure(self, db, false, attempts));
                }
            };
            let elapsed = started.elapsed();
            match step.direction {
                Direction::Up => {
                    self.driver
                        .update_state(
                            step.version,
                            step.stage,
                            &RowUpdate::applied(Some(elapsed.as_millis() as i64)),
                        )
                        .await?
                }
                Direction::Down => self.driver.delete_applied(step.version, step.stage).await?,
            }
            let detail = detail_of(&archived, &restored);
            self.event(action, Some(step), "ok", detail, Some(elapsed))
                .await?;
        }
        let duration = started.elapsed();
        tracing::info!(migration = %step.label(), direction = ?step.direction, ms = duration.as_millis() as u64, "stage done");
        Ok(StepReport {
            version: step.version,
            migration: format!("{}_{}", step.version_text, step.name),
            stage: step.stage,
            direction: step.direction,
            statements: statements.len(),
            duration_ms: duration.as_millis() as u64,
            attempts,
            archived,
            restored,
        })
    }

    /// `UNLOCK TABLES` after a stage's own `LOCK TABLES` (MySQL).
    async fn unlock_tables(&mut self) {
        if let Err(e) = self.driver.execute("UNLOCK TABLES").await {
            tracing::warn!(error = %e.message, "UNLOCK TABLES after the stage failed");
        }
    }

    /// After a lock timeout: tell, log, and wait before the next attempt.
    async fn retry_pause(
        &mut self,
        step: &Step,
        action: &str,
        statement: usize,
        db: &DbError,
        attempt: u32,
        on: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<(), Error> {
        let delay = backoff(attempt);
        on(Progress::Retry {
            step,
            attempt,
            delay,
        });
        let detail = format!("statement {statement}: {}", db.message);
        self.event(action, Some(step), "retry", Some(detail), None)
            .await?;
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// Re-reads the archive list after a rollback undid archives made in it.
    async fn reload_archives(&mut self) -> Result<(), Error> {
        self.archives = self.driver.archives().await?;
        Ok(())
    }

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
        self.driver.lock(self.options.lock_wait).await?;
        let result = async {
            self.driver.ensure_tables().await?;
            let history = self.history().await?;
            let migration = self.source.get(version);
            let stage = match stage {
                Some(s) => s,
                None => {
                    let rows: Vec<&AppliedStage> = history.iter().filter(|r| r.version == version).collect();
                    match (rows.as_slice(), migration) {
                        ([one], _) => one.stage,
                        ([], Some(m)) if m.stages.len() == 1 => m.stages[0].kind,
                        _ => return Err(Error::BadInput(format!("say which stage of {version}: `{version}:expand` or `{version}:contract`"))),
                    }
                }
            };
            let row = history.iter().find(|r| r.version == version && r.stage == stage);
            let step_label = format!("{version} ({stage})");
            self.refuse_impossible_resolution(&history, version, stage, resolution, row, force)?;
            let detail = format!("as {}: {reason}", if resolution == Resolution::Applied { "applied" } else { "reverted" });
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
                        return Err(Error::BadInput(format!("no migration has version {version} in {}", self.source.dir.display())));
                    };
                    let Some(s) = m.stage(stage) else {
                        return Err(Error::BadInput(format!("{} has no {stage} stage", m.label())));
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
                    self.driver.insert_applied(&self.applied_row(&step, seq, RowState::Applied, Duration::ZERO)).await?;
                    format!("{step_label} is recorded as applied (no SQL was run)")
                }
                (Resolution::Reverted, Some(_)) => {
                    self.driver.delete_applied(version, stage).await?;
                    format!("{step_label} is recorded as not applied")
                }
                (Resolution::Reverted, None) => {
                    return Err(Error::BadInput(format!("{step_label} is not in the history: there is nothing to resolve")));
                }
            };
            let ev = Event {
                id: 0,
                run_id: self.run_id.clone(),
                at: now(),
                actor: self.actor.clone(),
                action: "resolve".into(),
                version: Some(version),
                stage: Some(stage.name().into()),
                outcome: "forced".into(),
                detail: Some(detail),
                duration_ms: None,
            };
            self.driver.insert_event(&ev).await?;
            Ok(message)
        }
        .await;
        self.driver.unlock().await;
        result
    }
}

/// What `migrate repair` replaced (or would, in a dry run).
#[derive(Debug, Clone, Serialize)]
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

impl Runner {
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
        self.driver.lock(self.options.lock_wait).await?;
        let result = async {
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
                let ev = Event {
                    id: 0,
                    run_id: self.run_id.clone(),
                    at: now(),
                    actor: self.actor.clone(),
                    action: "repair".into(),
                    version: Some(version),
                    stage: Some(kind.name().into()),
                    outcome: "forced".into(),
                    detail: Some(format!("stored down replaced by {path}: {reason}")),
                    duration_ms: None,
                };
                self.driver.insert_event(&ev).await?;
            }
            Ok(repair)
        }
        .await;
        self.driver.unlock().await;
        result
    }

    /// `resolve` records what the database really holds; it refuses states
    /// that cannot exist, and taking back a healthy stage that has a down
    /// (that is `migrate down`'s work) unless forced.
    fn refuse_impossible_resolution(
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

/// Whether MySQL table locks are held after `statement`, given whether they
/// were before it: `LOCK TABLE(S)` takes them, `UNLOCK TABLE(S)` releases.
fn locks_tables(statement: &Statement, sql: &str, before: bool) -> bool {
    let mut words = statement.words(sql).map(str::to_ascii_uppercase);
    match (words.next().as_deref(), words.next().as_deref()) {
        (Some("LOCK"), Some("TABLES" | "TABLE")) => true,
        (Some("UNLOCK"), Some("TABLES" | "TABLE")) => false,
        _ => before,
    }
}

fn verification_notes(v: &Verification) -> Vec<String> {
    let mut notes = Vec::new();
    for d in &v.down_drift {
        notes.push(format!(
            "the down of {} ({}) on disk ({}) differs from the one stored when it was applied; a revert runs the stored one (to run the file's, `migrate repair {}:{} --reason ...` first)",
            d.version, d.stage, d.path, d.version, d.stage
        ));
    }
    for (version, stage) in &v.unknown {
        notes.push(format!("{version} ({stage}) is applied but not in the source directory (a newer release?); its stored down can still revert it"));
    }
    notes
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
            None => ("pending", None),
            Some(r) if r.state == RowState::Failed => (
                "failed",
                Some(format!(
                    "failed during {} after {} statement(s){}",
                    r.failed_direction.as_deref().unwrap_or("up"),
                    r.statements_done.unwrap_or(0),
                    r.error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                )),
            ),
            Some(_) => ("applied", None),
        };
        let progress = row.filter(|r| r.state == RowState::Failed).map(|r| {
            (
                r.failed_direction.clone().unwrap_or_else(|| "up".into()),
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
    let count = |state: &str| {
        migrations
            .iter()
            .flat_map(|m| &m.stages)
            .filter(|s| s.state == state)
            .count()
    };
    Status {
        applied: count("applied"),
        pending: count("pending"),
        failed: count("failed"),
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
            if s.state == "failed" {
                let (direction, done) = s.progress.clone().unwrap_or_default();
                s.state = "running";
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

fn no_key_message(t: &ArchiveTarget) -> String {
    format!(
        "cannot archive {}: {} has no primary key (or unique NOT NULL key) to restore rows by. Add one in an earlier migration; nothing was run",
        t.label(),
        t.table
    )
}

fn detail_of(archived: &[String], restored: &[String]) -> Option<String> {
    let all: Vec<&str> = archived
        .iter()
        .chain(restored)
        .map(String::as_str)
        .collect();
    (!all.is_empty()).then(|| all.join("; "))
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt.min(6)))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Who runs migrate, for `applied_by` and the event log.
pub fn user_name() -> String {
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return v;
        }
    }
    // No variable (a container, a service): the name of our uid.
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
        });
    if let Some(uid) = uid {
        let name = std::fs::read_to_string("/etc/passwd").ok().and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
            })
        });
        return name.unwrap_or(format!("uid {uid}"));
    }
    "unknown".into()
}

/// This machine's name, for `applied_by` and lock holder messages.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}
