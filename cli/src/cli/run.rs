//! `migrate up`, `down`, `status`, `resolve` and `log`: the commands that
//! talk to the database.

use std::io::Write;
use std::time::Duration;

use anyhow::anyhow;
use serde::Serialize;

use migrate::driver::ConnectOptions;
use migrate::plan::StageFilter;
use migrate::runner::{
    DownRequest, DownSpec, PlannedRun, Progress, Resolution, RunOptions, RunReport, StageState,
    Target, UpRequest,
};
use migrate::source::{self, Direction, StageKind};
use migrate::{Error, Runner};

use super::args::{CheckpointCommand, DownArgs, ResolveArgs, ResolveAs, UpArgs};
use super::output::style::{BAD, BOLD, DIM, OK, WARN};
use super::{CliResult, Failure, Out, Settings};

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        if e.is_input() {
            Failure::input(e)
        } else {
            Failure::failed(e)
        }
    }
}

async fn runner(settings: &Settings, lock_wait: Option<Duration>) -> Result<Runner, Failure> {
    connect_runner(settings, lock_wait, false, false).await
}

/// A runner for a command that only reads (`status`, `log`, `archive
/// list`): a SQLite file that does not exist is an error, not created.
async fn reader(settings: &Settings) -> Result<Runner, Failure> {
    connect_runner(settings, None, true, false).await
}

/// A runner; with `summary`, the history summary `up` starts from is read
/// while the files load.
async fn connect_runner(
    settings: &Settings,
    lock_wait: Option<Duration>,
    must_exist: bool,
    summary: bool,
) -> Result<Runner, Failure> {
    let url = settings.require_database_url()?;
    let connect = ConnectOptions {
        table_prefix: settings.table_prefix.clone(),
        lock_timeout: settings.lock_timeout,
        connect_timeout: settings.connect_timeout,
        init_sql: settings.init_sql.clone(),
        must_exist,
    };
    let options = RunOptions {
        lock_wait: lock_wait.unwrap_or(settings.lock_wait),
        lock_retries: settings.lock_retries,
        check_severities: settings.check_severities.clone(),
    };
    Ok(Runner::connect_loading(url, &settings.source, &connect, options, summary).await?)
}

/// Runs a command's work on a runtime of its own; at the end, the runtime's
/// idle threads are left to the process's end rather than joined.
fn block_on<T>(work: impl std::future::Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::failed)?;
    let out = rt.block_on(work);
    rt.shutdown_background();
    out
}

pub fn up(settings: &Settings, args: &UpArgs, stages: StageFilter, out: &mut Out) -> CliResult {
    let req = UpRequest {
        to: args.to.as_deref().map(Target::parse).transpose()?,
        stages,
        checkpoint: args.checkpoint.clone(),
        no_check: args
            .no_check
            .then(|| args.reason.clone().unwrap_or_default()),
        verify: args.verify.clone(),
    };
    if let Some(name) = &req.checkpoint {
        migrate::checkpoint::validate_name(name).map_err(|e| Failure::input(anyhow!(e)))?;
    }
    block_on(async {
        let mut runner = connect_runner(settings, args.lock_wait, false, !args.dry_run).await?;
        let result = if args.dry_run {
            match runner.plan_up(&req).await {
                Ok(plan) => print_plan(out, &plan, settings.quiet),
                Err(e) => Err(e.into()),
            }
        } else {
            let quiet = settings.quiet || !out.human();
            let result = {
                let mut progress = ProgressPrinter::new(quiet);
                runner.up(&req, &mut |p| progress.on(p)).await
            };
            finish(out, result, settings.quiet, "already up to date")
        };
        runner.close_for_exit().await;
        result
    })
}

