//! Embedding migrations in a binary at build time, for a build script.
//!
//! `build.rs`:
//!
//! ```text
//! fn main() {
//!     migrate::build::Embed::new("migrations")
//!         .dialect(migrate::sql::Dialect::Postgres)
//!         .run();
//! }
//! ```
//!
//! and in the application, `migrate::embed!("migrations")` is the embedded
//! directory (a [`source::Embedded`]), for `Migrator::embedded`.
//!
//! What the build does: it loads the directory with the loader the command
//! line uses (so a file `migrate up` would refuse fails the build, naming the
//! file and line), runs the checker over it (its errors fail the build, as
//! `migrate check` would fail CI; warnings become cargo warnings), and writes
//! the files it read into `$OUT_DIR`, with `include_bytes!` so that editing a
//! file rebuilds the crate. It tells cargo to rerun it when anything in the
//! directory changes, so an added migration is embedded by the next build.
//!
//! Invariants: this is the one module that prints, because a build script
//! talks to cargo on stdout (`cargo::error=`, `cargo::warning=`,
//! `cargo:rerun-if-changed=`); it never prints outside a build script.
//! Embedded paths and contents are exactly what the loader read, so the
//! embedded loader sees the same migrations with the same checksums.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::check::config::CheckConfig;
use crate::check::{self, CheckOptions, Report, Severity};
use crate::source::{self, LoadError, Source};
use crate::sql::Dialect;

/// Configures what a build script embeds and checks.
#[derive(Debug, Clone)]
pub struct Embed {
    dir: String,
    check: bool,
    dialect: Option<Dialect>,
    rules: BTreeMap<String, Option<Severity>>,
    config: Option<PathBuf>,
    deny_warnings: bool,
}

/// Embeds `dir` (relative to the package's `Cargo.toml`) with the default
/// settings: checked for PostgreSQL, warnings allowed.
pub fn embed(dir: &str) {
    Embed::new(dir).run()
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The loader refused a file.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The checker found errors (or warnings, with `deny_warnings`).
    #[error("the checker failed {} in {dir}", summary(.report))]
    Check {
        /// The directory.
        dir: String,
        /// Every finding.
        report: Report,
    },
    /// `migrate.toml`'s `[check]` or a rule given to the builder is wrong.
    #[error("{0}")]
    Config(String),
    /// `OUT_DIR` missing, or the generated file could not be written.
    #[error("{0}")]
    Io(String),
}

fn summary(report: &Report) -> String {
    format!(
        "with {} error(s) and {} warning(s)",
        report.errors(),
        report.warnings()
    )
}

/// What a successful build embedded.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// The loaded migrations.
    pub source: Source,
    /// The checker's findings (none of them failing).
    pub report: Report,
    /// The Rust file written, which `migrate::embed!` includes.
    pub generated: PathBuf,
    /// The files embedded, as the loader named them.
    pub files: Vec<PathBuf>,
}

impl Embed {
    /// Embeds `dir`, a path relative to the package's `Cargo.toml` (where
    /// cargo runs build scripts) and the same string `embed!` is given.
    /// The checker reads `[check]` of `migrate.toml` beside `Cargo.toml`
    /// when there is one, as `migrate check` run there does.
    pub fn new(dir: &str) -> Embed {
        Embed {
            dir: dir.to_string(),
            check: true,
            dialect: None,
            rules: BTreeMap::new(),
            config: Some(PathBuf::from("migrate.toml")),
            deny_warnings: false,
        }
    }

    /// The SQL dialect the checker reads the migrations in; it overrides
    /// `migrate.toml`'s `[check] dialect` (default PostgreSQL).
    pub fn dialect(mut self, dialect: Dialect) -> Embed {
        self.dialect = Some(dialect);
        self
    }

    /// Sets a rule's severity (`None` turns it off), over what
    /// `[check.rules]` in `migrate.toml` says.
    pub fn rule(mut self, id: &str, severity: Option<Severity>) -> Embed {
        self.rules.insert(id.to_string(), severity);
        self
    }

    /// Reads `[check]` from this file instead of `migrate.toml` (`None`:
    /// from no file).
    pub fn config(mut self, path: Option<&Path>) -> Embed {
        self.config = path.map(Path::to_path_buf);
        self
    }

