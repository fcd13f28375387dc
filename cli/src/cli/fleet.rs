//! `--targets FILE`: `up`, `expand`, `contract`, `down`, `status`, `check`
//! (drift), `checkpoint create` and `drill` over a fleet of databases,
//! through `migrate::fleet`.
//!
//! Every target's plan is made and vetted first; with any target blocked
//! nothing runs (exit 1). A revert asks once for the whole fleet (or takes
//! `--yes`). Progress goes to stderr on a terminal; the report, grouped by
//! outcome and state, to stdout (one JSON document with `--format json`).

use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::anyhow;

use migrate::driver::ConnectOptions;
use migrate::fleet::{self, FleetCommand, FleetOptions, FleetProgress, FleetReport, Outcome};
use migrate::plan::StageFilter;
use migrate::runner::{DownRequest, DownSpec, RunOptions, Target, UpRequest};

use super::args::{CheckpointCommand, Command, GlobalArgs};
use super::output::Format;
use super::output::style::{BAD, BOLD, DIM, OK, WARN};
use super::{CliResult, Failure, Out, Settings};

/// Runs `command` over the targets `--targets` names.
pub fn run(settings: &Settings, global: &GlobalArgs, command: Command, out: &mut Out) -> CliResult {
    let path = global.targets.as_deref().expect("called with --targets");
    if matches!(settings.format, Format::Github | Format::Sarif) {
        return Err(Failure::input(anyhow!(
            "with --targets, `check` reports drift per target: use --format human or json (the lint's annotations come from `migrate check` without --targets)"
        )));
    }
    let (command, yes, dry_run, lock_wait) = match fleet_command(command)? {
        Job::Run {
            command,
            yes,
            dry_run,
            lock_wait,
        } => (command, yes, dry_run, lock_wait),
        Job::Drill { scratch } => return drill(settings, global, path, &scratch, out),
    };
    let targets = read_targets(path)?;
    let source = migrate::source::load(&settings.source)?;
    let stop = Arc::new(AtomicBool::new(false));
    let options = options(settings, global, lock_wait, &stop);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::failed)?;
    let show = !settings.quiet && std::io::stderr().is_terminal();
    let result = rt.block_on(async {
        on_ctrl_c(&stop);
        let mut line = ProgressLine::new(show);
        let report = fleet::plan(&source, &targets, &command, &options, &mut |p| line.on(p)).await;
        line.clear();
        if report.blocked()
            || dry_run
            || matches!(command, FleetCommand::Status | FleetCommand::Drift)
        {
            return Ok(report);
        }
        if let FleetCommand::Down(_) = command
            && !yes
        {
            confirm(&report)?;
        }
        let mut line = ProgressLine::new(show);
        let report = fleet::execute(&source, &targets, &command, report, &options, &mut |p| {
            line.on(p)
        })
        .await;
        line.clear();
        Ok::<_, Failure>(report)
    });
    rt.shutdown_background();
    let report = result?;
    print(settings, out, &report, dry_run)?;
    if report.command == "check" && report.failed() {
        let drifted = count(&report, Outcome::Drifted);
        return Err(Failure::failed(anyhow!(
            "{drifted} of {} target(s) drifted from the migration files{}: `migrate status` on one shows the detail",
            report.targets.len(),
            match count(&report, Outcome::Failed) {
                0 => String::new(),
                n => format!(", {n} could not be read"),
            }
        ))
        .silent_if(!out.human()));
    }
    if report.blocked() {
        let n = count(&report, Outcome::Blocked);
        return Err(Failure::failed(anyhow!(
            "{n} of {} target(s) cannot run their plan: nothing was changed on any target",
            report.targets.len()
        ))
        .silent_if(!out.human()));
    }
    if report.failed() {
        let failed = report
            .targets
            .iter()
            .filter(|t| t.outcome.is_failure())
            .count();
        return Err(Failure::failed(anyhow!(
            "{failed} of {} target(s) failed or were not reached: run the same command again once the cause is fixed (every target's history says what is done)",
            report.targets.len()
        ))
        .silent_if(!out.human()));
    }
    Ok(())
}

