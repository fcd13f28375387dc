//! Fleet: one command over many databases (a database or schema per tenant,
//! per shard, per region), planned for every target before any is touched.
//!
//! [`plan`] connects to every target (at most [`FleetOptions::parallel`] at
//! a time), makes and vets its plan exactly as a single `up` or `down`
//! would (the checker, stored downs, archives, drift, failed stages), and
//! keeps only a summary per target: identical plans are stored once, so
//! memory grows by a name, a URL and a fingerprint per target. [`execute`]
//! then runs a plan that nothing blocks: canaries first, then the rest,
//! launching no new target after the first failure (or after
//! [`FleetOptions::max_failures`]) or once [`FleetOptions::stop`] is set.
//! A revert runs on each target exactly the plan vetted for it (its
//! fingerprint is passed as [`DownRequest::confirmed`]).
//!
//! Invariants: every target's own history is the truth, so running the same
//! command again finishes the fleet without redoing anything; a target's
//! error is its outcome, never the fleet's panic; a blocked plan anywhere
//! means no target is touched; URLs in reports are redacted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;

use crate::drill::{DrillOptions, DrillReport};
use crate::driver::{Backend, ConnectOptions};
use crate::error::Error;
use crate::history::{AppliedStage, RowState};
use crate::plan::Blocker;
use crate::redact::redact_url;
use crate::runner::{DownRequest, PlannedRun, RunOptions, Runner, UpRequest};
use crate::source::{Source, cmp_versions};

/// One database of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetTarget {
    /// Its name in reports (a tenant, shard or region).
    pub name: String,
    /// Its URL; on PostgreSQL `?schema=NAME` puts migrate's tables and the
    /// migrations in that schema.
    pub url: String,
}

/// Reads a targets file: one target per line, `NAME URL` (blank lines and
/// `#` comments skipped), or TOML with a `[targets]` table of
/// `NAME = "URL"` (taken in name order). `origin` names the file in errors.
pub fn parse_targets(text: &str, origin: &str) -> Result<Vec<FleetTarget>, Error> {
    let meaningful = |l: &&str| {
        let l = l.trim();
        !l.is_empty() && !l.starts_with('#')
    };
    let toml = text
        .lines()
        .find(meaningful)
        .is_some_and(|l| l.trim_start().starts_with('['));
    let mut targets: Vec<(usize, FleetTarget)> = Vec::new();
    if toml {
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| Error::BadInput(format!("{origin}: not valid TOML: {e}")))?;
        let Some(toml::Value::Table(list)) = table.get("targets") else {
            return Err(Error::BadInput(format!(
                "{origin}: a TOML targets file holds a `[targets]` table of NAME = \"URL\""
            )));
        };
        for (name, url) in list {
            let toml::Value::String(url) = url else {
                return Err(Error::BadInput(format!(
                    "{origin}: target `{name}`: its value must be the URL, as a string"
                )));
            };
            targets.push((
                0,
                FleetTarget {
                    name: name.clone(),
                    url: url.clone(),
                },
            ));
        }
    } else {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, url] = fields[..] else {
                return Err(Error::BadInput(format!(
                    "{origin}:{}: expected `NAME URL` (two fields), found {}: `{}`",
                    i + 1,
                    fields.len(),
                    redact_url(line)
                )));
            };
            targets.push((
                i + 1,
                FleetTarget {
                    name: name.to_string(),
                    url: url.to_string(),
                },
            ));
        }
    }
    let mut seen = BTreeMap::new();
    for (line, t) in &targets {
        let at = if *line > 0 {
            format!("{origin}:{line}")
        } else {
            origin.to_string()
        };
        if t.name.is_empty()
            || !t
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(Error::BadInput(format!(
                "{at}: target name `{}` may hold only letters, digits, `.`, `_` and `-`",
                t.name
            )));
        }
        if let Some(first) = seen.insert(t.name.as_str(), *line) {
            return Err(Error::BadInput(format!(
                "{at}: target `{}` is listed twice (first on line {first}): names identify targets in reports",
                t.name
            )));
        }
        Backend::from_url(&t.url)
            .map_err(|e| Error::BadInput(format!("{at}: target `{}`: {e}", t.name)))?;
    }
    if targets.is_empty() {
        return Err(Error::BadInput(format!(
            "{origin}: no targets: list one per line as `NAME URL`"
        )));
    }
    Ok(targets.into_iter().map(|(_, t)| t).collect())
}