/// `migrate database create` / `drop`.
pub fn database(
    settings: &Settings,
    cmd: &super::args::DatabaseCommand,
    out: &mut Out,
) -> CliResult {
    use migrate::driver::database::{create_database, drop_database, has_history};
    let url = settings.require_database_url()?;
    let connect = ConnectOptions {
        table_prefix: settings.table_prefix.clone(),
        lock_timeout: settings.lock_timeout,
        connect_timeout: settings.connect_timeout,
        ..ConnectOptions::default()
    };
    let shown = settings.redact(url);
    block_on(async {
        match cmd {
            super::args::DatabaseCommand::Create => {
                let made = create_database(url, &connect).await?;
                if out.human() {
                    let verb = if made { "created" } else { "exists already:" };
                    writeln!(out, "{verb} {shown}")?;
                } else {
                    out.json(&serde_json::json!({ "database": shown, "created": made }))?;
                }
            }
            super::args::DatabaseCommand::Drop { yes, force } => {
                if !migrate::driver::database::database_exists(url, &connect).await? {
                    writeln!(out, "{shown} does not exist: nothing to drop")?;
                    return Ok(());
                }
                if !force && has_history(url, &connect).await? {
                    return Err(Failure::failed(anyhow!(
                        "{shown} holds a migrate history (it has been migrated): dropping it loses every table and row. Pass --force if that is what you want"
                    )));
                }
                if !yes {
                    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdin())
                        && std::io::IsTerminal::is_terminal(&std::io::stderr());
                    if !terminal {
                        return Err(Failure::failed(anyhow!(
                            "refusing to drop {shown} without confirmation: there is no terminal to ask on. Pass --yes. Nothing was changed"
                        )));
                    }
                    let mut err = anstream::stderr();
                    write!(err, "drop {shown} and everything in it? [y/N] ")?;
                    err.flush()?;
                    let mut answer = String::new();
                    std::io::stdin().read_line(&mut answer)?;
                    if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
                        return Err(Failure::failed(anyhow!(
                            "not confirmed; nothing was changed"
                        )));
                    }
                }
                drop_database(url, &connect).await?;
                if out.human() {
                    writeln!(out, "dropped {shown}")?;
                } else {
                    out.json(&serde_json::json!({ "database": shown, "dropped": true }))?;
                }
            }
        }
        Ok(())
    })
}

/// `migrate redo`: `down` of the last applied stage, then `up` of that
/// stage alone, each with its own guards.
pub fn redo(settings: &Settings, args: &DownArgs, out: &mut Out) -> CliResult {
    if args.to.is_some() || args.steps.is_some() {
        return Err(Failure::input(anyhow!(
            "redo takes back and re-applies the last applied stage only: use `migrate down --to` / `--steps` and `migrate up`"
        )));
    }
    let req = DownRequest {
        target: DownSpec::Steps(1),
        force: args.force.then(|| args.reason.clone().unwrap_or_default()),
        confirmed: args.expect_plan.clone(),
    };
    block_on(async {
        let mut runner = runner(settings, args.lock_wait).await?;
        let result: CliResult = async {
            let plan = runner.plan_down(&req).await?;
            let Some(step) = plan.steps.first() else {
                writeln!(out, "nothing to redo: no stage is applied")?;
                return Ok(());
            };
            let again = UpRequest {
                to: Some(Target::Version(step.version)),
                stages: match step.stage {
                    StageKind::Contract => StageFilter::Contract,
                    StageKind::Expand => StageFilter::Expand,
                    StageKind::Main => StageFilter::All,
                },
                ..UpRequest::default()
            };
            if args.dry_run {
                print_plan(out, &plan, settings.quiet)?;
                if out.human() {
                    writeln!(out, "then {} is applied again from its file", step.label())?;
                }
                return Ok(());
            }
            let Some(confirmed) =
                confirm(&mut runner, &req, args.yes, settings.quiet || !out.human()).await?
            else {
                return Ok(());
            };
            let req = DownRequest {
                confirmed: Some(confirmed),
                ..req
            };
            let quiet = settings.quiet || !out.human();
            let reverted = {
                let mut progress = ProgressPrinter::new(quiet);
                runner.down(&req, &mut |p| progress.on(p)).await
            };
            if !out.human() {
                // One document: what was reverted and what was applied.
                let reverted = reverted?;
                let applied = runner.up(&again, &mut |_| {}).await?;
                out.json(&serde_json::json!({ "reverted": reverted, "applied": applied }))?;
                return Ok(());
            }
            let reverted = reverted.map(|mut r| {
                r.notes.clear();
                r
            });
            finish(out, reverted, settings.quiet, "nothing to revert")?;
            let applied = {
                let mut progress = ProgressPrinter::new(quiet);
                runner.up(&again, &mut |p| progress.on(p)).await
            };
            finish(out, applied, settings.quiet, "nothing to apply")
        }
        .await;
        runner.close_for_exit().await;
        result
    })
}