    /// Fail the build on checker warnings too.
    pub fn deny_warnings(mut self, deny: bool) -> Embed {
        self.deny_warnings = deny;
        self
    }

    /// Embed without running the checker (the loader still runs).
    pub fn skip_check(mut self) -> Embed {
        self.check = false;
        self
    }

    /// The checker's options: `migrate.toml` first, then the builder's.
    fn check_options(&self) -> Result<Option<CheckOptions>, BuildError> {
        if !self.check {
            return Ok(None);
        }
        let mut options = CheckOptions {
            dialect: Dialect::Postgres,
            severities: BTreeMap::new(),
        };
        if let Some(path) = self.config.as_ref().filter(|p| p.is_file()) {
            let bad = |e: String| BuildError::Config(format!("{}: {e}", path.display()));
            let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
            if let Some(config) = CheckConfig::from_migrate_toml(&text).map_err(bad)? {
                options.severities = config.severities().map_err(bad)?;
                if let Some(d) = config.dialect {
                    options.dialect = d.into();
                }
            }
        }
        if let Some(d) = self.dialect {
            options.dialect = d;
        }
        for (id, severity) in &self.rules {
            if crate::check::registry::rule(id).is_none() {
                return Err(BuildError::Config(format!(
                    "Embed::rule names unknown rule `{id}` (`migrate check --list-rules` lists them)"
                )));
            }
            options.severities.insert(id.clone(), *severity);
        }
        Ok(Some(options))
    }

    /// Runs in a build script: embeds, and on failure reports each problem
    /// to cargo as an error, which fails the build.
    pub fn run(self) {
        println!("cargo:rerun-if-changed={}", self.dir);
        if let Some(config) = self.config.as_ref().filter(|p| p.is_file()) {
            println!("cargo:rerun-if-changed={}", config.display());
        }
        let out_dir = std::env::var_os("OUT_DIR").map(PathBuf::from);
        let result = match out_dir {
            Some(out) => self.write(&out),
            None => Err(BuildError::Io(
                "OUT_DIR is not set: migrate::build runs from a build script (build.rs)".into(),
            )),
        };
        match result {
            Ok(embedded) => {
                for file in &embedded.files {
                    println!("cargo:rerun-if-changed={}", file.display());
                }
                for d in &embedded.report.diagnostics {
                    if d.severity != Severity::Info {
                        println!("cargo::warning={}", one_line(&diagnostic(d)));
                    }
                }
            }
            Err(BuildError::Load(e)) => {
                for p in &e.problems {
                    println!("cargo::error={}", one_line(&p.to_string()));
                }
            }
            Err(BuildError::Check { report, .. }) => {
                for d in &report.diagnostics {
                    let fails = d.severity == Severity::Error
                        || (self.deny_warnings && d.severity == Severity::Warning);
                    let kind = if fails { "error" } else { "warning" };
                    if d.severity != Severity::Info {
                        println!("cargo::{kind}={}", one_line(&diagnostic(d)));
                    }
                }
                println!(
                    "cargo::error=`migrate check` fails on {}: fix the findings above, or suppress one with `-- migrate:allow <rule>: <reason>`",
                    self.dir
                );
            }
            Err(e @ (BuildError::Io(_) | BuildError::Config(_))) => {
                println!("cargo::error={}", one_line(&e.to_string()))
            }
        }
    }

    /// Loads, checks and writes the embedded directory under `out_dir`,
    /// without talking to cargo (what [`Embed::run`] does, for tests and
    /// build scripts that report on their own).
    pub fn write(&self, out_dir: &Path) -> Result<Embedded, BuildError> {
        let source = source::load(Path::new(&self.dir))?;
        let report = match self.check_options()? {
            Some(options) => check::check(&source, &options),
            None => Report::default(),
        };
        let fails = report.errors() > 0 || (self.deny_warnings && report.warnings() > 0);
        if fails {
            return Err(BuildError::Check {
                dir: self.dir.clone(),
                report,
            });
        }
        let mut files = source.files.clone();
        files.sort();
        files.dedup();
        let generated = generated_path(out_dir, &self.dir);
        let code = self.code(&files)?;
        if let Some(parent) = generated.parent() {
            std::fs::create_dir_all(out_dir.join("migrate-embed"))
                .and_then(|()| std::fs::create_dir_all(parent))
                .map_err(|e| BuildError::Io(format!("cannot create {}: {e}", parent.display())))?;
        }
        // Written only when changed, so an unchanged directory does not
        // rebuild the crate.
        if std::fs::read_to_string(&generated).ok().as_deref() != Some(code.as_str()) {
            std::fs::write(&generated, code).map_err(|e| {
                BuildError::Io(format!("cannot write {}: {e}", generated.display()))
            })?;
        }
        Ok(Embedded {
            source,
            report,
            generated,
            files,
        })
    }

