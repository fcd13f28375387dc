//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::output::Format;

const EXAMPLES: &str = "\
Examples:
  migrate --database-url sqlite://app.db up        apply every pending migration
  migrate status                                   what is applied, pending, failed
  migrate down --dry-run                           show how the last stage would be reverted
  migrate new add_users                            create a migration pair
  migrate list --format json                       every migration found, no database needed

Settings come from flags, then the environment (DATABASE_URL, MIGRATE_SOURCE,
also read from .env), then migrate.toml in the current directory.";

/// Database migrations where every change can be taken back.
#[derive(Debug, Parser)]
#[command(name = "migrate", version, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted before or after the subcommand.
#[derive(Debug, Args, Default)]
pub struct GlobalArgs {
    /// Directory holding the migrations [default: migrations].
    #[arg(long, global = true, env = "MIGRATE_SOURCE", value_name = "DIR")]
    pub source: Option<PathBuf>,

    /// Database URL: sqlite://file.db, postgres://user@host/db, mysql://user@host/db.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Output format.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// Run `up`, `expand`, `contract`, `down` or `status` on every database FILE lists (`NAME URL` per line, or TOML `[targets]`; `-` reads standard input), instead of --database-url.
    #[arg(long, global = true, value_name = "FILE")]
    pub targets: Option<PathBuf>,

    /// With --targets: databases worked on at once [default: 4].
    #[arg(long, global = true, value_name = "N", requires = "targets", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub parallel: Option<u64>,

    /// With --targets: the first K databases with work to do go alone first; the rest only if all K succeed.
    #[arg(long, global = true, value_name = "K", requires = "targets")]
    pub canary: Option<usize>,

    /// With --targets: failures tolerated before no further database is started [default: 0].
    #[arg(long, global = true, value_name = "M", requires = "targets")]
    pub max_failures: Option<usize>,

    /// Settings file [default: migrate.toml, if present].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// How long to wait for the database to answer a connection, e.g. 5s [default: 10s].
    #[arg(long, global = true, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub connect_timeout: Option<std::time::Duration>,

    /// A statement to run at the start of every stage, after migrate's own session settings (repeatable; init-sql in migrate.toml).
    #[arg(long, global = true, value_name = "SQL")]
    pub init_sql: Vec<String>,

    /// Print only errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Log what the library does (-v info, -vv debug); MIGRATE_LOG takes a filter.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every migration found in the source directory (no database needed).
    #[command(after_help = "Example:\n  migrate --source migrations list --format json")]
    List,