pub fn down(settings: &Settings, args: &DownArgs, out: &mut Out) -> CliResult {
    let target = match (&args.to, args.steps) {
        (Some(t), None) => DownSpec::To(Target::parse(t)?),
        (None, Some(n)) => DownSpec::Steps(n as usize),
        _ => DownSpec::Steps(1),
    };
    let req = DownRequest {
        target,
        force: args.force.then(|| args.reason.clone().unwrap_or_default()),
        confirmed: args.expect_plan.clone(),
    };
    block_on(async {
        let mut runner = runner(settings, args.lock_wait).await?;
        let result = if args.dry_run {
            match runner.plan_down(&req).await {
                Ok(plan) => print_plan(out, &plan, settings.quiet),
                Err(e) => Err(e.into()),
            }
        } else {
            match confirm(&mut runner, &req, args.yes, settings.quiet || !out.human()).await {
                Ok(Some(confirmed)) => {
                    // Run exactly the plan that was shown and confirmed.
                    let req = DownRequest {
                        confirmed: Some(confirmed),
                        ..req
                    };
                    let quiet = settings.quiet || !out.human();
                    let result = {
                        let mut progress = ProgressPrinter::new(quiet);
                        runner.down(&req, &mut |p| progress.on(p)).await
                    };
                    // The notes were shown with the plan, before the revert.
                    let result = result.map(|mut r| {
                        if out.human() {
                            r.notes.clear();
                        }
                        r
                    });
                    finish(out, result, settings.quiet, "nothing to revert")
                }
                Ok(None) => finish(
                    out,
                    Ok(RunReport::default()),
                    settings.quiet,
                    "nothing to revert",
                ),
                Err(e) => Err(e),
            }
        };
        runner.close_for_exit().await;
        result
    })
}

/// Shows what `down` will revert and asks, on a terminal; without one,
/// only `--yes` proceeds. The confirmed plan's fingerprint, or `Ok(None)`
/// when there is nothing to revert.
async fn confirm(
    runner: &mut Runner,
    req: &DownRequest,
    yes: bool,
    quiet: bool,
) -> Result<Option<String>, Failure> {
    let plan = runner.plan_down(req).await?;
    if let Some(expected) = &req.confirmed
        && plan.fingerprint != *expected
    {
        return Err(Failure::failed(anyhow!(
            "the revert plan is no longer the one reviewed (fingerprint {expected}, now {}): nothing was changed. Review it again with --dry-run",
            plan.fingerprint
        )));
    }
    if plan.steps.is_empty() {
        return Ok(None);
    }
    // Before anything runs: which stored downs differ from the files, which
    // stages are not in this checkout, what the baseline accepts.
    if !quiet {
        for note in &plan.notes {
            writeln!(anstream::stderr(), "{WARN}note{WARN:#}: {note}")?;
        }
    }
    if yes {
        return Ok(Some(plan.fingerprint));
    }
    let n = plan.steps.len();
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdin())
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    if !terminal {
        return Err(Failure::failed(anyhow!(
            "refusing to revert {n} stage(s) without confirmation: there is no terminal to ask on. Check the plan with --dry-run, then pass --yes. Nothing was changed"
        )));
    }
    let mut err = anstream::stderr();
    writeln!(
        err,
        "{BOLD}this reverts {n} stage(s), newest first:{BOLD:#}"
    )?;
    for (step, actions) in plan.steps.iter().zip(&plan.actions) {
        writeln!(err, "  - {}", step.label())?;
        for a in actions {
            writeln!(err, "      {DIM}{a}{DIM:#}")?;
        }
    }
    write!(err, "revert? [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(Some(plan.fingerprint))
    } else {
        Err(Failure::failed(anyhow!(
            "not confirmed; nothing was changed"
        )))
    }
}