    /// The Rust expression `embed!` includes.
    fn code(&self, files: &[PathBuf]) -> Result<String, BuildError> {
        let mut code = format!(
            "// Generated by migrate::build from `{}`: do not edit.\n::migrate::source::Embedded {{\n    dir: {:?},\n    files: &[\n",
            self.dir, self.dir
        );
        for file in files {
            let absolute = std::fs::canonicalize(file)
                .map_err(|e| BuildError::Io(format!("cannot resolve {}: {e}", file.display())))?;
            let name = file.to_string_lossy().replace('\\', "/");
            let _ = writeln!(
                code,
                "        ({name:?}, include_bytes!({:?})),",
                absolute.to_string_lossy()
            );
        }
        code.push_str("    ],\n}\n");
        Ok(code)
    }
}

/// Where the generated file for `dir` goes: `embed!` computes the same path
/// with `concat!`, so the two must agree character for character.
fn generated_path(out_dir: &Path, dir: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/migrate-embed/{dir}/embedded.rs",
        out_dir.display()
    ))
}

fn diagnostic(d: &check::Diagnostic) -> String {
    format!(
        "{}:{}:{}: {}[{}]: {} (help: {})",
        d.file,
        d.line,
        d.column,
        d.severity.name(),
        d.rule,
        d.message,
        d.help
    )
}

fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

