//! Settings: flags, then the environment (and `.env`), then `migrate.toml`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use super::Failure;
use super::args::GlobalArgs;
use super::output::Format;

/// The contents of `migrate.toml`. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    /// Migrations directory.
    pub source: Option<PathBuf>,
    /// Database URL (prefer DATABASE_URL: a file is easily committed with a password in it).
    pub database_url: Option<String>,
    /// Prefix of the history tables.
    pub table_prefix: Option<String>,
    /// How long to wait for another runner's lock, e.g. "60s".
    pub lock_wait: Option<String>,
    /// How long a statement may wait for a table lock, e.g. "5s".
    pub lock_timeout: Option<String>,
    /// Attempts for a stage that fails on a lock timeout.
    pub lock_retries: Option<u32>,
    /// How long to wait for the database to answer a connection, e.g. "10s".
    pub connect_timeout: Option<String>,
    /// Statements run at the start of every stage, after migrate's own
    /// session settings, e.g. ["SET FOREIGN_KEY_CHECKS = 0"].
    pub init_sql: Option<Vec<String>>,
    /// `[check]`: the checker's settings (read by the library, so that
    /// `migrate::build` reads them the same way).
    pub check: Option<migrate::check::config::CheckConfig>,
}

/// The settings every command sees.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Migrations directory.
    pub source: PathBuf,
    /// Database URL, if any was given.
    pub database_url: Option<String>,
    /// Output format.
    pub format: Format,
    /// Print only errors.
    pub quiet: bool,
    /// History table prefix.
    pub table_prefix: String,
    /// Lock wait.
    pub lock_wait: Duration,
    /// Statement lock timeout.
    pub lock_timeout: Duration,
    /// Attempts on lock timeout.
    pub lock_retries: u32,
    /// How long a connection may take.
    pub connect_timeout: Duration,
    /// `init-sql`.
    pub init_sql: Vec<String>,
    /// Checker dialect from migrate.toml.
    pub check_dialect: Option<migrate::sql::Dialect>,
    /// Checker severities from migrate.toml (`None` = off).
    pub check_severities: std::collections::BTreeMap<String, Option<migrate::check::Severity>>,
    secrets: Vec<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            source: PathBuf::from("migrations"),
            database_url: None,
            format: Format::Human,
            quiet: false,
            table_prefix: "_migrate_".into(),
            lock_wait: Duration::from_secs(60),
            lock_timeout: Duration::from_secs(5),
            lock_retries: 3,
            connect_timeout: Duration::from_secs(10),
            init_sql: Vec::new(),
            check_dialect: None,
            check_severities: Default::default(),
            secrets: vec![],
        }
    }
}

impl Settings {
    /// Resolves the settings: flag > environment (and `.env`) > `migrate.toml`.
    pub fn resolve(args: &GlobalArgs) -> Result<Settings, Failure> {
        let mut settings = Settings::default();
        let (path, required) = match &args.config {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from("migrate.toml"), false),
        };
        let file = read_file_config(&path, required)?;
        settings.source = args
            .source
            .clone()
            .or(file.source)
            .unwrap_or(settings.source);
        settings.database_url = args.database_url.clone().or(file.database_url);
        settings.format = args.format.unwrap_or_default();
        settings.quiet = args.quiet;
        if let Some(prefix) = file.table_prefix {
            if prefix.is_empty()
                || !prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(Failure::input(anyhow::anyhow!(
                    "{}: table-prefix `{prefix}` may hold only letters, digits and `_`",
                    path.display()
                )));
            }
            settings.table_prefix = prefix;
        }
        let duration = |key: &str,
                        value: Option<String>,
                        default: Duration|
         -> Result<Duration, Failure> {
            match value {
                None => Ok(default),
                Some(v) => humantime::parse_duration(&v).map_err(|e| {
                    Failure::input(anyhow::anyhow!(
                        "{}: {key} = \"{v}\" is not a duration ({e}); write it like \"30s\" or \"2m\"",
                        path.display()
                    ))
                }),
            }
        };
        settings.lock_wait = duration("lock-wait", file.lock_wait, settings.lock_wait)?;
        settings.lock_timeout = duration("lock-timeout", file.lock_timeout, settings.lock_timeout)?;
        settings.lock_retries = file.lock_retries.unwrap_or(settings.lock_retries).max(1);
        settings.init_sql = if args.init_sql.is_empty() {
            file.init_sql.unwrap_or_default()
        } else {
            args.init_sql.clone()
        };
        settings.connect_timeout = match args.connect_timeout {
            Some(t) => t,
            None => duration(
                "connect-timeout",
                file.connect_timeout,
                settings.connect_timeout,
            )?,
        };
        if let Some(check) = file.check {
            settings.check_dialect = check.dialect.map(Into::into);
            settings.check_severities = check
                .severities()
                .map_err(|e| Failure::input(anyhow::anyhow!("{}: {e}", path.display())))?;
        }
        if let Some(url) = &settings.database_url {
            settings.secrets = migrate::redact::secrets_of(url);
        }
        Ok(settings)
    }

    /// `text` with every secret of the database URL replaced.
    pub fn redact(&self, text: &str) -> String {
        migrate::redact::redact_secrets(text, &self.secrets)
    }

    /// The database URL, or an error saying how to give one.
    pub fn require_database_url(&self) -> Result<&str, Failure> {
        self.database_url.as_deref().ok_or_else(|| {
            Failure::input(anyhow::anyhow!(
                "no database URL: pass --database-url URL, set DATABASE_URL (or put it in .env), for example sqlite://app.db"
            ))
        })
    }
}

fn read_file_config(path: &Path, required: bool) -> Result<FileConfig, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(FileConfig::default());
        }
        Err(e) => {
            return Err(Failure::input(
                anyhow::Error::new(e)
                    .context(format!("cannot read settings file {}", path.display())),
            ));
        }
    };
    toml::from_str(&text)
        .with_context(|| format!("{}: invalid settings", path.display()))
        .map_err(Failure::input)
}
