//! The command line: arguments, settings, one module per subcommand, and
//! the mapping of errors to exit codes.
//!
//! Invariants: the only place that uses clap, anyhow or `process::exit`;
//! every message printed passes through [`Settings::redact`] so a database
//! password never reaches a terminal or a log.

mod args;
mod check;
mod config;
mod fleet;
mod list;
mod new;
mod output;
mod run;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

pub use args::{Cli, Command};
pub use config::Settings;
pub use output::{Format, Out};

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    /// 1 = failed or refused, 2 = bad usage or input.
    pub code: u8,
    /// What to print.
    pub error: anyhow::Error,
    /// The report already said it all: print nothing more.
    pub silent: bool,
}

impl Failure {
    /// Exit with the code but print nothing more (the report said it).
    pub fn silent(mut self) -> Failure {
        self.silent = true;
        self
    }

    /// Bad usage or input: exit 2.
    pub fn input(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: 2,
            error: error.into(),
            silent: false,
        }
    }

    /// Failed or refused: exit 1.
    pub fn failed(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: 1,
            error: error.into(),
            silent: false,
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::failed(e)
    }
}

impl From<migrate::source::LoadError> for Failure {
    fn from(e: migrate::source::LoadError) -> Failure {
        Failure::input(e)
    }
}

/// Result of a subcommand.
pub type CliResult = Result<(), Failure>;

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    // Before anything parses a URL: a panic message could quote a password
    // from the command line or the environment.
    let early: Vec<String> = std::env::args()
        .chain(std::env::var("DATABASE_URL"))
        .collect();
    let early = migrate::redact::secrets_in(early.iter().map(String::as_str));
    std::panic::set_hook(Box::new(move |info| {
        eprintln!(
            "error: migrate crashed (this is a bug): {}",
            migrate::redact::redact_secrets(&info.to_string(), &early)
        );
    }));
    // .env is read as sqlx-cli reads it: real environment variables win.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("warning: .env could not be read and was ignored: {e}");
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_tracing(cli.global.verbose);
    let settings = match Settings::resolve(&cli.global) {
        Ok(s) => s,
        Err(f) => return report(&Settings::default(), f),
    };
    // A panic message could quote a URL: redact it like every other message.
    let redactor = settings.clone();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!(
            "error: migrate crashed (this is a bug): {}",
            redactor.redact(&info.to_string())
        );
    }));
    match run(cli, &settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(&settings, f),
    }
}

/// The error and its context, `a: b: c` as anyhow's `{:#}` writes it, but
/// ending at migrate's own error: its message already says what the
/// driver's error behind it (its `source()`) said, in migrate's words.
fn message_of(error: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in error.chain() {
        parts.push(cause.to_string());
        if cause.downcast_ref::<migrate::Error>().is_some() {
            break;
        }
    }
    parts.join(": ")
}

fn report(settings: &Settings, failure: Failure) -> ExitCode {
    if let Some(io) = failure.error.downcast_ref::<io::Error>()
        && io.kind() == io::ErrorKind::BrokenPipe
    {
        return ExitCode::SUCCESS;
    }
    if failure.silent {
        return ExitCode::from(failure.code);
    }
    let message = settings.redact(&message_of(&failure.error));
    if settings.format == Format::Json {
        // `--format json` prints one document on stdout on every outcome.
        let mut doc = serde_json::json!({ "error": message, "exit_code": failure.code });
        if let Some(e) = failure.error.downcast_ref::<migrate::Error>() {
            match e {
                migrate::Error::Refused { blockers } => {
                    doc["blockers"] = serde_json::json!(blockers)
                }
                migrate::Error::StageFailed(f) => {
                    doc["failure"] = serde_json::json!(f);
                    doc["completed"] = serde_json::json!(f.completed);
                }
                migrate::Error::Load(l) => doc["problems"] = serde_json::json!(l.problems),
                _ => {}
            }
        }
        if let Some(l) = failure.error.downcast_ref::<migrate::source::LoadError>() {
            doc["problems"] = serde_json::json!(l.problems);
        }
        let text = settings.redact(&serde_json::to_string_pretty(&doc).unwrap_or_default());
        let _ = writeln!(io::stdout(), "{text}");
    }
    let mut stderr = anstream::stderr();
    let style = anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Red.into()));
    let _ = writeln!(stderr, "{style}error{style:#}: {message}");
    ExitCode::from(failure.code)
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "migrate=warn",
        1 => "migrate=info",
        _ => "migrate=debug",
    };
    let filter = EnvFilter::try_from_env("MIGRATE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colour only on a terminal, never with NO_COLOR.
    let ansi = std::io::IsTerminal::is_terminal(&io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(io::stderr)
        .with_target(false)
        .try_init();
}

fn run(cli: Cli, settings: &Settings) -> CliResult {
    if matches!(settings.format, Format::Github | Format::Sarif)
        && !matches!(cli.command, Command::Check(_))
    {
        return Err(Failure::input(anyhow::anyhow!(
            "--format github and --format sarif are for `migrate check`; use human or json here"
        )));
    }
    let mut out = Out::new(settings.format);
    if cli.global.targets.is_some() {
        let result = fleet::run(settings, &cli.global, cli.command, &mut out);
        out.flush()?;
        return result;
    }
    let result = match cli.command {
        Command::List => list::run(settings, &mut out),
        Command::New(args) => new::run(settings, &args, &mut out),
        Command::Up(args) => run::up(settings, &args, migrate::plan::StageFilter::All, &mut out),
        Command::Expand(args) => run::up(
            settings,
            &args,
            migrate::plan::StageFilter::Expand,
            &mut out,
        ),
        Command::Contract(args) => run::up(
            settings,
            &args,
            migrate::plan::StageFilter::Contract,
            &mut out,
        ),
        Command::Checkpoint(cmd) => run::checkpoint(settings, &cmd, &mut out),
        Command::Down(args) => run::down(settings, &args, &mut out),
        Command::Redo(args) => run::redo(settings, &args, &mut out),
        Command::Database(cmd) => run::database(settings, &cmd, &mut out),
        Command::Status(args) => run::status(settings, &args, &mut out),
        Command::Resolve(args) => run::resolve(settings, &args, &mut out),
        Command::Repair(args) => run::repair(settings, &args, &mut out),
        Command::Log(args) => run::log(settings, &args, &mut out),
        Command::Archive(args::ArchiveCommand::List) => run::archive_list(settings, &mut out),
        Command::Archive(args::ArchiveCommand::Purge {
            older_than,
            restored_only,
        }) => run::archive_purge(settings, older_than, restored_only, &mut out),
        Command::Drill { from, scratch_url } => {
            if scratch_url.len() > 1 {
                return Err(Failure::input(anyhow::anyhow!(
                    "--scratch-url is given {} times: one drill runs on one server (several, one per backend, are for --targets)",
                    scratch_url.len()
                )));
            }
            run::drill(
                settings,
                from,
                scratch_url.first().map(String::as_str),
                &mut out,
            )
        }
        Command::Adopt {
            from,
            dry_run,
            reason,
        } => run::adopt(settings, &from, dry_run, &reason, &mut out),
        Command::Check(args) => check::run(settings, &args, &mut out),
        Command::Baseline(args) => check::baseline(settings, &args, &mut out),
        Command::Explain { rule } => check::explain(&rule, &mut out),
        Command::Completions { shell } => {
            // Into a buffer first: clap_complete panics on a closed pipe
            // (`migrate completions bash | head`); our own write does not.
            let mut cmd = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "migrate", &mut script);
            io::stdout().write_all(&script)?;
            Ok(())
        }
    };
    out.flush()?;
    result
}