/// The migrations embedded by a build script that called
/// [`build::embed`](crate::build::embed) (or [`build::Embed`](crate::build::Embed))
/// with the same directory: a [`source::Embedded`](crate::source::Embedded).
///
/// ```ignore
/// let migrator = migrate::Migrator::embedded(migrate::embed!("migrations"))?;
/// ```
#[macro_export]
macro_rules! embed {
    ($dir:literal) => {
        include!(concat!(
            env!(
                "OUT_DIR",
                "migrate::embed! needs a build script (build.rs) that calls migrate::build::embed"
            ),
            "/migrate-embed/",
            $dir,
            "/embedded.rs"
        ))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW_DROP: &str = "-- migrate:allow lossy-down: test data\nDROP TABLE a;\n";

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn embeds_exactly_what_the_loader_read_and_loads_it_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("migrations");
        write(&dir, "0001_a.up.sql", "CREATE TABLE a (id INT);\n");
        write(&dir, "0001_a.down.sql", ALLOW_DROP);
        write(
            &dir,
            "0002_b/expand.up.sql",
            "ALTER TABLE a ADD COLUMN b INT;\n",
        );
        write(
            &dir,
            "0002_b/expand.down.sql",
            "-- migrate:allow lossy-down: test data\nALTER TABLE a DROP COLUMN b;\n",
        );
        write(&dir, "0002_b/README.md", "notes\n");
        write(
            &dir,
            "0003_c.sql",
            "-- migrate:up\nCREATE TABLE c (id INT);\n-- migrate:down\n-- migrate:allow lossy-down: test data\nDROP TABLE c;\n",
        );
        write(&dir, "checkpoints.toml", "first = \"1\"\n");
        write(&dir, "notes.txt", "ignored\n");
        write(
            &dir,
            "0004_d/up.sql",
            "CREATE INDEX CONCURRENTLY d ON c (id);\n",
        );
        write(&dir, "0004_d/down.sql", "DROP INDEX CONCURRENTLY d;\n");
        write(&dir, "0004_d/metadata.toml", "run_in_transaction = false\n");
        write(
            &dir,
            "migrate-baseline.toml",
            "reason = \"adopted\"\n[[accepted]]\nfile = \"0001_a.down.sql\"\nrule = \"lossy-down\"\nstatement = \"0000000000000000\"\n",
        );
        let out = tmp.path().join("out");
        let dir_text = dir.to_string_lossy().into_owned();
        let embedded = Embed::new(&dir_text).write(&out).unwrap();
        let names: Vec<String> = embedded
            .files
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "0001_a.down.sql",
                "0001_a.up.sql",
                "0002_b/expand.down.sql",
                "0002_b/expand.up.sql",
                "0003_c.sql",
                "0004_d/down.sql",
                "0004_d/metadata.toml",
                "0004_d/up.sql",
                "checkpoints.toml",
                "migrate-baseline.toml"
            ]
        );
        let code = std::fs::read_to_string(&embedded.generated).unwrap();
        assert!(code.contains("include_bytes!"), "{code}");

        // The embedded copy, loaded by the same loader, equals the disk.
        let contents: Vec<(&'static str, &'static [u8])> = embedded
            .files
            .iter()
            .map(|p| {
                let name: &'static str =
                    Box::leak(p.to_string_lossy().into_owned().into_boxed_str());
                let bytes: &'static [u8] = Box::leak(std::fs::read(p).unwrap().into_boxed_slice());
                (name, bytes)
            })
            .collect();
        let e = source::Embedded {
            dir: Box::leak(dir_text.clone().into_boxed_str()),
            files: Box::leak(contents.into_boxed_slice()),
        };
        let from_memory = source::load_embedded(&e).unwrap();
        let from_disk = source::load(&dir).unwrap();
        assert_eq!(from_memory.migrations, from_disk.migrations);
        assert_eq!(from_memory.checkpoints, from_disk.checkpoints);
        assert_eq!(from_memory.baseline, from_disk.baseline);
        assert!(from_memory.baseline.is_some());
        assert!(from_memory.migrations[3].stages[0].up.no_transaction());
    }

    #[test]
    fn checker_errors_and_load_errors_fail_the_build() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("m");
        write(&dir, "0001_a.up.sql", "CREATE TABLE a (id INT);\n");
        write(&dir, "0001_a.down.sql", ALLOW_DROP);
        write(&dir, "0002_drop.up.sql", "DROP TABLE a;\n");
        write(&dir, "0002_drop.down.sql", "CREATE TABLE a (id INT);\n");
        let out = tmp.path().join("out");
        let dir_text = dir.to_string_lossy().into_owned();
        let Err(BuildError::Check { report, .. }) = Embed::new(&dir_text).write(&out) else {
            panic!("the checker should fail the build");
        };
        assert!(report.errors() > 0);
        assert!(
            report
                .diagnostics
                .iter()
                .any(|d| d.file.ends_with("0002_drop.up.sql")),
            "{report:?}"
        );
        // Turning the rule off lets it through.
        let rules: Vec<&str> = report.diagnostics.iter().map(|d| d.rule).collect();
        let mut embed = Embed::new(&dir_text);
        for rule in rules {
            embed = embed.rule(rule, None);
        }
        embed.write(&out).unwrap();

        // migrate.toml's [check] turns rules off as it does for `migrate check`.
        let config = tmp.path().join("migrate.toml");
        let mut toml = String::from("[check.rules]\n");
        for d in &report.diagnostics {
            toml.push_str(&format!("{} = \"off\"\n", d.rule));
        }
        std::fs::write(&config, toml).unwrap();
        Embed::new(&dir_text)
            .config(Some(&config))
            .write(&out)
            .unwrap();
        std::fs::write(&config, "[check.rules]\nno-such-rule = \"off\"\n").unwrap();
        let Err(BuildError::Config(e)) = Embed::new(&dir_text).config(Some(&config)).write(&out)
        else {
            panic!("an unknown rule in migrate.toml should fail the build");
        };
        assert!(
            e.contains("migrate.toml") && e.contains("no-such-rule"),
            "{e}"
        );

        write(&dir, "bad_name.up.sql", "SELECT 1;\n");
        let Err(BuildError::Load(e)) = Embed::new(&dir_text).write(&out) else {
            panic!("a malformed name should fail the build");
        };
        assert!(e.to_string().contains("bad_name.up.sql"), "{e}");
    }
}