/// What the fleet does on each target.
#[derive(Debug, Clone)]
pub enum FleetCommand {
    /// `up`, `expand` or `contract`.
    Up(UpRequest),
    /// `down`.
    Down(DownRequest),
    /// `status`: read only.
    Status,
    /// `check` of drift: read only. A target drifts when an applied up was
    /// edited on disk, a stored down differs from the file's, a migration
    /// is applied but not in the source, or a stage is in a failed state.
    Drift,
    /// `checkpoint create`: records `name` for each target's current state.
    /// Planned first: a target where the name exists already (without
    /// `replace`) or with a failed stage blocks the fleet.
    Checkpoint {
        /// The checkpoint's name.
        name: String,
        /// What the state is.
        note: Option<String>,
        /// Move an existing checkpoint of that name.
        replace: bool,
    },
}

impl FleetCommand {
    fn name(&self) -> &'static str {
        match self {
            FleetCommand::Up(_) => "up",
            FleetCommand::Down(_) => "down",
            FleetCommand::Status => "status",
            FleetCommand::Drift => "check",
            FleetCommand::Checkpoint { .. } => "checkpoint",
        }
    }

    /// Reads only: nothing to execute after the plan phase.
    fn reads_only(&self) -> bool {
        matches!(self, FleetCommand::Status | FleetCommand::Drift)
    }
}

/// How the fleet is rolled out.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Targets worked on at once (connections open at once).
    pub parallel: usize,
    /// The first K targets with work to do run alone first; the rest only
    /// if all K succeed.
    pub canary: usize,
    /// Failures tolerated before no new target is launched (0: stop at the
    /// first).
    pub max_failures: usize,
    /// How each target is connected to.
    pub connect: ConnectOptions,
    /// How each target's run behaves.
    pub run: RunOptions,
    /// Set it (on Ctrl-C, say) to launch no new target: running ones finish
    /// (or roll back) and the rest are reported `not reached`.
    pub stop: Arc<AtomicBool>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            parallel: 4,
            canary: 0,
            max_failures: 0,
            connect: ConnectOptions::default(),
            run: RunOptions::default(),
            stop: Arc::default(),
        }
    }
}

/// What became of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Outcome {
    /// Its plan was made and nothing blocks it (`--dry-run`, or before
    /// [`execute`]).
    Planned,
    /// Nothing to do.
    UpToDate,
    /// Its plan ran.
    Done,
    /// Its status was read (and, for `check`, nothing drifted).
    Read,
    /// `check`: its history and the source disagree (see
    /// [`TargetReport::drift`]).
    Drifted,
    /// Its plan is refused (or could not be made): with any target blocked,
    /// no target is touched.
    Blocked,
    /// Its run failed.
    Failed,
    /// Not launched: a canary or a target failed, or the fleet was stopped.
    NotReached,
}

impl Outcome {
    /// `up-to-date`, `done`, ... as in the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Planned => "planned",
            Outcome::UpToDate => "up-to-date",
            Outcome::Done => "done",
            Outcome::Read => "read",
            Outcome::Drifted => "drifted",
            Outcome::Blocked => "blocked",
            Outcome::Failed => "failed",
            Outcome::NotReached => "not-reached",
        }
    }

    /// A failure of the fleet command (exit code 1).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Outcome::Blocked | Outcome::Failed | Outcome::NotReached | Outcome::Drifted
        )
    }
}

/// A plan shared by every target whose steps and SQL are the same.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SharedPlan {
    /// [`PlannedRun::fingerprint`].
    pub fingerprint: String,
    /// The steps, as `0003_add_x (main)`, in order.
    pub steps: Vec<String>,
    /// For each step, the archives it makes and restores.
    pub actions: Vec<Vec<String>>,
    /// How many targets share it.
    pub targets: usize,
}

