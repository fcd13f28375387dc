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
pub use crate::history::{AppliedStage, RowState};
use crate::history::{Verification, verify};
use crate::plan::{
    Blocker, BlockerKind, DownTarget, StageFilter, Step, UpScope, plan_down_parts, plan_up,
};
use crate::source::{Direction, DirectiveKind, Script, Source, StageKind, template};
use crate::sql::{Statement, split};

/// Runs `$body` (an async block over the runner) with the runner lock held,
/// and releases the lock whatever the body returns: the one place the
/// lock-then-release shape is written.
macro_rules! with_lock {
    ($runner:expr, $body:expr) => {{
        $runner.driver.lock($runner.options.lock_wait).await?;
        let result = $body.await;
        $runner.driver.unlock().await;
        result
    }};
}

mod execute;
mod record;
mod resolve;
mod status;

use record::now;
pub(crate) use record::{hostname, user_name};
pub use resolve::{Repair, Resolution};
pub use status::{MigrationStatus, StageState, StageStatus, Status};

/// How many run starting points (`@previous` and before) are kept.
pub(crate) const KEPT_RUN_CHECKPOINTS: usize = 50;

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
#[non_exhaustive]
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
#[non_exhaustive]
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
    /// The [`PlannedRun::fingerprint`] of the plan a person confirmed: the
    /// revert runs only if the plan made under the lock is still that one
    /// (another deploy or revert may have run in between), and is refused,
    /// with nothing run, otherwise.
    pub confirmed: Option<String>,
}

/// A planned run, for `--dry-run`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PlannedRun {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// For each step, the archives it will make and restore.
    pub actions: Vec<Vec<String>>,
    /// Notes.
    pub notes: Vec<String>,
    /// Identifies these steps and the SQL each runs: pass it as
    /// [`DownRequest::confirmed`] to run exactly the plan that was shown.
    pub fingerprint: String,
}