/// Reads `--targets FILE` (`-`: standard input).
fn read_targets(path: &std::path::Path) -> Result<Vec<fleet::FleetTarget>, Failure> {
    let (text, origin) = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        (text, "standard input".to_string())
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::input(anyhow!(
                "cannot read the targets file {}: {e}",
                path.display()
            ))
        })?;
        (text, path.display().to_string())
    };
    Ok(fleet::parse_targets(&text, &origin)?)
}

fn options(
    settings: &Settings,
    global: &GlobalArgs,
    lock_wait: Option<std::time::Duration>,
    stop: &Arc<AtomicBool>,
) -> FleetOptions {
    FleetOptions {
        parallel: global.parallel.map_or(4, |n| n as usize),
        canary: global.canary.unwrap_or(0),
        max_failures: global.max_failures.unwrap_or(0),
        connect: ConnectOptions {
            table_prefix: settings.table_prefix.clone(),
            lock_timeout: settings.lock_timeout,
            connect_timeout: settings.connect_timeout,
            init_sql: settings.init_sql.clone(),
            must_exist: false,
        },
        run: RunOptions {
            lock_wait: lock_wait.unwrap_or(settings.lock_wait),
            lock_retries: settings.lock_retries,
            check_severities: settings.check_severities.clone(),
        },
        stop: Arc::clone(stop),
    }
}

/// Ctrl-C: no further target is launched; those running finish or roll
/// back, and the report says who was not reached. A second Ctrl-C ends
/// the process at once. Call inside the runtime.
fn on_ctrl_c(stop: &Arc<AtomicBool>) {
    let interrupted = Arc::clone(stop);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupted.store(true, Ordering::Relaxed);
            eprintln!(
                "\ninterrupted: finishing the targets in progress, starting no other (Ctrl-C again to quit now)"
            );
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
}

/// What a command becomes over the fleet.
enum Job {
    /// Planned for every target, then run (unless read only).
    Run {
        command: FleetCommand,
        yes: bool,
        dry_run: bool,
        lock_wait: Option<std::time::Duration>,
    },
    /// `drill`: once per group of targets at the same place.
    Drill { scratch: Vec<String> },
}

/// The fleet job for a command, with `--yes`, `--dry-run` and
/// `--lock-wait`; commands that work on one database only are refused.
fn fleet_command(command: Command) -> Result<Job, Failure> {
    let up = |args: super::args::UpArgs, stages| {
        if args.verify.is_some() {
            return Err(Failure::input(anyhow!(
                "--verify runs one command after one database's run: with --targets, verify each target in your deploy pipeline after the fleet run"
            )));
        }
        if let Some(name) = &args.checkpoint {
            migrate::checkpoint::validate_name(name).map_err(|e| Failure::input(anyhow!(e)))?;
        }
        let req = UpRequest {
            to: args.to.as_deref().map(Target::parse).transpose()?,
            stages,
            checkpoint: args.checkpoint.clone(),
            no_check: args
                .no_check
                .then(|| args.reason.clone().unwrap_or_default()),
            verify: None,
        };
        Ok(Job::Run {
            command: FleetCommand::Up(req),
            yes: true,
            dry_run: args.dry_run,
            lock_wait: args.lock_wait,
        })
    };
    match command {
        Command::Up(args) => up(args, StageFilter::All),
        Command::Expand(args) => up(args, StageFilter::Expand),
        Command::Contract(args) => up(args, StageFilter::Contract),
        Command::Down(args) => {
            if args.expect_plan.is_some() {
                return Err(Failure::input(anyhow!(
                    "--expect-plan names one database's plan: with --targets, every target runs exactly the plan vetted for it after the whole fleet was planned"
                )));
            }
            let target = match (&args.to, args.steps) {
                (Some(t), None) => DownSpec::To(Target::parse(t)?),
                (None, Some(n)) => DownSpec::Steps(n as usize),
                _ => DownSpec::Steps(1),
            };
            let req = DownRequest {
                target,
                force: args.force.then(|| args.reason.clone().unwrap_or_default()),
                confirmed: None,
            };
            Ok(Job::Run {
                command: FleetCommand::Down(req),
                yes: args.yes,
                dry_run: args.dry_run,
                lock_wait: args.lock_wait,
            })
        }
        Command::Status(args) => {
            if args.exit_code {
                return Err(Failure::input(anyhow!(
                    "--exit-code is for one database: with --targets, status exits 1 when a target cannot be read or holds a failed stage"
                )));
            }
            Ok(read_only(FleetCommand::Status))
        }
        Command::Check(args) => {
            if args.list_rules || args.dialect.is_some() || args.deny_warnings {
                return Err(Failure::input(anyhow!(
                    "with --targets, `check` compares each target's history with the files (drift) and lints nothing: run `migrate check` without --targets for the lint and its options"
                )));
            }
            Ok(read_only(FleetCommand::Drift))
        }
        Command::Checkpoint(CheckpointCommand::Create {
            name,
            note,
            replace,
        }) => {
            migrate::checkpoint::validate_name(&name).map_err(|e| Failure::input(anyhow!(e)))?;
            Ok(Job::Run {
                command: FleetCommand::Checkpoint {
                    name,
                    note,
                    replace,
                },
                yes: true,
                dry_run: false,
                lock_wait: None,
            })
        }
        Command::Drill { from, scratch_url } => {
            if from.is_some() {
                return Err(Failure::input(anyhow!(
                    "with --targets, each group of targets is drilled from its own first pending migration: leave --from out"
                )));
            }
            Ok(Job::Drill {
                scratch: scratch_url,
            })
        }
        _ => Err(Failure::input(anyhow!(
            "--targets takes up, expand, contract, down, status, check, checkpoint create and drill: this command works on one database (--database-url)"
        ))),
    }
}