    /// Create a new migration with commented templates.
    #[command(
        visible_aliases = ["create", "add"],
        after_help = "Examples:\n  migrate new add_users\n  migrate new split_name --staged\n  migrate new add_index --layout single"
    )]
    New(NewArgs),

    /// Apply pending migrations (every stage, expand before contract).
    #[command(
        after_help = "Examples:\n  migrate --database-url sqlite://app.db up\n  migrate up --to 20240101120000 --dry-run\n  migrate up --checkpoint release-2.4.1 --verify ./smoke-test.sh"
    )]
    Up(UpArgs),

    /// Apply simple migrations and expand stages only: run before rolling out the new application.
    #[command(after_help = "Example:\n  migrate expand --checkpoint release-2.5.0-expanded")]
    Expand(UpArgs),

    /// Apply contract stages only: run once the old application is gone.
    #[command(after_help = "Example:\n  migrate contract --dry-run")]
    Contract(UpArgs),

    /// Record, list or delete named database states for `down --to NAME`.
    #[command(
        subcommand,
        after_help = "Examples:\n  migrate checkpoint create release-2.4.1 --note \"before the 2.5 deploy\"\n  migrate checkpoint list\n  migrate down --to release-2.4.1"
    )]
    Checkpoint(CheckpointCommand),

    /// Revert applied stages with the downs stored when they were applied.
    /// A bare `down` reverts only the most recently applied stage.
    #[command(
        visible_aliases = ["revert", "rollback"],
        after_help = "Examples:\n  migrate down                 revert the last applied stage\n  migrate down --steps 3\n  migrate down --to 0 --dry-run   show how everything would be reverted"
    )]
    Down(DownArgs),

    /// Create or drop the database the URL names (sqlx-cli's `database create` / `drop`).
    #[command(
        subcommand,
        after_help = "Examples:\n  migrate database create\n  migrate database drop --yes          refuses a database holding a migrate history without --force"
    )]
    Database(DatabaseCommand),

    /// Revert the most recently applied stage and apply it again (diesel's and dbmate's redo).
    #[command(
        after_help = "The revert has `down`'s guards (its checker, --yes or a terminal to confirm) and\nthe apply has `up`'s.\n\nExamples:\n  migrate redo --dry-run\n  migrate redo --yes"
    )]
    Redo(DownArgs),

    /// Show every migration and stage: applied, pending, failed, changed on disk.
    #[command(
        visible_alias = "info",
        after_help = "Examples:\n  migrate status --format json\n  migrate status --exit-code     exit 1 when anything is pending, failed, running or changed (deploy gates)"
    )]
    Status(StatusArgs),

    /// Record by hand what a failed stage left behind (runs no migration SQL).
    #[command(
        after_help = "Examples:\n  migrate resolve 20240101120000 --as reverted --reason \"dropped the half-built index by hand\"\n  migrate resolve 7:contract --as applied --reason \"checked: column is gone\""
    )]
    Resolve(ResolveArgs),

    /// Replace the down stored with an applied stage by the file's down (once it passes the checker).
    #[command(
        after_help = "When a stored down is wrong (it fails on production data, or loses data) and the\nfile has been fixed, `down` would still run the stored copy: repair puts the fix in.\n\nExamples:\n  migrate repair 20240101120000 --reason \"the down dropped the wrong index\" --dry-run\n  migrate repair 7:contract --reason \"restore the column with its default\""
    )]
    Repair(RepairArgs),

    /// Show the event log: every apply, revert, failure and forced action.
    #[command(
        after_help = "Examples:\n  migrate log --format json\n  migrate log --limit 20        the 20 newest events, newest first"
    )]
    Log(LogArgs),

    /// List or purge the data kept by `-- migrate:archive`.
    #[command(
        subcommand,
        after_help = "Examples:\n  migrate archive list\n  migrate archive purge --restored-only --older-than 30days"
    )]
    Archive(ArchiveCommand),

    /// Lint every up/down pair for reversibility (no database needed).
    #[command(
        after_help = "Examples:\n  migrate check\n  migrate check --format github        annotations in a GitHub Actions log\n  migrate check --format sarif > migrate.sarif\n  migrate check --list-rules"
    )]
    Check(CheckArgs),

    /// Accept every current checker finding, with one reason, in migrate-baseline.toml beside the migrations.
    #[command(
        after_help = "Adopting a history with findings in migrations already in production: `check`, `up`\nand `down` then report those as accepted (baseline) and still fail on every new\nfinding, and on an accepted one whose statement has changed.\n\nExamples:\n  migrate baseline --reason \"adopted from diesel; these downs were always lossy\"\n  migrate baseline --reason \"...\" --dry-run"
    )]
    Baseline(BaselineArgs),

    /// Show a checker rule's documentation.
    #[command(after_help = "Example:\n  migrate explain lossy-down")]
    Explain {
        /// The rule id.
        rule: String,
    },

    /// Prove on a scratch database that every stage survives up, down, up, with its data.
    #[command(
        after_help = "Examples:\n  migrate drill                                        in memory on SQLite\n  migrate drill --database-url postgres://ci@localhost/postgres   in a new database, dropped after\n  migrate drill --from 20240101120000 --format json"
    )]
    Drill {
        /// Apply the migrations before this version without drilling them
        /// (as written in the file name: 20240101120000 or 2024-01-01-120000).
        #[arg(long, value_name = "VERSION", value_parser = version_arg)]
        from: Option<i64>,
        /// Where scratch databases go (a server you can spare); the drill refuses
        /// the --database-url server when its database holds a migrate history.
        /// With --targets, one per backend of the fleet (SQLite drills in memory).
        #[arg(long, value_name = "URL")]
        scratch_url: Vec<String>,
    },

    /// Take over a database migrated by sqlx, diesel, golang-migrate or dbmate: record its history here, run no SQL.
    #[command(
        after_help = "Examples:\n  migrate adopt --from sqlx --dry-run\n  migrate adopt --from golang-migrate --reason \"moving to migrate\""
    )]
    Adopt {
        /// The tool whose history table to read.
        #[arg(long, value_parser = ["sqlx", "diesel", "golang-migrate", "dbmate"])]
        from: String,
        /// Show what would be recorded and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Recorded in the event log.
        #[arg(long, default_value = "adopted")]
        reason: String,
    },

    /// Print shell completions.
    #[command(after_help = "Example:\n  migrate completions bash > /etc/bash_completion.d/migrate")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `migrate new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// What the migration does, in a few words: `add_users`, `index orders by date`.
    #[arg(required = true, num_args = 1..)]
    pub name: Vec<String>,

    /// Create an expand/contract pair of stages.
    #[arg(long)]
    pub staged: bool,

    /// File layout [default: the one the directory already uses, else flat].
    #[arg(long, value_enum)]
    pub layout: Option<NewLayout>,
}