pub fn checkpoint(settings: &Settings, cmd: &CheckpointCommand, out: &mut Out) -> CliResult {
    block_on(async {
        let mut runner = runner(settings, None).await?;
        let result: CliResult = async {
            match cmd {
                CheckpointCommand::Create { name, note, replace } => {
                    let c = runner.create_checkpoint(name, note.clone(), *replace).await?;
                    if out.human() {
                        writeln!(out, "checkpoint {BOLD}{}{BOLD:#} records {} applied stage(s)", c.name, c.state.len())?;
                    } else {
                        out.json(&c)?;
                    }
                }
                CheckpointCommand::List { runs } => {
                    let all = runner.checkpoints(*runs).await?;
                    let declared = &runner_source_checkpoints(settings)?;
                    if out.human() {
                        for c in &all {
                            writeln!(
                                out,
                                "{BOLD}{}{BOLD:#}  {} stage(s)  {DIM}{} by {}{DIM:#}{}",
                                c.name,
                                c.state.len(),
                                c.created_at,
                                c.created_by,
                                c.note.as_deref().map(|n| format!("  {n}")).unwrap_or_default()
                            )?;
                        }
                        for (name, state) in declared {
                            writeln!(out, "{BOLD}{name}{BOLD:#}  {} stage(s)  {DIM}declared in checkpoints.toml{DIM:#}", state.len())?;
                        }
                        if all.is_empty() && declared.is_empty() {
                            writeln!(out, "no checkpoints: `migrate checkpoint create NAME` records one")?;
                        }
                    } else {
                        let declared: Vec<serde_json::Value> = declared
                            .iter()
                            .map(|(n, s)| serde_json::json!({ "name": n, "state": s, "declared": true }))
                            .collect();
                        out.json(&serde_json::json!({ "checkpoints": all, "declared": declared }))?;
                    }
                }
                CheckpointCommand::Delete { name } => {
                    runner.delete_checkpoint(name).await?;
                    if out.human() {
                        writeln!(out, "deleted checkpoint {name}")?;
                    }
                }
            }
            Ok(())
        }
        .await;
        runner.close_for_exit().await;
        result
    })
}

fn runner_source_checkpoints(
    settings: &Settings,
) -> Result<std::collections::BTreeMap<String, migrate::checkpoint::State>, Failure> {
    Ok(source::load(&settings.source)?.checkpoints)
}

/// Prints progress to stderr as stages run, so stdout stays a clean report.
/// On a terminal, a stage that runs for more than a second shows its
/// elapsed time, so a long statement never looks like a hang.
struct ProgressPrinter {
    quiet: bool,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for ProgressPrinter {
    fn drop(&mut self) {
        self.stop_ticker();
    }
}

impl ProgressPrinter {
    fn new(quiet: bool) -> ProgressPrinter {
        ProgressPrinter {
            quiet,
            ticker: None,
        }
    }

    fn stop_ticker(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
    }

    fn on(&mut self, p: Progress<'_>) {
        if self.quiet {
            return;
        }
        self.stop_ticker();
        let mut err = anstream::stderr();
        let _ = match p {
            Progress::Start(step) => {
                let verb = if step.direction == Direction::Up {
                    "applying"
                } else {
                    "reverting"
                };
                let line = format!(
                    "{verb} {BOLD}{}_{}{BOLD:#} ({}) ... ",
                    step.version_text, step.name, step.stage
                );
                if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    let started = std::time::Instant::now();
                    let prefix = line.clone();
                    self.ticker = Some(tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            let mut err = anstream::stderr();
                            let _ = write!(
                                err,
                                "\r{prefix}{DIM}{}s{DIM:#} ",
                                started.elapsed().as_secs()
                            );
                            let _ = err.flush();
                        }
                    }));
                }
                write!(err, "{line}").and_then(|_| err.flush())
            }
            Progress::Done(done) => {
                let _ = writeln!(
                    err,
                    "\x1b[0K{OK}ok{OK:#} {DIM}{} ms{DIM:#}",
                    done.duration_ms
                );
                done.archived
                    .iter()
                    .chain(&done.restored)
                    .try_for_each(|a| writeln!(err, "    {DIM}{a}{DIM:#}"))
            }
            Progress::Retry { attempt, delay, .. } => write!(
                err,
                "{WARN}lock timeout (attempt {attempt}), retrying in {}{WARN:#} ... ",
                humantime::format_duration(delay)
            ),
            // A kind of progress this build does not show.
            _ => Ok(()),
        };
    }
}