/// What the checker guard's verdict depends on besides the source: the
/// steps ([`plan_fingerprint`]), and every stored down (they stand in for
/// the files' in the check).
fn guard_key(steps: &[Step], history: &[AppliedStage]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(plan_fingerprint(steps));
    for r in history {
        hasher.update(r.version.to_le_bytes());
        let down = r.down_sql.as_deref().unwrap_or("\0none");
        for part in [r.stage.name(), down] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hasher.finalize().into()
}

/// A digest of the steps a plan runs, in order, with their SQL.
pub(crate) fn plan_fingerprint(steps: &[Step]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for s in steps {
        for part in [
            s.version_text.as_str(),
            s.stage.name(),
            s.script.sql.as_str(),
        ] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
    /// The history summary read while the source loaded
    /// ([`Runner::connect_loading`]), for the first `up`'s check for
    /// nothing to do; `Some(None)` when the tables did not exist.
    early_summary: Option<Option<Vec<AppliedStage>>>,
    /// The last steps and history the checker guard passed, and what it
    /// accepted through the baseline for them.
    guard_passed: Option<([u8; 32], Vec<String>)>,
}

impl Runner {
    /// Connects to `url` for `source`.
    pub async fn connect(
        url: &str,
        source: Source,
        connect: &ConnectOptions,
        options: RunOptions,
    ) -> Result<Runner, Error> {
        Runner::connect_native(url, None, source, connect, options).await
    }

    /// [`Runner::connect`] with an application's own connect options
    /// (`url` is their lossy URL, for messages).
    pub(crate) async fn connect_native(
        url: &str,
        native: Option<crate::driver::Native>,
        source: Source,
        connect: &ConnectOptions,
        options: RunOptions,
    ) -> Result<Runner, Error> {
        let driver = Driver::connect_with(url, native, connect).await?;
        Ok(Runner::new(driver, source, options))
    }

    /// Connects to `url` while the migrations in `dir` load on another
    /// thread (on a start-up with nothing to do, loading is most of the
    /// time, and the connection's is as long: the server's round trips, or
    /// SQLite reading its schema). With `summary`, the history's one-row
    /// summary is read meanwhile too, for the first [`Runner::up`]'s check
    /// for nothing to do. A problem in the files is reported before any
    /// connection error, as if they had been loaded first; a SQLite file
    /// that does not exist yet is created only once they have loaded.
    pub async fn connect_loading(
        url: &str,
        dir: &std::path::Path,
        connect: &ConnectOptions,
        options: RunOptions,
        summary: bool,
    ) -> Result<Runner, Error> {
        if crate::driver::would_create_file(url) {
            let source = crate::source::load(dir)?;
            return Runner::connect(url, source, connect, options).await;
        }
        let owned = dir.to_path_buf();
        let mut load = tokio::task::spawn_blocking(move || crate::source::load(&owned));
        let mut connecting = std::pin::pin!(async {
            let mut driver = Driver::connect(url, connect).await?;
            let early = if summary {
                match driver.read_history_summary().await {
                    Ok(rows) => Some(rows),
                    Err(e) => {
                        driver.close().await;
                        return Err(e);
                    }
                }
            } else {
                None
            };
            Ok::<_, Error>((driver, early))
        });
        let mut connected = None;
        let loaded = loop {
            tokio::select! {
                loaded = &mut load => break loaded,
                made = &mut connecting, if connected.is_none() => connected = Some(made),
            }
        };
        let source = match loaded {
            Ok(Ok(source)) => source,
            Ok(Err(e)) => {
                if let Some(Ok((driver, _))) = connected {
                    driver.close().await;
                }
                return Err(e.into());
            }
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                // Cancelled with the runtime: load here instead.
                Err(_) => crate::source::load(dir)?,
            },
        };
        let (driver, early) = match connected {
            Some(made) => made?,
            None => connecting.await?,
        };
        let mut runner = Runner::new(driver, source, options);
        runner.early_summary = early;
        Ok(runner)
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
            early_summary: None,
            guard_passed: None,
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

    /// The driver, for the drill and adopt (crate-private: its methods
    /// write history rows directly).
    pub(crate) fn driver(&mut self) -> &mut Driver {
        &mut self.driver
    }

    /// Closes the connection.
    pub async fn close(self) {
        self.driver.close().await;
    }

    /// Closes the connection of a process about to end: the lock is
    /// released as by [`Runner::close`], but a SQLite connection is left
    /// for the process's end to close (everything it wrote is committed;
    /// waiting for SQLite to free its schema cache was a tenth of a no-op
    /// start-up on a thousand tables).
    pub async fn close_for_exit(self) {
        let Runner { driver, source, .. } = self;
        // Freed by the process's end, at no cost, rather than piece by piece.
        std::mem::forget(source);
        driver.close_for_exit().await;
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
            fingerprint: plan_fingerprint(&steps),
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
            fingerprint: plan_fingerprint(&steps),
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
        // The same steps over the same history passed already (the plan a
        // person confirmed, vetted again under the lock): the checker would
        // say the same.
        let key = guard_key(steps, history);
        if let Some((passed, accepted)) = &self.guard_passed
            && *passed == key
        {
            self.accepted = accepted.clone();
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
                    kind: BlockerKind::Checker,
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
            self.guard_passed = Some((key, self.accepted.clone()));
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
            kind: BlockerKind::Checker,
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
            && let Some(history) = match self.early_summary.take() {
                Some(early) => early,
                None => self.driver.read_history_summary().await?,
            }
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
        with_lock!(self, async {
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
        })
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
        with_lock!(self, async {
            self.driver.ensure_tables().await?;
            let history = self.history().await?;
            let target = self.down_target(&req.target, &history).await?;
            let v = verify(&self.source, &history);
            let (steps, _) = self
                .checked_down(&history, &v, &target, req.force.is_some())
                .await?;
            if let Some(confirmed) = &req.confirmed
                && plan_fingerprint(&steps) != *confirmed
            {
                return Err(Error::Refused {
                    blockers: vec![Blocker {
                        kind: BlockerKind::PlanChanged,
                        version: None,
                        message: "the revert plan changed after it was confirmed (another deploy or revert ran meanwhile): nothing was run. Review the new plan and run again".into(),
                    }],
                });
            }
            if let Some(reason) = &req.force
                && !steps.is_empty()
            {
                self.log("force", "forced", Some(reason.clone())).await?;
            }
            self.execute_all(&steps, &v, on).await
        })
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