/// Layouts `migrate new` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NewLayout {
    /// `<version>_<name>.up.sql` and `.down.sql`.
    Flat,
    /// `<version>_<name>/up.sql` and `down.sql`.
    Dir,
    /// `<version>_<name>.sql` with `-- migrate:up` and `-- migrate:down`.
    Single,
}

/// `migrate up`, `expand`, `contract`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Apply only up to this version (inclusive) or checkpoint.
    #[arg(long, value_name = "VERSION|CHECKPOINT")]
    pub to: Option<String>,

    /// After a successful run, record the state reached under this name.
    #[arg(long, value_name = "NAME")]
    pub checkpoint: Option<String>,

    /// After applying, run this shell command; if it fails, revert to the state before the run.
    #[arg(long, value_name = "COMMAND")]
    pub verify: Option<String>,

    /// Apply even though the checker finds errors in these migrations (needs --reason).
    #[arg(long, requires = "reason")]
    pub no_check: bool,

    /// Why the checker is overridden; recorded in the event log.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

    /// Print the plan with its SQL and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// How long to wait for another run's lock, e.g. 30s [default: 60s].
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub lock_wait: Option<std::time::Duration>,
}

/// `migrate down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Revert to this version (0: everything), checkpoint, or @previous (before the last up run).
    #[arg(
        long,
        value_name = "VERSION|CHECKPOINT|@previous",
        conflicts_with = "steps"
    )]
    pub to: Option<String>,

    /// Do not ask for confirmation (required when there is no terminal).
    #[arg(long, short)]
    pub yes: bool,

    /// Revert even though the checker finds errors in the downs (needs --reason).
    #[arg(long, requires = "reason")]
    pub force: bool,

    /// Why the checker is overridden; recorded in the event log.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

    /// Revert this many stages, most recent first.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: Option<u64>,

    /// Print the plan with its SQL and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Run only the plan a reviewed `--dry-run` showed (its fingerprint);
    /// refused, with nothing run, if the plan is no longer that one.
    #[arg(long, value_name = "FINGERPRINT", conflicts_with = "dry_run")]
    pub expect_plan: Option<String>,

    /// How long to wait for another run's lock, e.g. 30s [default: 60s].
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub lock_wait: Option<std::time::Duration>,
}