/// One target in a fleet report.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TargetReport {
    /// Its name.
    pub name: String,
    /// Its URL, password hidden.
    pub url: String,
    /// What became of it.
    pub outcome: Outcome,
    /// The fingerprint of its plan (see [`FleetReport::plans`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Stages its run applied or reverted.
    pub steps_run: usize,
    /// Where it is (after the run, or when planned): the newest applied
    /// version, `VERSION:STAGE` when only part of it is, `0` for nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Named checkpoints recorded for exactly that state.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<String>,
    /// Stages pending and failed (`status`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<usize>,
    /// Stages in a failed state (`status`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<usize>,
    /// The first migration with a stage not applied, as in its file name
    /// (`status`, `check`, drills): where this target's next run starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// `check`: each way its history and the source disagree.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<String>,
    /// Notes from its plan (stored downs that differ from the files, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Why its plan is refused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blockers: Vec<Blocker>,
    /// The error that failed or blocked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Time spent on it, planning and running.
    pub ms: u64,
}

impl TargetReport {
    fn new(target: &FleetTarget) -> TargetReport {
        TargetReport {
            name: target.name.clone(),
            url: redact_url(&target.url),
            outcome: Outcome::NotReached,
            plan: None,
            steps_run: 0,
            state: None,
            checkpoints: Vec::new(),
            pending: None,
            failed: None,
            next: None,
            drift: Vec::new(),
            notes: Vec::new(),
            blockers: Vec::new(),
            error: None,
            ms: 0,
        }
    }

    fn fail(&mut self, outcome: Outcome, e: Error) {
        self.outcome = outcome;
        if let Error::Refused { blockers } = &e {
            self.blockers = blockers.clone();
        }
        self.error = Some(e.to_string());
    }

    /// `at 0057 (release-2.5.0)`, or `unknown` when it could not be read.
    pub fn state_label(&self) -> String {
        match &self.state {
            None => "unknown".into(),
            Some(s) if self.checkpoints.is_empty() => format!("at {s}"),
            Some(s) => format!("at {s} ({})", self.checkpoints.join(", ")),
        }
    }
}

/// The fleet's plan or result.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct FleetReport {
    /// `up`, `down` or `status`.
    pub command: &'static str,
    /// Every target, in the targets file's order.
    pub targets: Vec<TargetReport>,
    /// Every distinct plan, in order of first appearance.
    pub plans: Vec<SharedPlan>,
    /// Why no further target was launched, when the run stopped early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Wall time, planning and running.
    pub ms: u64,
}

impl FleetReport {
    /// Whether any target failed, was blocked or was not reached.
    pub fn failed(&self) -> bool {
        self.targets.iter().any(|t| t.outcome.is_failure())
    }

    /// Whether any target's plan is refused: then nothing may run.
    pub fn blocked(&self) -> bool {
        self.targets.iter().any(|t| t.outcome == Outcome::Blocked)
    }

    /// Targets counted by outcome and state, most common first:
    /// `(outcome, "at 0057 (release-2.5.0)", 962)`.
    pub fn groups(&self) -> Vec<(Outcome, String, usize)> {
        let mut counts: BTreeMap<(Outcome, String), usize> = BTreeMap::new();
        for t in &self.targets {
            *counts.entry((t.outcome, t.state_label())).or_default() += 1;
        }
        let mut groups: Vec<_> = counts.into_iter().map(|((o, s), n)| (o, s, n)).collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)).then(a.1.cmp(&b.1)));
        groups
    }
}

/// Progress as the fleet goes, for a progress line.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct FleetProgress<'a> {
    /// `plan` or `run`.
    pub phase: &'static str,
    /// Targets finished in this phase.
    pub done: usize,
    /// Of which failed or blocked.
    pub failed: usize,
    /// Targets this phase works on.
    pub total: usize,
    /// The target just finished.
    pub last: &'a TargetReport,
}

/// What a fleet run needs besides each target.
struct Shared {
    source: Source,
    command: FleetCommand,
    connect: ConnectOptions,
    run: RunOptions,
}