fn read_only(command: FleetCommand) -> Job {
    Job::Run {
        command,
        yes: true,
        dry_run: false,
        lock_wait: None,
    }
}

/// `drill` over the fleet: every target read, each group drilled once.
fn drill(
    settings: &Settings,
    global: &GlobalArgs,
    path: &std::path::Path,
    scratch: &[String],
    out: &mut Out,
) -> CliResult {
    let targets = read_targets(path)?;
    let source = migrate::source::load(&settings.source)?;
    let stop = Arc::new(AtomicBool::new(false));
    let options = options(settings, global, None, &stop);
    let drill_options = migrate::drill::DrillOptions {
        table_prefix: Some(settings.table_prefix.clone()),
        init_sql: settings.init_sql.clone(),
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::failed)?;
    let show = !settings.quiet && std::io::stderr().is_terminal();
    let result = rt.block_on(async {
        on_ctrl_c(&stop);
        // Both callbacks draw on one line; the drills start after the reads.
        let line = std::sync::Mutex::new(ProgressLine::new(show));
        let mut err = anstream::stderr();
        let mut on = |d: &fleet::FleetDrill| {
            line.lock().expect("progress line").clear();
            if show {
                let _ = writeln!(
                    err,
                    "drilled {} ({} target(s)) from {}: {}",
                    d.backend,
                    d.targets.len(),
                    d.from,
                    drill_verdict(d)
                );
            }
        };
        fleet::drill(
            &source,
            &targets,
            scratch,
            &drill_options,
            &options,
            &mut |p| line.lock().expect("progress line").on(p),
            &mut on,
        )
        .await
    });
    rt.shutdown_background();
    let (report, drills) = result?;
    let failed = drills.iter().filter(|d| d.failed()).count();
    let unread = report
        .targets
        .iter()
        .filter(|t| t.outcome.is_failure())
        .count();
    if !out.human() {
        out.json(&serde_json::json!({
            "command": "drill",
            "targets": report.targets,
            "drills": drills,
            "exit_code": i32::from(failed + unread > 0),
        }))?;
    } else {
        print_drills(settings, out, &report, &drills)?;
    }
    if failed + unread > 0 {
        return Err(Failure::failed(anyhow!(
            "{failed} of {} drill(s) failed or could not run, {unread} target(s) could not be read",
            drills.len()
        ))
        .silent_if(!out.human()));
    }
    Ok(())
}