fn finish(
    out: &mut Out,
    result: Result<RunReport, Error>,
    quiet: bool,
    nothing: &str,
) -> CliResult {
    match result {
        Ok(report) => {
            if out.human() {
                if !quiet {
                    for note in &report.notes {
                        writeln!(anstream::stderr(), "{WARN}note{WARN:#}: {note}")?;
                    }
                    if report.steps.is_empty() {
                        writeln!(out, "{nothing}")?;
                    } else {
                        let total: u64 = report.steps.iter().map(|s| s.duration_ms).sum();
                        let verb = if report.steps[0].direction == Direction::Up {
                            "applied"
                        } else {
                            "reverted"
                        };
                        writeln!(
                            out,
                            "{verb} {} stage{} in {total} ms",
                            report.steps.len(),
                            if report.steps.len() == 1 { "" } else { "s" }
                        )?;
                    }
                    if let Some(command) = &report.verified {
                        writeln!(out, "verification passed: `{command}`")?;
                    }
                    if let Some(name) = &report.checkpoint {
                        writeln!(out, "checkpoint `{name}` names this state")?;
                    }
                }
            } else {
                out.json(&report)?;
            }
            Ok(())
        }
        Err(e) => {
            // The error's JSON document is written where every failure's is
            // (`cli::report`).
            if out.human() && matches!(e, Error::StageFailed(_)) && !quiet {
                // A newline ends the "applying ... " progress line.
                writeln!(anstream::stderr(), "{BAD}failed{BAD:#}")?;
            }
            Err(e.into())
        }
    }
}

#[derive(Serialize)]
struct PlanView<'a> {
    dry_run: bool,
    steps: Vec<PlanStep<'a>>,
    notes: &'a [String],
    /// For a revert: what `down --expect-plan` takes to run exactly this plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint: Option<&'a str>,
}

#[derive(Serialize)]
struct PlanStep<'a> {
    direction: Direction,
    version: i64,
    name: &'a str,
    stage: StageKind,
    source: String,
    no_transaction: bool,
    actions: &'a [String],
    sql: &'a str,
}

fn print_plan(out: &mut Out, plan: &PlannedRun, quiet: bool) -> CliResult {
    if !out.human() {
        out.json(&PlanView {
            dry_run: true,
            steps: plan
                .steps
                .iter()
                .zip(&plan.actions)
                .map(|(s, actions)| PlanStep {
                    direction: s.direction,
                    version: s.version,
                    name: &s.name,
                    stage: s.stage,
                    source: s.script.path.display().to_string(),
                    no_transaction: s.script.no_transaction(),
                    actions,
                    sql: &s.script.sql,
                })
                .collect(),
            notes: &plan.notes,
            fingerprint: reverts(plan).then_some(plan.fingerprint.as_str()),
        })?;
        return Ok(());
    }
    if quiet {
        return Ok(());
    }
    for note in &plan.notes {
        writeln!(out, "{WARN}note{WARN:#}: {note}")?;
    }
    if plan.steps.is_empty() {
        writeln!(out, "nothing to do")?;
        return Ok(());
    }
    writeln!(
        out,
        "{BOLD}plan{BOLD:#} ({} stage{}; dry run, nothing is changed):",
        plan.steps.len(),
        if plan.steps.len() == 1 { "" } else { "s" }
    )?;
    for (i, s) in plan.steps.iter().enumerate() {
        let verb = if s.direction == Direction::Up {
            "apply"
        } else {
            "revert"
        };
        let origin = if s.direction == Direction::Down {
            "stored down"
        } else {
            "file"
        };
        writeln!(
            out,
            "\n{}. {verb} {BOLD}{}{BOLD:#} {DIM}({origin}: {}){DIM:#}",
            i + 1,
            s.label(),
            s.script.path.display()
        )?;
        for line in s.script.sql.lines() {
            writeln!(out, "   {DIM}|{DIM:#} {line}")?;
        }
        for action in plan.actions.get(i).into_iter().flatten() {
            writeln!(out, "   {WARN}+{WARN:#} {action}")?;
        }
    }
    if reverts(plan) {
        writeln!(
            out,
            "\nplan fingerprint {}: `--expect-plan {}` runs exactly this plan, or nothing",
            plan.fingerprint, plan.fingerprint
        )?;
    }
    Ok(())
}

/// Whether a plan reverts (its fingerprint can then be confirmed).
fn reverts(plan: &PlannedRun) -> bool {
    plan.steps
        .first()
        .is_some_and(|s| s.direction == Direction::Down)
}