/// Plans `command` on every target: connects (at most `parallel` at once),
/// makes and vets each plan as a single run would, and closes. For
/// `status`, reads every target's status instead. Nothing is changed
/// (except that a SQLite file or a URL's schema that does not exist yet is
/// created, as a single run would).
pub async fn plan(
    source: &Source,
    targets: &[FleetTarget],
    command: &FleetCommand,
    options: &FleetOptions,
    progress: &mut (dyn FnMut(FleetProgress<'_>) + Send),
) -> FleetReport {
    let started = Instant::now();
    let shared = Arc::new(Shared {
        source: source.clone(),
        command: command.clone(),
        connect: ConnectOptions {
            must_exist: command.reads_only(),
            ..options.connect.clone()
        },
        run: options.run.clone(),
    });
    let mut reports: Vec<TargetReport> = targets.iter().map(TargetReport::new).collect();
    let mut plans: Vec<SharedPlan> = Vec::new();
    let mut failed = 0;
    let total = targets.len();
    let mut done = 0;
    bounded(
        targets.iter().cloned().enumerate(),
        options.parallel,
        || false,
        |_, target| plan_one(Arc::clone(&shared), target),
        |i, (report, planned)| {
            reports[i] = report;
            if let Some(p) = planned {
                match plans.iter_mut().find(|s| s.fingerprint == p.fingerprint) {
                    Some(s) => s.targets += 1,
                    None => plans.push(SharedPlan {
                        fingerprint: p.fingerprint,
                        steps: p.steps.iter().map(|s| s.label()).collect(),
                        actions: p.actions,
                        targets: 1,
                    }),
                }
            }
            done += 1;
            failed += usize::from(reports[i].outcome.is_failure());
            progress(FleetProgress {
                phase: "plan",
                done,
                failed,
                total,
                last: &reports[i],
            });
        },
    )
    .await;
    FleetReport {
        command: command.name(),
        targets: reports,
        plans,
        stopped: None,
        ms: elapsed_ms(started),
    }
}

/// Runs a fleet plan made by [`plan`] with the same source and command:
/// refused (nothing touched, the report returned as it is) when any target
/// is blocked. Canaries first, then the rest; no new target is launched
/// after a failure beyond `max_failures`, or once `stop` is set.
pub async fn execute(
    source: &Source,
    targets: &[FleetTarget],
    command: &FleetCommand,
    mut report: FleetReport,
    options: &FleetOptions,
    progress: &mut (dyn FnMut(FleetProgress<'_>) + Send),
) -> FleetReport {
    if report.blocked() || command.reads_only() {
        return report;
    }
    let started = Instant::now();
    let shared = Arc::new(Shared {
        source: source.clone(),
        command: command.clone(),
        connect: options.connect.clone(),
        run: options.run.clone(),
    });
    // Targets with work: a non-empty plan, or an `up` that records a
    // checkpoint (which names the state even when nothing is applied).
    let records_checkpoint = match command {
        FleetCommand::Up(r) => r.checkpoint.is_some(),
        FleetCommand::Checkpoint { .. } => true,
        _ => false,
    };
    let empty: Vec<&str> = report
        .plans
        .iter()
        .filter(|p| p.steps.is_empty())
        .map(|p| p.fingerprint.as_str())
        .collect();
    let mut work = Vec::new();
    let mut idle = Vec::new();
    for (i, t) in report.targets.iter().enumerate() {
        if t.outcome != Outcome::Planned {
            continue;
        }
        let has_steps = t.plan.as_deref().is_some_and(|f| !empty.contains(&f));
        if has_steps {
            work.push(i);
        } else if records_checkpoint {
            idle.push(i);
        }
    }
    for (i, t) in report.targets.iter_mut().enumerate() {
        if t.outcome == Outcome::Planned {
            // Reached or not, a target with nothing to do is up to date.
            t.outcome = if work.contains(&i) || idle.contains(&i) {
                Outcome::NotReached
            } else {
                Outcome::UpToDate
            };
        }
    }
    let total = work.len() + idle.len();
    let canaries = options.canary.min(work.len());
    let mut failures = 0;
    let mut done = 0;
    let mut stopped = None;
    let canary_batch: Vec<usize> = work[..canaries].to_vec();
    let rest: Vec<usize> = work[canaries..].iter().chain(&idle).copied().collect();
    for (batch, canary) in [(canary_batch, true), (rest, false)] {
        if batch.is_empty() {
            continue;
        }
        if stopped.is_some() {
            break;
        }
        let stop = Arc::clone(&options.stop);
        let limit = if canary { 0 } else { options.max_failures };
        let failures_now = std::cell::Cell::new(failures);
        let plans: Vec<Option<String>> = batch
            .iter()
            .map(|&i| report.targets[i].plan.clone())
            .collect();
        let items = batch
            .iter()
            .copied()
            .zip(plans)
            .map(|(i, fp)| (i, (targets[i].clone(), fp)));
        let targets_reports = &mut report.targets;
        bounded(
            items,
            options.parallel,
            || stop.load(Ordering::Relaxed) || failures_now.get() > limit,
            |_, (target, fingerprint)| run_one(Arc::clone(&shared), target, fingerprint),
            |i, mut r| {
                r.ms += targets_reports[i].ms;
                r.plan = targets_reports[i].plan.take();
                targets_reports[i] = r;
                done += 1;
                if targets_reports[i].outcome.is_failure() {
                    failures_now.set(failures_now.get() + 1);
                }
                progress(FleetProgress {
                    phase: "run",
                    done,
                    failed: failures_now.get(),
                    total,
                    last: &targets_reports[i],
                });
            },
        )
        .await;
        failures = failures_now.get();
        if options.stop.load(Ordering::Relaxed) {
            stopped = Some("stopped (interrupted): no further target was launched".to_string());
        } else if canary && failures > 0 {
            stopped = Some(format!(
                "{failures} of {} canary target(s) failed: no other target was touched",
                batch.len()
            ));
        } else if failures > limit {
            stopped = Some(format!(
                "{failures} target(s) failed{}: no further target was launched",
                if limit > 0 {
                    format!(" (more than --max-failures {limit})")
                } else {
                    String::new()
                }
            ));
        }
    }
    report.stopped = stopped;
    report.ms += elapsed_ms(started);
    report
}

/// One drill of [`drill`]: the stages pending on the targets that stand at
/// the same place on the same backend, drilled once for all of them.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct FleetDrill {
    /// `sqlite`, `postgres` or `mysql`.
    pub backend: &'static str,
    /// The first pending migration, as in its file name: the migrations
    /// before it were applied on the scratch database without drilling.
    pub from: String,
    /// The targets that stand there.
    pub targets: Vec<String>,
    /// Where it ran and each stage's verdict; `None` when it could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<DrillReport>,
    /// Why it could not run (no scratch server for this backend, an
    /// unreachable one, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl FleetDrill {
    /// Failed stages, or the drill could not run.
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.report.as_ref().is_some_and(|r| r.failures() > 0)
    }
}

/// Drills what the fleet is about to run: reads every target's status (as
/// [`plan`] does for `status`), groups the targets by backend and by their
/// first pending migration, and for each group drills the pending
/// migrations on a scratch database (one of `scratch`, of the group's
/// backend; SQLite groups without one drill in memory), after applying
/// the migrations before them undrilled. Targets are only read. Groups
/// are drilled one after the other; `on` is called after each.
pub async fn drill(
    source: &Source,
    targets: &[FleetTarget],
    scratch: &[String],
    drill_options: &DrillOptions,
    options: &FleetOptions,
    progress: &mut (dyn FnMut(FleetProgress<'_>) + Send),
    on: &mut (dyn FnMut(&FleetDrill) + Send),
) -> Result<(FleetReport, Vec<FleetDrill>), Error> {
    let mut scratch_of: BTreeMap<&'static str, &str> = BTreeMap::new();
    for url in scratch {
        let backend = Backend::from_url(url)?;
        if scratch_of.insert(backend.feature(), url).is_some() {
            return Err(Error::BadInput(format!(
                "two scratch servers for {}: give one per backend",
                backend.feature()
            )));
        }
    }
    let mut report = plan(source, targets, &FleetCommand::Status, options, progress).await;
    report.command = "drill";
    let mut groups: BTreeMap<(&'static str, String), Vec<String>> = BTreeMap::new();
    for (t, r) in targets.iter().zip(&report.targets) {
        if let (Outcome::Read, Some(next)) = (r.outcome, &r.next) {
            let backend = Backend::from_url(&t.url)?.feature();
            groups
                .entry((backend, next.clone()))
                .or_default()
                .push(t.name.clone());
        }
    }
    let mut drills = Vec::new();
    for ((backend, from), names) in groups {
        let mut one = FleetDrill {
            backend,
            from: from.clone(),
            targets: names,
            report: None,
            error: None,
        };
        let scratch = scratch_of.get(backend).copied();
        if scratch.is_none() && backend != "sqlite" {
            one.error = Some(format!(
                "no scratch server for {} {backend} target(s): give a {backend} server you can spare",
                one.targets.len()
            ));
        } else if options.stop.load(Ordering::Relaxed) {
            one.error = Some("not drilled: the fleet was stopped".into());
        } else {
            let opts = DrillOptions {
                from: source
                    .migrations
                    .iter()
                    .find(|m| m.version_text == from)
                    .map(|m| m.version),
                scratch_chosen: scratch.is_some(),
                ..drill_options.clone()
            };
            match crate::drill::drill(scratch, source, &opts, &mut |_, _, _| {}).await {
                Ok(r) => one.report = Some(r),
                Err(e) => one.error = Some(e.to_string()),
            }
        }
        on(&one);
        drills.push(one);
    }
    Ok((report, drills))
}

/// Runs `work` over `items`, at most `parallel` at once, calling `done` as
/// each finishes (in the caller's task, so it may borrow); launches nothing
/// more once `halt` says so, and waits for those running.
async fn bounded<T, R, Fut>(
    items: impl Iterator<Item = (usize, T)>,
    parallel: usize,
    halt: impl Fn() -> bool,
    work: impl Fn(usize, T) -> Fut,
    mut done: impl FnMut(usize, R),
) where
    Fut: std::future::Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    let mut items = items;
    let mut running = tokio::task::JoinSet::new();
    let mut exhausted = false;
    loop {
        while !exhausted && running.len() < parallel.max(1) && !halt() {
            match items.next() {
                Some((i, item)) => {
                    let fut = work(i, item);
                    running.spawn(async move { (i, fut.await) });
                }
                None => exhausted = true,
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        match joined {
            Ok((i, r)) => done(i, r),
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => continue,
            },
        }
    }
}

async fn plan_one(shared: Arc<Shared>, target: FleetTarget) -> (TargetReport, Option<PlannedRun>) {
    let started = Instant::now();
    let mut report = TargetReport::new(&target);
    let mut runner = match Runner::connect(
        &target.url,
        shared.source.clone(),
        &shared.connect,
        shared.run.clone(),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            // Unreadable, for `status`; for a change, a plan that cannot
            // be made blocks the fleet.
            let outcome = if shared.command.reads_only() {
                Outcome::Failed
            } else {
                Outcome::Blocked
            };
            report.fail(outcome, e);
            report.ms = elapsed_ms(started);
            return (report, None);
        }
    };
    let mut planned = None;
    match &shared.command {
        FleetCommand::Status | FleetCommand::Drift => match runner.status().await {
            Ok(status) => {
                read_status(&status, &shared.command, &mut report);
                where_it_is(&mut runner, &shared.source, &mut report).await;
            }
            Err(e) => report.fail(Outcome::Failed, e),
        },
        FleetCommand::Checkpoint { name, replace, .. } => {
            match plan_checkpoint(&mut runner, name, *replace).await {
                Ok(()) => {
                    report.outcome = Outcome::Planned;
                    where_it_is(&mut runner, &shared.source, &mut report).await;
                }
                Err(e) => {
                    report.fail(Outcome::Blocked, e);
                    where_it_is(&mut runner, &shared.source, &mut report).await;
                }
            }
        }
        FleetCommand::Up(req) => match runner.plan_up(req).await {
            Ok(p) => planned = Some(p),
            Err(e) => {
                report.fail(Outcome::Blocked, e);
                where_it_is(&mut runner, &shared.source, &mut report).await;
            }
        },
        FleetCommand::Down(req) => match runner.plan_down(req).await {
            Ok(p) => planned = Some(p),
            Err(e) => {
                report.fail(Outcome::Blocked, e);
                where_it_is(&mut runner, &shared.source, &mut report).await;
            }
        },
    }
    if let Some(p) = &planned {
        report.outcome = Outcome::Planned;
        report.plan = Some(p.fingerprint.clone());
        report.notes = p.notes.clone();
        where_it_is(&mut runner, &shared.source, &mut report).await;
    }
    runner.close().await;
    report.ms = elapsed_ms(started);
    (report, planned)
}

async fn run_one(
    shared: Arc<Shared>,
    target: FleetTarget,
    fingerprint: Option<String>,
) -> TargetReport {
    let started = Instant::now();
    let mut report = TargetReport::new(&target);
    let mut runner = match Runner::connect(
        &target.url,
        shared.source.clone(),
        &shared.connect,
        shared.run.clone(),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            report.fail(Outcome::Failed, e);
            report.ms = elapsed_ms(started);
            return report;
        }
    };
    let result = match &shared.command {
        FleetCommand::Up(req) => runner.up(req, &mut |_| {}).await,
        FleetCommand::Down(req) => {
            // Exactly the plan vetted for this target, or a refusal.
            let req = DownRequest {
                confirmed: fingerprint,
                ..req.clone()
            };
            runner.down(&req, &mut |_| {}).await
        }
        FleetCommand::Checkpoint {
            name,
            note,
            replace,
        } => runner
            .create_checkpoint(name, note.clone(), *replace)
            .await
            .map(|_| crate::runner::RunReport::default()),
        FleetCommand::Status | FleetCommand::Drift => {
            unreachable!("read in the plan phase")
        }
    };
    match result {
        Ok(run) => {
            report.steps_run = run.steps.len();
            report.outcome = if run.steps.is_empty()
                && !matches!(shared.command, FleetCommand::Checkpoint { .. })
            {
                Outcome::UpToDate
            } else {
                Outcome::Done
            };
        }
        Err(e) => report.fail(Outcome::Failed, e),
    }
    where_it_is(&mut runner, &shared.source, &mut report).await;
    runner.close().await;
    tracing::info!(
        target_name = %report.name,
        outcome = report.outcome.name(),
        steps = report.steps_run,
        "fleet target finished"
    );
    report.ms = elapsed_ms(started);
    report
}

/// `status` and `check`: counts, where the next run starts, and (for
/// `check`) every way the history and the source disagree.
fn read_status(status: &crate::runner::Status, command: &FleetCommand, report: &mut TargetReport) {
    report.outcome = Outcome::Read;
    report.pending = Some(status.pending);
    report.failed = Some(status.failed);
    report.next = status
        .migrations
        .iter()
        .find(|m| {
            !m.unknown
                && m.stages
                    .iter()
                    .any(|s| s.state != crate::runner::StageState::Applied)
        })
        .map(|m| m.version_text.clone());
    if matches!(command, FleetCommand::Drift) {
        for m in &status.migrations {
            let label = format!("{}_{}", m.version_text, m.name);
            if m.unknown {
                report.drift.push(format!(
                    "{label}: applied, but not in the source directory (files of an older release, or a migration deleted after it ran)"
                ));
                continue;
            }
            for s in &m.stages {
                if s.drift {
                    report.drift.push(format!(
                        "{label} ({}): its up was edited after it was applied",
                        s.stage
                    ));
                }
                if s.down_changed {
                    report.drift.push(format!(
                        "{label} ({}): the file's down differs from the stored down that `down` runs (`migrate repair` stores the file's)",
                        s.stage
                    ));
                }
                if s.state == crate::runner::StageState::Failed {
                    report.drift.push(format!(
                        "{label} ({}): in a failed state ({}); `migrate resolve` records what it left",
                        s.stage,
                        s.error.as_deref().unwrap_or("no error recorded")
                    ));
                }
            }
        }
        if !report.drift.is_empty() {
            report.outcome = Outcome::Drifted;
        }
    } else if status.failed > 0 {
        report.outcome = Outcome::Failed;
        report.error = Some(format!(
            "{} stage(s) in a failed state: `migrate status` on this target shows which, `migrate resolve` records what they left",
            status.failed
        ));
    }
}

/// `checkpoint create`, vetted: the name is free (or `replace`) and no
/// stage is in a failed state.
async fn plan_checkpoint(runner: &mut Runner, name: &str, replace: bool) -> Result<(), Error> {
    crate::checkpoint::validate_name(name).map_err(Error::BadInput)?;
    if !replace
        && runner
            .checkpoints(true)
            .await?
            .iter()
            .any(|c| c.name == name)
    {
        return Err(Error::BadInput(format!(
            "checkpoint `{name}` exists already on this target: pass --replace to move it to the current state"
        )));
    }
    let history = runner.history().await?;
    if let Some(row) = history.iter().find(|r| r.state == RowState::Failed) {
        return Err(Error::Refused {
            blockers: vec![Blocker {
                kind: crate::plan::BlockerKind::FailedStage,
                version: Some(row.version),
                message: format!(
                    "{} is in a failed state: resolve it before recording a checkpoint",
                    row.label()
                ),
            }],
        });
    }
    Ok(())
}

/// Fills in where the target is: its newest applied stage and the named
/// checkpoints of exactly that state. Left unknown if it cannot be read.
async fn where_it_is(runner: &mut Runner, source: &Source, report: &mut TargetReport) {
    let Ok(history) = runner.history().await else {
        return;
    };
    report.state = Some(state_label(source, &history));
    let applied: crate::checkpoint::State = history
        .iter()
        .filter(|r| r.state == RowState::Applied)
        .map(|r| (r.version, r.stage))
        .collect();
    if let Ok(checkpoints) = runner.checkpoints(false).await {
        report.checkpoints = checkpoints
            .into_iter()
            .filter(|c| c.state == applied)
            .map(|c| c.name)
            .collect();
    }
}

/// The newest applied version in run order (`VERSION:STAGE` when only
/// part of a staged migration is applied), or `0`.
fn state_label(source: &Source, history: &[AppliedStage]) -> String {
    let text_of = |version: i64| {
        source
            .get(version)
            .map_or_else(|| version.to_string(), |m| m.version_text.clone())
    };
    let newest = history
        .iter()
        .filter(|r| r.state == RowState::Applied)
        .max_by(|a, b| cmp_versions(a.version, b.version).then(a.stage.cmp(&b.stage)));
    let Some(row) = newest else {
        return "0".into();
    };
    let text = text_of(row.version);
    let whole = source.get(row.version).is_none_or(|m| {
        m.stages.iter().all(|s| {
            history.iter().any(|r| {
                r.version == row.version && r.stage == s.kind && r.state == RowState::Applied
            })
        })
    });
    if whole {
        text
    } else {
        format!("{text}:{}", row.stage)
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_targets_file_is_name_and_url_per_line() {
        let t = parse_targets(
            "# tenants\n\nacme sqlite://acme.db\n  globex   postgres://app:pw@db/globex?schema=globex  \n",
            "fleet.txt",
        )
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].name, "acme");
        assert_eq!(t[1].url, "postgres://app:pw@db/globex?schema=globex");
    }

    #[test]
    fn a_toml_targets_file_is_a_targets_table() {
        let t = parse_targets(
            "[targets]\nb = \"sqlite://b.db\"\na = \"mysql://root@h/a\"\n",
            "fleet.toml",
        )
        .unwrap();
        assert_eq!(
            t.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }

    #[test]
    fn bad_targets_files_name_the_line_and_hide_passwords() {
        let cases = [
            ("a sqlite://a.db\nb\n", "fleet.txt:2: expected `NAME URL`"),
            (
                "a sqlite://a.db extra\n",
                "fleet.txt:1: expected `NAME URL`",
            ),
            (
                "a sqlite://a.db\na sqlite://b.db\n",
                "fleet.txt:2: target `a` is listed twice",
            ),
            ("a redis://x\n", "fleet.txt:1: target `a`"),
            ("a/b sqlite://a.db\n", "fleet.txt:1: target name `a/b`"),
            ("# nothing\n", "fleet.txt: no targets"),
            ("[targets]\na = 1\n", "its value must be the URL"),
        ];
        for (text, expected) in cases {
            let e = parse_targets(text, "fleet.txt").unwrap_err();
            assert!(e.is_input(), "{text}: {e}");
            assert!(e.to_string().contains(expected), "{text}: {e}");
        }
        let e = parse_targets("a postgres://u:s3cret@h/db more\n", "f").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}