/// `migrate resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// VERSION or VERSION:STAGE (stage: main, expand, contract).
    pub target: String,

    /// What the database really holds now.
    #[arg(long = "as", value_enum)]
    pub r#as: ResolveAs,

    /// What you checked or did; recorded in the event log.
    #[arg(long, required = true)]
    pub reason: String,

    /// Record a healthy applied stage as reverted (you undid it by hand).
    #[arg(long)]
    pub force: bool,
}

/// `migrate repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// VERSION or VERSION:STAGE (stage: main, expand, contract).
    pub target: String,

    /// What was wrong with the stored down; recorded in the event log.
    #[arg(long, required = true)]
    pub reason: String,

    /// Show the stored down and the file's, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Resolutions.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ResolveAs {
    /// The stage is fully applied.
    Applied,
    /// The stage is not applied at all.
    Reverted,
}

/// `migrate archive ...`.
#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Every archive: what it keeps, how many rows, whether it was restored.
    #[command(after_help = "Example:\n  migrate archive list --format json")]
    List,
    /// Drop archive tables. Archives are never deleted any other way.
    #[command(
        after_help = "Examples:\n  migrate archive purge --restored-only\n  migrate archive purge --older-than 90days"
    )]
    Purge {
        /// Only archives older than this, e.g. 30days, 12h.
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
        older_than: Option<std::time::Duration>,
        /// Only archives whose data was already restored.
        #[arg(long)]
        restored_only: bool,
    },
}

/// `migrate check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// SQL dialect [default: from the database URL or migrate.toml, else postgres].
    #[arg(long, value_enum)]
    pub dialect: Option<DialectArg>,

    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,

    /// List the rules and exit.
    #[arg(long)]
    pub list_rules: bool,
}

/// `migrate database ...`.
#[derive(Debug, Subcommand)]
pub enum DatabaseCommand {
    /// Create the database the URL names (nothing to do if it exists).
    Create,
    /// Drop the database the URL names.
    Drop {
        /// Do not ask for confirmation (required when there is no terminal).
        #[arg(long, short)]
        yes: bool,
        /// Drop it even though it holds a migrate history.
        #[arg(long)]
        force: bool,
    },
}

/// `migrate status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Exit 1 when anything is pending, failed, running or changed since applied.
    #[arg(long)]
    pub exit_code: bool,
}

/// `migrate log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only the N newest events, newest first.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Only events of the last DURATION (e.g. 2h, 3days).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub since: Option<std::time::Duration>,
}

/// `migrate baseline`.
#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// Why these findings are accepted (written into the file).
    #[arg(long)]
    pub reason: String,

    /// SQL dialect [default: as for `migrate check`].
    #[arg(long, value_enum)]
    pub dialect: Option<DialectArg>,

    /// Show what would be accepted and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Dialects the checker knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DialectArg {
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
    /// SQLite.
    Sqlite,
}

/// `migrate checkpoint ...`.
#[derive(Debug, Subcommand)]
pub enum CheckpointCommand {
    /// Record the current state under a name.
    Create {
        /// Letters, digits, `.`, `_`, `-`; not all digits.
        name: String,
        /// What this state is.
        #[arg(long)]
        note: Option<String>,
        /// Move an existing checkpoint to the current state.
        #[arg(long)]
        replace: bool,
    },
    /// List checkpoints.
    List {
        /// Also list the states runs started from (`@previous`).
        #[arg(long)]
        runs: bool,
    },
    /// Delete a checkpoint.
    Delete {
        /// Its name.
        name: String,
    },
}

/// A version as written in a file name: digits, with dashes in diesel's
/// `2024-01-01-120000` style.
fn version_arg(text: &str) -> Result<i64, String> {
    if text.is_empty()
        || !text.starts_with(|c: char| c.is_ascii_digit())
        || !text.chars().all(|c| c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "`{text}` is not a version: digits, as in the file name (20240101120000 or 2024-01-01-120000)"
        ));
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits
        .parse()
        .map_err(|_| format!("version {text} is too large"))
}