fn drill_verdict(d: &fleet::FleetDrill) -> String {
    match (&d.report, &d.error) {
        (_, Some(e)) if e.starts_with("no scratch server") => {
            format!("not drilled: {e} with --scratch-url URL")
        }
        (_, Some(e)) => format!("not drilled: {e}"),
        (Some(r), None) => match r.failures() {
            0 => format!("{} stage(s) survive up, down, up", r.stages.len()),
            n => format!("{n} of {} stage(s) fail", r.stages.len()),
        },
        (None, None) => "not drilled".into(),
    }
}

fn print_drills(
    settings: &Settings,
    out: &mut Out,
    report: &FleetReport,
    drills: &[fleet::FleetDrill],
) -> CliResult {
    let up_to_date = report
        .targets
        .iter()
        .filter(|t| t.outcome == Outcome::Read && t.next.is_none())
        .count();
    if up_to_date > 0 {
        writeln!(
            out,
            "{up_to_date} target(s): nothing pending, nothing to drill"
        )?;
    }
    for d in drills {
        let style = if d.failed() { BAD } else { OK };
        let names = if d.targets.len() > 3 {
            format!(
                "{}, ... ({} in all)",
                d.targets[..3].join(", "),
                d.targets.len()
            )
        } else {
            d.targets.join(", ")
        };
        writeln!(
            out,
            "{BOLD}{} from {}{BOLD:#} {DIM}({names}){DIM:#}: {style}{}{style:#}",
            d.backend,
            d.from,
            drill_verdict(d)
        )?;
        if let Some(r) = &d.report {
            for s in r.stages.iter().filter(|s| s.verdict.failed()) {
                writeln!(
                    out,
                    "  {BAD}{}{BAD:#} {} ({})",
                    s.verdict.name(),
                    s.migration,
                    s.stage
                )?;
                for line in &s.details {
                    writeln!(out, "      {}", settings.redact(line))?;
                }
            }
        }
    }
    for t in report.targets.iter().filter(|t| t.outcome.is_failure()) {
        writeln!(out, "{BAD}{}{BAD:#} {DIM}{}{DIM:#}", t.name, t.url)?;
        if let Some(e) = &t.error {
            writeln!(out, "  {}", settings.redact(e))?;
        }
    }
    Ok(())
}

/// Asks once for the whole fleet's revert, on a terminal; without one,
/// only `--yes` proceeds.
fn confirm(report: &FleetReport) -> Result<(), Failure> {
    let working = report
        .targets
        .iter()
        .filter(|t| {
            report
                .plans
                .iter()
                .any(|p| Some(&p.fingerprint) == t.plan.as_ref() && !p.steps.is_empty())
        })
        .count();
    if working == 0 {
        return Ok(());
    }
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !terminal {
        return Err(Failure::failed(anyhow!(
            "refusing to revert {working} target(s) without confirmation: there is no terminal to ask on. Check the plans with --dry-run, then pass --yes. Nothing was changed"
        )));
    }
    let mut err = anstream::stderr();
    writeln!(err, "{BOLD}this reverts {working} target(s):{BOLD:#}")?;
    for p in report.plans.iter().filter(|p| !p.steps.is_empty()) {
        writeln!(err, "  {} target(s), newest first:", p.targets)?;
        for s in &p.steps {
            writeln!(err, "    - {s}")?;
        }
    }
    write!(err, "revert? [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(Failure::failed(anyhow!(
            "not confirmed; nothing was changed"
        )))
    }
}

fn count(report: &FleetReport, outcome: Outcome) -> usize {
    report
        .targets
        .iter()
        .filter(|t| t.outcome == outcome)
        .count()
}