pub fn status(settings: &Settings, args: &super::args::StatusArgs, out: &mut Out) -> CliResult {
    block_on(async {
        let mut runner = reader(settings).await?;
        let status = runner.status().await;
        runner.close_for_exit().await;
        let status = status?;
        // For deploy gates: anything but "all applied, as on disk" fails.
        let gate = || -> CliResult {
            let open = status.pending + status.failed + status.running + status.drift;
            if args.exit_code && open > 0 {
                return Err(Failure::failed(anyhow!(
                    "not up to date: {} pending, {} failed, {} running, {} changed since applied",
                    status.pending,
                    status.failed,
                    status.running,
                    status.drift
                ))
                .silent());
            }
            Ok(())
        };
        if !out.human() {
            out.json(&status)?;
            return gate();
        }
        let width = status
            .migrations
            .iter()
            .map(|m| m.version_text.len() + m.name.len() + 1)
            .max()
            .unwrap_or(0);
        for m in &status.migrations {
            write!(out, "{:<width$}", format!("{}_{}", m.version_text, m.name))?;
            for s in &m.stages {
                let st = match s.state {
                    StageState::Applied => OK,
                    StageState::Failed => BAD,
                    _ => WARN,
                };
                if m.stages.len() > 1 || s.stage != StageKind::Main {
                    write!(out, "  {}: {st}{}{st:#}", s.stage, s.state)?;
                } else {
                    write!(out, "  {st}{}{st:#}", s.state)?;
                }
                if s.drift {
                    write!(out, " {BAD}(up file changed since applied){BAD:#}")?;
                }
                if s.down_changed {
                    write!(out, " {DIM}(down on disk differs from stored){DIM:#}")?;
                }
                if let Some(e) = &s.error {
                    // The state already says `failed`.
                    let e = e.strip_prefix("failed ").unwrap_or(e);
                    write!(out, " {BAD}{e}{BAD:#}")?;
                }
            }
            if m.unknown {
                write!(out, " {DIM}(not in the source directory){DIM:#}")?;
            }
            writeln!(out)?;
        }
        writeln!(
            out,
            "{DIM}{} applied, {} pending, {} failed{}{}{DIM:#}",
            status.applied,
            status.pending,
            status.failed,
            if status.running > 0 {
                format!(", {} running in another migrate run", status.running)
            } else {
                String::new()
            },
            if status.drift > 0 {
                format!(", {} changed since applied", status.drift)
            } else {
                String::new()
            }
        )?;
        if let Some(holder) = &status.in_progress {
            writeln!(
                out,
                "{WARN}a migrate run is at work now{WARN:#} ({holder}): the first pending stage may be in progress"
            )?;
        }
        gate()
    })
}

/// `VERSION` or `VERSION:STAGE`, as `resolve` and `repair` take them.
fn version_and_stage(target: &str) -> Result<(i64, Option<StageKind>), Failure> {
    let (version, stage) = match target.split_once(':') {
        Some((v, s)) => (
            v,
            Some(StageKind::parse(s).ok_or_else(|| {
                Failure::input(anyhow!("unknown stage `{s}`: use main, expand or contract"))
            })?),
        ),
        None => (target, None),
    };
    let version: i64 = version.parse().map_err(|_| {
        Failure::input(anyhow!(
            "`{}` is not VERSION or VERSION:STAGE, e.g. 20240101120000 or 7:contract",
            target
        ))
    })?;
    Ok((version, stage))
}

pub fn repair(settings: &Settings, args: &super::args::RepairArgs, out: &mut Out) -> CliResult {
    let (version, stage) = version_and_stage(&args.target)?;
    block_on(async {
        let mut runner = runner(settings, None).await?;
        let result = runner
            .repair(version, stage, &args.reason, args.dry_run)
            .await;
        runner.close_for_exit().await;
        let repair = result?;
        if !out.human() {
            out.json(&repair)?;
            return Ok(());
        }
        let verb = if repair.written {
            "replaced"
        } else {
            "would replace (dry run)"
        };
        writeln!(
            out,
            "{}: {verb} the stored down with {}",
            repair.stage, repair.path
        )?;
        if repair.stored == repair.file {
            writeln!(out, "{DIM}(they are the same text){DIM:#}")?;
        } else {
            writeln!(out, "{BAD}- stored{BAD:#}")?;
            for line in repair.stored.lines() {
                writeln!(out, "{BAD}- {line}{BAD:#}")?;
            }
            writeln!(out, "{OK}+ file{OK:#}")?;
            for line in repair.file.lines() {
                writeln!(out, "{OK}+ {line}{OK:#}")?;
            }
        }
        Ok(())
    })
}

pub fn resolve(settings: &Settings, args: &ResolveArgs, out: &mut Out) -> CliResult {
    let (version, stage) = version_and_stage(&args.target)?;
    let resolution = match args.r#as {
        ResolveAs::Applied => Resolution::Applied,
        ResolveAs::Reverted => Resolution::Reverted,
    };
    block_on(async {
        let mut runner = runner(settings, None).await?;
        let result = runner
            .resolve(version, stage, resolution, &args.reason, args.force)
            .await;
        runner.close_for_exit().await;
        let message = result?;
        if out.human() {
            writeln!(out, "{message}")?;
        } else {
            out.json(&serde_json::json!({ "resolved": message }))?;
        }
        Ok(())
    })
}

pub fn log(settings: &Settings, args: &super::args::LogArgs, out: &mut Out) -> CliResult {
    block_on(async {
        let mut runner = reader(settings).await?;
        let events = runner.events().await;
        runner.close_for_exit().await;
        let mut events = events?;
        if let Some(window) = args.since {
            // Event times are RFC 3339 UTC, so text order is time order.
            let from =
                humantime::format_rfc3339_millis(std::time::SystemTime::now() - window).to_string();
            events.retain(|e| e.at >= from);
        }
        if let Some(n) = args.limit {
            events.reverse();
            events.truncate(n);
        }
        if !out.human() {
            out.json(&serde_json::json!({ "events": events }))?;
            return Ok(());
        }
        for e in &events {
            let st = match e.outcome.as_str() {
                "ok" => OK,
                "failed" => BAD,
                _ => WARN,
            };
            write!(
                out,
                "{DIM}{}{DIM:#}  {:<8} {st}{:<7}{st:#}",
                e.at, e.action, e.outcome
            )?;
            if let (Some(v), Some(s)) = (e.version, &e.stage) {
                write!(out, " {v} ({s})")?;
            }
            if let Some(ms) = e.duration_ms {
                write!(out, " {DIM}{ms} ms{DIM:#}")?;
            }
            write!(out, " {DIM}by {} run {}{DIM:#}", e.actor, e.run_id)?;
            if let Some(d) = &e.detail {
                write!(out, "  {d}")?;
            }
            writeln!(out)?;
        }
        if events.is_empty() {
            if args.since.is_some() {
                writeln!(out, "no events in that time")?;
            } else {
                writeln!(out, "the event log is empty")?;
            }
        }
        Ok(())
    })
}

fn print_archives(
    out: &mut Out,
    archives: &[migrate::driver::ArchiveRecord],
    empty: &str,
) -> CliResult {
    if !out.human() {
        out.json(&serde_json::json!({ "archives": archives }))?;
        return Ok(());
    }
    if archives.is_empty() {
        writeln!(out, "{empty}")?;
    }
    for a in archives {
        let left = a.rows_left_behind();
        let (st, state) = match (&a.restored_at, a.restored_rows) {
            (Some(at), rows) if left > 0 => (
                WARN,
                format!(
                    "restored {} rows at {at}; {left} rows only here (their key existed again)",
                    rows.unwrap_or(0)
                ),
            ),
            (Some(at), rows) => (OK, format!("restored {} rows at {at}", rows.unwrap_or(0))),
            (None, _) => (WARN, "not restored".to_string()),
        };
        writeln!(
            out,
            "{BOLD}{}{BOLD:#}  {} ({} rows) from {} ({}, {})  {DIM}{}{DIM:#}  {st}{state}{st:#}",
            a.archive_table,
            a.label(),
            a.row_count,
            a.version,
            a.stage,
            a.direction,
            a.created_at
        )?;
    }
    Ok(())
}

pub fn archive_list(settings: &Settings, out: &mut Out) -> CliResult {
    block_on(async {
        let mut runner = reader(settings).await?;
        let archives = runner.archives().await;
        runner.close_for_exit().await;
        print_archives(out, &archives?, "no archives")
    })
}

pub fn archive_purge(
    settings: &Settings,
    older_than: Option<Duration>,
    restored_only: bool,
    out: &mut Out,
) -> CliResult {
    block_on(async {
        let mut runner = runner(settings, None).await?;
        let purged = runner.purge_archives(older_than, restored_only).await;
        runner.close_for_exit().await;
        let purged = purged?;
        if out.human() && !purged.is_empty() {
            writeln!(
                out,
                "dropped {} archive{}:",
                purged.len(),
                if purged.len() == 1 { "" } else { "s" }
            )?;
        }
        print_archives(out, &purged, "no archive matched: nothing dropped")
    })
}