fn print(settings: &Settings, out: &mut Out, report: &FleetReport, dry_run: bool) -> CliResult {
    if !out.human() {
        let mut doc = serde_json::to_value(report).map_err(Failure::failed)?;
        doc["dry_run"] = serde_json::json!(dry_run);
        doc["exit_code"] = serde_json::json!(if report.failed() { 1 } else { 0 });
        out.json(&doc)?;
        return Ok(());
    }
    if settings.quiet && !report.failed() {
        return Ok(());
    }
    let planning = dry_run || report.blocked();
    if planning && report.command != "status" {
        for p in &report.plans {
            if p.steps.is_empty() {
                writeln!(out, "{} target(s): nothing to do", p.targets)?;
                continue;
            }
            writeln!(
                out,
                "{BOLD}{} target(s){BOLD:#} {DIM}(plan {}){DIM:#}:",
                p.targets, p.fingerprint
            )?;
            for (s, actions) in p.steps.iter().zip(&p.actions) {
                writeln!(out, "  - {s}")?;
                for a in actions {
                    writeln!(out, "      {DIM}{a}{DIM:#}")?;
                }
            }
        }
    }
    for (outcome, state, n) in report.groups() {
        let style = match outcome {
            Outcome::Done | Outcome::UpToDate | Outcome::Read | Outcome::Planned => OK,
            Outcome::NotReached => WARN,
            _ => BAD,
        };
        writeln!(
            out,
            "{style}{:<12}{style:#} {n:>6}  {state}",
            outcome.name()
        )?;
    }
    // Troubled targets, those with the same messages together: a fleet
    // of a thousand that fails the same way is one entry, not a thousand.
    let mut troubled: Vec<(Vec<String>, Vec<&fleet::TargetReport>)> = Vec::new();
    for t in report.targets.iter().filter(|t| {
        matches!(
            t.outcome,
            Outcome::Blocked | Outcome::Failed | Outcome::Drifted
        )
    }) {
        let mut lines: Vec<String> = Vec::new();
        if t.blockers.is_empty()
            && let Some(e) = &t.error
        {
            lines.push(format!("  {}", settings.redact(e)));
        }
        lines.extend(
            t.blockers
                .iter()
                .map(|b| format!("  - {}", settings.redact(&b.message))),
        );
        lines.extend(t.drift.iter().map(|d| format!("  - {d}")));
        match troubled.iter_mut().find(|(l, _)| *l == lines) {
            Some((_, ts)) => ts.push(t),
            None => troubled.push((lines, vec![t])),
        }
    }
    for (lines, ts) in &troubled {
        if let [t] = ts.as_slice() {
            writeln!(out, "{BAD}{}{BAD:#} {DIM}{}{DIM:#}", t.name, t.url)?;
        } else {
            const SHOWN: usize = 10;
            let names: Vec<&str> = ts.iter().take(SHOWN).map(|t| t.name.as_str()).collect();
            let more = if ts.len() > SHOWN {
                format!(
                    " and {} more (--format json lists every one)",
                    ts.len() - SHOWN
                )
            } else {
                String::new()
            };
            writeln!(
                out,
                "{BAD}{}{BAD:#}{more} {DIM}({} targets){DIM:#}",
                names.join(", "),
                ts.len()
            )?;
        }
        for line in lines {
            writeln!(out, "{line}")?;
        }
    }
    if let Some(why) = &report.stopped {
        writeln!(out, "{WARN}{why}{WARN:#}")?;
    }
    if !settings.quiet {
        writeln!(
            out,
            "{DIM}{} target(s) in {:.1} s{DIM:#}",
            report.targets.len(),
            report.ms as f64 / 1000.0
        )?;
    }
    Ok(())
}

/// One line on stderr, rewritten as targets finish (a terminal only).
struct ProgressLine {
    show: bool,
    started: Instant,
    drawn: bool,
}

impl ProgressLine {
    fn new(show: bool) -> ProgressLine {
        ProgressLine {
            show,
            started: Instant::now(),
            drawn: false,
        }
    }

    fn on(&mut self, p: FleetProgress<'_>) {
        if !self.show {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let left = p.total.saturating_sub(p.done);
        let eta = if p.done > 0 {
            format!(
                ", about {:.0} s left",
                elapsed / p.done as f64 * left as f64
            )
        } else {
            String::new()
        };
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[2K{}: {}/{} done, {} failed, {left} to go{eta}",
            p.phase,
            p.done,
            p.total,
            p.failed
        );
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            self.drawn = false;
        }
    }
}

trait SilentIf {
    fn silent_if(self, silent: bool) -> Self;
}

impl SilentIf for Failure {
    /// With `--format json` the report already said it all.
    fn silent_if(self, silent: bool) -> Failure {
        if silent { self.silent() } else { self }
    }
}