pub fn drill(
    settings: &Settings,
    from: Option<i64>,
    scratch_url: Option<&str>,
    out: &mut Out,
) -> CliResult {
    let src = source::load(&settings.source)?;
    let options = migrate::drill::DrillOptions {
        from,
        table_prefix: Some(settings.table_prefix.clone()),
        scratch_chosen: scratch_url.is_some(),
        init_sql: settings.init_sql.clone(),
    };
    let human = out.human() && !settings.quiet;
    let report = block_on(async {
        let mut progress = |s: &migrate::drill::StageDrill, n: usize, total: usize| {
            if !human {
                return;
            }
            let st = if s.verdict.failed() {
                BAD
            } else if s.verdict == migrate::drill::Verdict::Ok {
                OK
            } else {
                WARN
            };
            let mut err = anstream::stderr();
            let _ = writeln!(
                err,
                "[{n}/{total}] {} ({}) {st}{}{st:#} {DIM}{} ms{DIM:#}",
                s.migration,
                s.stage,
                s.verdict.name(),
                s.duration_ms
            );
            for d in &s.details {
                let _ = writeln!(err, "      {d}");
            }
            for u in &s.unseeded {
                let _ = writeln!(err, "      {DIM}not seeded: {u}{DIM:#}");
            }
        };
        migrate::drill::drill(
            scratch_url.or(settings.database_url.as_deref()),
            &src,
            &options,
            &mut progress,
        )
        .await
        .map_err(Failure::from)
    })?;
    let failures = report.failures();
    if !out.human() {
        out.json(&report)?;
    } else if !settings.quiet {
        let width = report
            .stages
            .iter()
            .map(|s| s.migration.len() + s.stage.name().len() + 3)
            .max()
            .unwrap_or(0);
        writeln!(out, "{BOLD}drill on {}{BOLD:#}", report.scratch)?;
        for s in &report.stages {
            let st = if s.verdict.failed() {
                BAD
            } else if s.verdict == migrate::drill::Verdict::Ok {
                OK
            } else {
                WARN
            };
            writeln!(
                out,
                "  {:<width$}  {st}{}{st:#}",
                format!("{} ({})", s.migration, s.stage),
                s.verdict.name()
            )?;
        }
        let not_reached = report
            .stages
            .iter()
            .filter(|s| s.verdict == migrate::drill::Verdict::NotReached)
            .count();
        writeln!(
            out,
            "{} stage(s) drilled, {failures} failed{}",
            report.stages.len() - not_reached,
            if not_reached > 0 {
                format!(", {not_reached} not reached (the drill could not go past a failure)")
            } else {
                String::new()
            }
        )?;
    }
    if failures > 0 {
        return Err(Failure::failed(anyhow!("{failures} stage(s) failed the drill")).silent());
    }
    Ok(())
}

pub fn adopt(
    settings: &Settings,
    from: &str,
    dry_run: bool,
    reason: &str,
    out: &mut Out,
) -> CliResult {
    let tool = migrate::adopt::Tool::parse(from)
        .ok_or_else(|| Failure::input(anyhow!("unknown tool `{from}`")))?;
    let src = source::load(&settings.source)?;
    block_on(async {
        let mut runner = runner(settings, None).await?;
        let result = migrate::adopt::adopt(&mut runner, &src, tool, dry_run, reason).await;
        runner.close_for_exit().await;
        let adoption = result?;
        if out.human() {
            let verb = if adoption.recorded {
                "recorded"
            } else {
                "would record (dry run)"
            };
            writeln!(
                out,
                "{verb} {} migration(s) as applied, from {}: {:?}",
                adoption.versions.len(),
                tool.table(),
                adoption.versions
            )?;
            // A real history comes with findings in migrations already in
            // production: say how to accept them before `up` refuses.
            let report = migrate::check::check(
                &src,
                &migrate::check::CheckOptions {
                    dialect: super::check::dialect(settings, None),
                    severities: settings.check_severities.clone(),
                },
            );
            if report.errors() > 0 {
                writeln!(
                    out,
                    "`migrate check` finds {} error(s) in this history, and `up` and `down` refuse on them. Accept the findings of the migrations already in production as they are with\n  migrate baseline --reason \"adopted from {from}\"\nthen fix new ones as they come (docs/coming-from.md)",
                    report.errors()
                )?;
            }
        } else {
            out.json(&adoption)?;
        }
        Ok(())
    })
}
