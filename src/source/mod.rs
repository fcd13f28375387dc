//! Discovering migrations on disk, in every supported layout.
//!
//! Invariants:
//! - this is the only module that reads migration files;
//! - a loaded [`Source`] is sorted by version, versions are unique, and every
//!   stage has an up script;
//! - a missing down is not a load error (the checker reports it), but every
//!   malformed name or file is, and the error names the file;
//! - script text is normalised (BOM stripped, CRLF turned into LF) before it is
//!   hashed or parsed, so a checkout on Windows is not drift.

#[doc(hidden)]
pub mod baseline;
mod checksum;
mod directive;
mod files;
mod name;
#[doc(hidden)]
pub mod template;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use checksum::Checksum;
pub(crate) use checksum::{checksum, normalize};
pub use directive::{Direction, Directive, DirectiveKind, Scope};
pub(crate) use directive::{migrate_comment, parse_directives};
pub use files::Embedded;
pub use name::cmp_versions;
pub(crate) use name::{
    FlywayName, VersionName, beyond, orders_disagree, parse_flyway_name, parse_version_name,
};

use files::{Disk, Files, Tree};

use crate::sql::{Dialect, TokenKind, line_of, tokenize};

/// How a migration is laid out on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `<version>_<name>.up.sql` and `.down.sql` (sqlx, golang-migrate).
    Flat,
    /// `<version>_<name>/up.sql` and `down.sql` (diesel).
    Dir,
    /// `<version>_<name>.sql` with `-- migrate:up` / `-- migrate:down` (dbmate).
    Single,
    /// `<version>_<name>/expand.up.sql`, `expand.down.sql`, `contract.up.sql`, `contract.down.sql`.
    Staged,
    /// `V<version>__<name>.sql` and its undo `U<version>__<name>.sql` (Flyway, refinery).
    Flyway,
}

impl Layout {
    /// The layout's name, as `migrate new --layout` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Flat => "flat",
            Layout::Dir => "dir",
            Layout::Single => "single",
            Layout::Staged => "staged",
            Layout::Flyway => "flyway",
        }
    }
}

/// Which stage of a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
    /// The one stage of a simple (unstaged) migration.
    Main,
    /// Adds only: the old and the new application both work after it.
    Expand,
    /// Removes what only the old application needed.
    Contract,
}

impl StageKind {
    /// The stage's name as stored in the history and shown to users.
    pub fn name(self) -> &'static str {
        match self {
            StageKind::Main => "main",
            StageKind::Expand => "expand",
            StageKind::Contract => "contract",
        }
    }

    /// Parses a stage name.
    pub fn parse(s: &str) -> Option<StageKind> {
        match s {
            "main" => Some(StageKind::Main),
            "expand" => Some(StageKind::Expand),
            "contract" => Some(StageKind::Contract),
            _ => None,
        }
    }
}

impl fmt::Display for StageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One up or down script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    /// The file it was read from.
    pub path: PathBuf,
    /// Lines of the file before the script's first line (non-zero only for
    /// the sections of a single-file migration).
    pub line_offset: u32,
    /// The normalised text.
    #[serde(skip)]
    pub sql: String,
    /// `sha256-v1:<hex>` of the normalised text.
    pub checksum: Checksum,
    /// Its directives.
    pub directives: Vec<Directive>,
}

impl Script {
    /// Reads a script from SQL text (already normalised), as the runner does
    /// with a down stored in the history.
    pub fn from_sql(
        path: impl Into<PathBuf>,
        sql: String,
        line_offset: u32,
        direction: Direction,
    ) -> Result<Script, Vec<(u32, String)>> {
        let directives = parse_directives(&sql, line_offset, direction)?;
        Ok(Script {
            path: path.into(),
            line_offset,
            checksum: checksum(&sql),
            sql,
            directives,
        })
    }

    /// The reason given by `-- migrate:irreversible`, if this down declares it.
    pub fn irreversible_reason(&self) -> Option<&str> {
        self.directives.iter().find_map(|d| match &d.kind {
            DirectiveKind::Irreversible { reason } => Some(reason.as_str()),
            _ => None,
        })
    }

    /// The text to store as a stage's down, so that a revert from the
    /// database alone runs it as the file would: a no-transaction that came
    /// from outside the text (diesel's `metadata.toml`, dbmate's
    /// `transaction:false` marker, sqlx's `-- no-transaction`) is written
    /// in front of it ([`Script::from_stored`] takes it off again).
    pub fn stored_text(&self) -> String {
        let declared = parse_directives(&self.sql, 0, Direction::Down)
            .is_ok_and(|d| d.iter().any(|d| d.kind == DirectiveKind::NoTransaction));
        if self.no_transaction() && !declared {
            format!("{STORED_NO_TRANSACTION}{}", self.sql)
        } else {
            self.sql.clone()
        }
    }

    /// Reads a down stored in the history ([`Script::stored_text`]), with
    /// the file's line numbers.
    pub fn from_stored(
        path: impl Into<PathBuf>,
        stored: &str,
    ) -> Result<Script, Vec<(u32, String)>> {
        match stored.strip_prefix(STORED_NO_TRANSACTION) {
            Some(sql) => {
                let mut script = Script::from_sql(path, sql.to_string(), 0, Direction::Down)?;
                set_no_transaction(&mut script, 1);
                Ok(script)
            }
            None => Script::from_sql(path, stored.to_string(), 0, Direction::Down),
        }
    }

    /// Whether `-- migrate:no-transaction` is set.
    pub fn no_transaction(&self) -> bool {
        self.directives
            .iter()
            .any(|d| d.kind == DirectiveKind::NoTransaction)
    }

    /// The directives that apply to the statement starting on `line` of the
    /// file, file-wide ones included.
    pub fn directives_for(&self, line: u32) -> impl Iterator<Item = &Directive> {
        self.directives
            .iter()
            .filter(move |d| d.scope == Scope::File || d.scope == Scope::Statement { line })
    }

    /// `path:line`, for messages.
    pub fn location(&self, line_in_script: u32) -> String {
        format!(
            "{}:{}",
            self.path.display(),
            self.line_offset + line_in_script
        )
    }
}

/// What [`Script::stored_text`] puts in front of a down that runs outside a
/// transaction for a reason its text does not say.
const STORED_NO_TRANSACTION: &str = "-- migrate:no-transaction\n-- (added by migrate when it stored this down: the file runs outside a transaction)\n";

/// One stage of a migration: an up and, normally, its down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// Which stage.
    pub kind: StageKind,
    /// Applies the stage.
    pub up: Script,
    /// Reverts it; `None` when no down was written (a checker finding).
    pub down: Option<Script>,
}

/// A migration: a version, a name and one stage (simple) or two (staged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Migration {
    /// The version as a number (dashes of diesel timestamps removed).
    pub version: i64,
    /// The version as spelled in the file name.
    pub version_text: String,
    /// The name after the version.
    pub name: String,
    /// How it is laid out.
    pub layout: Layout,
    /// The file (single, flat up) or directory (dir, staged).
    pub path: PathBuf,
    /// `[main]`, or `[expand]` / `[expand, contract]` for a staged migration.
    pub stages: Vec<Stage>,
}

impl Migration {
    /// `0003_add_x`, as shown to users.
    pub fn label(&self) -> String {
        format!("{}_{}", self.version_text, self.name)
    }

    /// The stage of this kind, if the migration has it.
    pub fn stage(&self, kind: StageKind) -> Option<&Stage> {
        self.stages.iter().find(|s| s.kind == kind)
    }
}

/// Every migration of a directory, in run order ([`cmp_versions`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Source {
    /// The directory.
    pub dir: PathBuf,
    /// The migrations, in run order ([`cmp_versions`]).
    pub migrations: Vec<Migration>,
    /// What the loader passed over or doubts, without failing: files beside
    /// the migrations that are not migrations, versions whose order depends
    /// on the convention. `list` and `check` show them.
    #[serde(skip)]
    pub warnings: Vec<SourceWarning>,
    /// Every file the loader read (scripts, `checkpoints.toml`,
    /// `metadata.toml`, the baseline), in the order read, a file read twice
    /// listed twice: what an embedded copy must hold.
    #[serde(skip)]
    pub files: Vec<PathBuf>,
    /// `migrate-baseline.toml`: findings accepted as they were.
    #[serde(skip)]
    pub baseline: Option<baseline::Baseline>,
    /// Checkpoints declared in `checkpoints.toml`: name -> state.
    #[serde(skip)]
    pub checkpoints: std::collections::BTreeMap<String, crate::checkpoint::State>,
}

impl Source {
    /// The migration with this version.
    pub fn get(&self, version: i64) -> Option<&Migration> {
        self.migrations
            .binary_search_by(|m| cmp_versions(m.version, version))
            .ok()
            .map(|i| &self.migrations[i])
    }
}

/// One problem found while loading, with the file (and line) it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SourceProblem {
    /// The file or directory.
    pub path: PathBuf,
    /// 1-based line, where the problem is at one.
    pub line: Option<u32>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for SourceProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Something the loader passed over or doubts, without failing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SourceWarning {
    /// What kind of doubt.
    pub kind: WarningKind,
    /// The file or directory.
    pub path: PathBuf,
    /// What was passed over or doubted, and what to do.
    pub message: String,
}

/// The kinds of [`SourceWarning`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum WarningKind {
    /// A file that is not a migration, or a setting migrate does not read:
    /// passed over.
    IgnoredFile,
    /// Two versions that integers and text order differently.
    VersionOrder,
}

impl fmt::Display for SourceWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// Loading failed: every problem found, not only the first.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub struct LoadError {
    /// The problems, in file order.
    pub problems: Vec<SourceProblem>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "cannot load migrations: {n} problem{}",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

struct Loader<'f> {
    files: &'f dyn Files,
    problems: Vec<SourceProblem>,
    warnings: Vec<SourceWarning>,
    read: Vec<PathBuf>,
}

impl Loader<'_> {
    fn problem(&mut self, path: &Path, line: Option<u32>, message: impl Into<String>) {
        self.problems.push(SourceProblem {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        });
    }

    fn warn(&mut self, path: &Path, message: impl Into<String>) {
        self.warn_of(WarningKind::IgnoredFile, path, message);
    }

    fn warn_of(&mut self, kind: WarningKind, path: &Path, message: impl Into<String>) {
        self.warnings.push(SourceWarning {
            kind,
            path: path.to_path_buf(),
            message: message.into(),
        });
    }

    /// Reads and normalises a file; `None` after recording a problem.
    fn read(&mut self, path: &Path) -> Option<String> {
        self.read.push(path.to_path_buf());
        let bytes = match self.files.read(path) {
            Ok(b) => b,
            Err(e) => {
                self.problem(path, None, format!("cannot read the file: {e}"));
                return None;
            }
        };
        match String::from_utf8(bytes) {
            Ok(text) => Some(normalize(&text)),
            Err(e) => {
                let offset = e.utf8_error().valid_up_to();
                let line = 1 + e.as_bytes()[..offset]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count() as u32;
                self.problem(
                    path,
                    Some(line),
                    format!(
                        "the file is not UTF-8 (invalid byte at offset {offset}): save it as UTF-8"
                    ),
                );
                None
            }
        }
    }

    fn script(&mut self, path: &Path, text: String, offset: u32, dir: Direction) -> Option<Script> {
        match Script::from_sql(path, text, offset, dir) {
            Ok(s) => Some(s),
            Err(errors) => {
                for (line, message) in errors {
                    self.problem(path, Some(line), message);
                }
                None
            }
        }
    }

    fn file_script(&mut self, path: &Path, dir: Direction) -> Option<Script> {
        let text = self.read(path)?;
        self.script(path, text, 0, dir)
    }

    /// A flat (sqlx) script: sqlx's own `-- no-transaction` first line means
    /// what `-- migrate:no-transaction` means.
    fn flat_script(&mut self, path: &Path, dir: Direction) -> Option<Script> {
        let mut script = self.file_script(path, dir)?;
        honour_sqlx_no_transaction(&mut script);
        Some(script)
    }
}

/// sqlx's `-- no-transaction` on a script's first line means what
/// `-- migrate:no-transaction` means.
fn honour_sqlx_no_transaction(script: &mut Script) {
    if script.sql.lines().next().map(str::trim_end) == Some("-- no-transaction") {
        set_no_transaction(script, 1);
    }
}

/// Marks a script no-transaction, as a file-wide directive on `line`.
fn set_no_transaction(script: &mut Script, line: u32) {
    if !script.no_transaction() {
        script.directives.insert(
            0,
            Directive {
                line,
                kind: DirectiveKind::NoTransaction,
                scope: Scope::File,
            },
        );
    }
}

/// What a top-level entry turned out to be, before pairing.
struct Entry {
    vn: VersionName,
    path: PathBuf,
    kind: EntryKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    FlatUp,
    FlatDown,
    Single,
    Directory,
    FlywayUp,
    FlywayDown,
}

/// Loads every migration in `dir`.
///
/// Hidden entries and files that do not end in `.sql` at the top level are
/// ignored (a README or `checkpoints.toml` may sit beside the migrations); a
/// `.sql` file or a directory that is not a migration (no version, and
/// nothing that looks like one) is passed over with a warning.
pub fn load(dir: &Path) -> Result<Source, LoadError> {
    load_from(&Disk, dir)
}

/// Loads migrations embedded at build time (`migrate::embed!`), with the
/// same loader as [`load`]: paths in messages are those of the build.
pub fn load_embedded(embedded: &Embedded) -> Result<Source, LoadError> {
    load_from(&Tree::new(embedded), Path::new(embedded.dir))
}

fn load_from(files: &dyn Files, dir: &Path) -> Result<Source, LoadError> {
    let mut loader = Loader {
        files,
        problems: vec![],
        warnings: vec![],
        read: vec![],
    };
    let read_dir = match files.list(dir) {
        Ok(r) => r,
        Err(e) => {
            let message = if e.kind() == std::io::ErrorKind::NotFound {
                "the migrations directory does not exist: pass --source DIR, or create it with `migrate new <name>`".to_string()
            } else if files.is_file(dir) {
                "this is a file, not a directory: --source takes the directory that holds the migrations".to_string()
            } else {
                format!("cannot read the migrations directory: {e}")
            };
            loader.problem(dir, None, message);
            return Err(LoadError {
                problems: loader.problems,
            });
        }
    };
    let mut names: Vec<(String, PathBuf, Option<bool>)> = Vec::new();
    for entry in read_dir {
        match entry {
            Ok(entry) => match entry.name {
                Some(name) => names.push((name, entry.path, entry.is_dir)),
                None => loader.problem(&entry.path, None, "the file name is not UTF-8: rename it"),
            },
            Err(e) => loader.problem(dir, None, format!("cannot list the directory: {e}")),
        }
    }
    names.sort();

    let mut entries = Vec::new();
    for (name, path, listed_dir) in names {
        if name.starts_with('.') {
            continue;
        }
        let is_dir = match listed_dir.map_or_else(|| files.is_dir(&path), Ok) {
            Ok(d) => d,
            Err(e) => {
                loader.problem(
                    &path,
                    None,
                    format!("cannot read it (a broken or looping link?): {e}"),
                );
                continue;
            }
        };
        let (stem, kind) = if is_dir {
            (name.as_str(), EntryKind::Directory)
        } else if let Some(stem) = name.strip_suffix(".up.sql") {
            (stem, EntryKind::FlatUp)
        } else if let Some(stem) = name.strip_suffix(".down.sql") {
            (stem, EntryKind::FlatDown)
        } else if let Some(stem) = name.strip_suffix(".sql") {
            match parse_flyway_name(stem) {
                Some(Ok(FlywayName::Versioned(vn))) => {
                    entries.push(Entry {
                        vn,
                        path,
                        kind: EntryKind::FlywayUp,
                    });
                    continue;
                }
                Some(Ok(FlywayName::Undo(vn))) => {
                    entries.push(Entry {
                        vn,
                        path,
                        kind: EntryKind::FlywayDown,
                    });
                    continue;
                }
                Some(Ok(FlywayName::Repeatable)) => {
                    loader.warn(&path, "a Flyway repeatable migration (R__) has no version and no down: migrate does not run it; passed over");
                    continue;
                }
                Some(Err(message)) => {
                    loader.problem(&path, None, message);
                    continue;
                }
                None => (stem, EntryKind::Single),
            }
        } else {
            continue;
        };
        match parse_version_name(stem) {
            Ok(vn) => entries.push(Entry { vn, path, kind }),
            Err(message) => {
                if looks_like_migration(files, &path, stem, kind) {
                    loader.problem(&path, None, message);
                } else {
                    loader.warn(
                        &path,
                        format!(
                            "not a migration (its name has no version): passed over. {message}"
                        ),
                    );
                }
            }
        }
    }

    let mut migrations: Vec<Migration> = Vec::new();
    // Flat downs are paired with their ups by stem, Flyway undos with their
    // versioned files by version.
    // Indexed by kind and version: a linear search per up was quadratic.
    let mut downs: HashMap<(bool, i64), Vec<&Entry>> = HashMap::new();
    for e in &entries {
        if matches!(e.kind, EntryKind::FlatDown | EntryKind::FlywayDown) {
            downs
                .entry((e.kind == EntryKind::FlywayDown, e.vn.version))
                .or_default()
                .push(e);
        }
    }
    for entry in &entries {
        let migration = match entry.kind {
            EntryKind::FlatDown | EntryKind::FlywayDown => continue,
            EntryKind::FlatUp | EntryKind::FlywayUp => {
                let (down_kind, layout) = if entry.kind == EntryKind::FlatUp {
                    (EntryKind::FlatDown, Layout::Flat)
                } else {
                    (EntryKind::FlywayDown, Layout::Flyway)
                };
                let down_entry = downs
                    .get_mut(&(down_kind == EntryKind::FlywayDown, entry.vn.version))
                    .and_then(|same| {
                        let i = same.iter().position(|d| match layout {
                            Layout::Flat => d.vn == entry.vn,
                            _ => true,
                        })?;
                        Some(same.remove(i))
                    });
                let up = loader.flat_script(&entry.path, Direction::Up);
                let down = down_entry.and_then(|d| loader.flat_script(&d.path, Direction::Down));
                let (Some(up), down) = (up, down) else {
                    continue;
                };
                migration(
                    entry,
                    layout,
                    vec![Stage {
                        kind: StageKind::Main,
                        up,
                        down,
                    }],
                )
            }
            EntryKind::Single => match load_single(&mut loader, &entry.path) {
                Some(stage) => migration(entry, Layout::Single, vec![stage]),
                None => continue,
            },
            EntryKind::Directory => match load_dir(&mut loader, &entry.path) {
                Some((layout, stages)) => migration(entry, layout, stages),
                None => continue,
            },
        };
        migrations.push(migration);
    }
    for down in downs.into_values().flatten() {
        let up = match down.kind {
            EntryKind::FlywayDown => format!("V{}__{}.sql", down.vn.version_text, down.vn.name),
            _ => format!("{}_{}.up.sql", down.vn.version_text, down.vn.name),
        };
        loader.problem(
            &down.path,
            None,
            format!("this down has no up: add {up} beside it, or remove the down"),
        );
    }

    migrations.sort_by(|a, b| cmp_versions(a.version, b.version).then_with(|| a.path.cmp(&b.path)));
    warn_about_order(&mut loader, &migrations);
    for pair in migrations.windows(2) {
        if pair[0].version == pair[1].version {
            loader.problem(
                &pair[1].path,
                None,
                format!(
                    "version {} is also used by {}: each migration needs its own version; renumber one of them",
                    pair[1].version_text,
                    pair[0].path.display()
                ),
            );
        }
    }
    let mut source = Source {
        dir: dir.to_path_buf(),
        migrations,
        ..Source::default()
    };
    load_checkpoints(&mut loader, &mut source);
    source.baseline = baseline::load(&mut loader, &source.dir);
    source.warnings = std::mem::take(&mut loader.warnings);
    source.files = std::mem::take(&mut loader.read);
    // In the order read; `build` sorts them (comparing paths component by
    // component was a sixth of a no-op start-up's work).
    if loader.problems.is_empty() {
        Ok(source)
    } else {
        loader
            .problems
            .sort_by(|a, b| a.path.cmp(&b.path).then(a.line.cmp(&b.line)));
        Err(LoadError {
            problems: loader.problems,
        })
    }
}

/// Whether an entry whose name has no version was meant as a migration (its
/// name is then an error rather than something to pass over): a flat up or
/// down, a name that starts with a digit, or a directory holding a
/// migration's files.
fn looks_like_migration(files: &dyn Files, path: &Path, stem: &str, kind: EntryKind) -> bool {
    match kind {
        EntryKind::FlatUp | EntryKind::FlatDown => true,
        _ if stem.starts_with(|c: char| c.is_ascii_digit()) => true,
        EntryKind::Directory => DIR_FILES.iter().any(|f| files.is_file(&path.join(f))),
        _ => false,
    }
}

/// Warns about each pair of migrations that integers (sqlx, golang-migrate,
/// Flyway) would run in another order than [`cmp_versions`] does: long
/// versions of different lengths, where at least one of the two comes from
/// a tool that compares integers. (diesel and dbmate compare text, as
/// migrate does.)
fn warn_about_order(loader: &mut Loader, migrations: &[Migration]) {
    let integer_tool = |m: &Migration| matches!(m.layout, Layout::Flat | Layout::Flyway);
    let width = |m: &Migration| m.version_text.chars().filter(char::is_ascii_digit).count();
    if migrations.windows(2).all(|w| width(&w[0]) == width(&w[1])) {
        return;
    }
    let mut reported = 0;
    for (i, a) in migrations.iter().enumerate() {
        for b in &migrations[i + 1..] {
            if (integer_tool(a) || integer_tool(b)) && orders_disagree(a.version, b.version) {
                reported += 1;
                if reported <= 20 {
                    loader.warn_of(WarningKind::VersionOrder, &b.path, format!(
                        "{} runs after {}: long versions compare digit by digit as text, as diesel orders them; as integers (sqlx, golang-migrate) it would run before. Give both versions the same number of digits to make the order plain",
                        b.label(), a.label()
                    ));
                }
            }
        }
    }
}

/// `checkpoints.toml`: `name = "VERSION"` or `name = "VERSION:STAGE"`.
fn load_checkpoints(loader: &mut Loader, source: &mut Source) {
    let path = source.dir.join("checkpoints.toml");
    if !loader.files.is_file(&path) {
        return;
    }
    let Some(text) = loader.read(&path) else {
        return;
    };
    let table: std::collections::BTreeMap<String, String> = match toml::from_str(&text) {
        Ok(t) => t,
        Err(e) => {
            loader.problem(
                &path,
                None,
                format!("not a list of `name = \"VERSION[:STAGE]\"` entries: {e}"),
            );
            return;
        }
    };
    for (name, target) in table {
        let checked = crate::checkpoint::validate_name(&name)
            .and_then(|()| crate::checkpoint::state_of_source_target(source, &target));
        match checked {
            Ok(state) => {
                source.checkpoints.insert(name, state);
            }
            Err(e) => loader.problem(&path, None, format!("checkpoint `{name}`: {e}")),
        }
    }
}

fn migration(entry: &Entry, layout: Layout, stages: Vec<Stage>) -> Migration {
    Migration {
        version: entry.vn.version,
        version_text: entry.vn.version_text.clone(),
        name: entry.vn.name.clone(),
        layout,
        path: entry.path.clone(),
        stages,
    }
}

/// A dbmate-style file: `-- migrate:up` then, optionally, `-- migrate:down`.
/// dbmate's `transaction:false` option on a marker means no-transaction.
fn load_single(loader: &mut Loader, path: &Path) -> Option<Stage> {
    let text = loader.read(path)?;
    let mut up_marker: Option<(usize, usize, bool)> = None; // (start, end, no_tx)
    let mut down_marker: Option<(usize, usize, bool)> = None;
    let mut first_statement: Option<usize> = None;
    let mut ok = true;
    for token in tokenize(&text, Dialect::Generic) {
        match token.kind {
            TokenKind::LineComment => {
                let Some(body) = migrate_comment(&text[token.span.clone()]) else {
                    continue;
                };
                let mut words = body.split_whitespace();
                let word = words.next().unwrap_or("");
                if word != "up" && word != "down" {
                    continue;
                }
                let line = line_of(&text, token.span.start);
                let mut no_tx = false;
                for option in words {
                    match option {
                        "transaction:false" => no_tx = true,
                        "transaction:true" => {}
                        other => {
                            loader.problem(path, Some(line), format!("unknown option `{other}` on `-- migrate:{word}`: only transaction:false is understood"));
                            ok = false;
                        }
                    }
                }
                let marker = Some((token.span.start, token.span.end, no_tx));
                let slot = if word == "up" {
                    &mut up_marker
                } else {
                    &mut down_marker
                };
                if slot.is_some() {
                    loader.problem(path, Some(line), format!("a second `-- migrate:{word}` marker: a single-file migration has one up section and one down section"));
                    ok = false;
                } else {
                    *slot = marker;
                }
                if word == "up" && first_statement.is_some() {
                    loader.problem(path, Some(line), "statements stand before `-- migrate:up`: move them into the up or down section");
                    ok = false;
                }
                if word == "down" && up_marker.is_none() {
                    loader.problem(
                        path,
                        Some(line),
                        "`-- migrate:down` comes before `-- migrate:up`: put the up section first",
                    );
                    ok = false;
                }
            }
            _ if token.is_trivia() => {}
            _ => {
                first_statement.get_or_insert(token.span.start);
            }
        }
    }
    let Some((_, up_end, up_no_tx)) = up_marker else {
        if down_marker.is_none() && ok {
            // No markers at all: sqlx's "simple" migration (and refinery's):
            // the whole file is the up, and there is no down (a checker
            // finding, not a load error).
            let mut up = loader.script(path, text, 0, Direction::Up)?;
            honour_sqlx_no_transaction(&mut up);
            return Some(Stage {
                kind: StageKind::Main,
                up,
                down: None,
            });
        }
        loader.problem(path, None, "a single-file migration needs a `-- migrate:up` line above its up statements (and `-- migrate:down` above its down); or name it .up.sql");
        return None;
    };
    if !ok {
        return None;
    }
    let up_text_end = down_marker.map_or(text.len(), |(start, _, _)| start);
    let section = |from: usize, to: usize| -> (String, u32) {
        // A section starts on the line after its marker, so that its line
        // numbers map to the file's.
        let from = text[from..to].find('\n').map_or(to, |i| from + i + 1);
        (text[from..to].to_string(), line_of(&text, from) - 1)
    };
    // dbmate's `transaction:false` is our no-transaction, declared on the marker line.
    let no_transaction = |script: &mut Script, marker: usize| {
        script.directives.insert(
            0,
            Directive {
                line: line_of(&text, marker),
                kind: DirectiveKind::NoTransaction,
                scope: Scope::File,
            },
        );
    };
    let (up_sql, up_offset) = section(up_end, up_text_end);
    let mut up = loader.script(path, up_sql, up_offset, Direction::Up);
    if let Some(up) = up.as_mut().filter(|_| up_no_tx) {
        no_transaction(up, up_end - 1);
    }
    let down = match down_marker {
        Some((start, end, no_tx)) => {
            let (sql, offset) = section(end, text.len());
            let mut down = loader.script(path, sql, offset, Direction::Down)?;
            if no_tx {
                no_transaction(&mut down, start);
            }
            Some(down)
        }
        None => None,
    };
    Some(Stage {
        kind: StageKind::Main,
        up: up?,
        down,
    })
}

/// The files of a migration directory.
const DIR_FILES: [&str; 6] = [
    "up.sql",
    "down.sql",
    "expand.up.sql",
    "expand.down.sql",
    "contract.up.sql",
    "contract.down.sql",
];

/// diesel's `metadata.toml` beside `up.sql`: `run_in_transaction = false`
/// (what `diesel migration generate --no-transaction` writes) means
/// no-transaction; other keys are warned about. `None`: unreadable (a
/// problem was recorded).
fn read_metadata(loader: &mut Loader, path: &Path) -> Option<bool> {
    let text = loader.read(path)?;
    let table: toml::Table = match toml::from_str(&text) {
        Ok(t) => t,
        Err(e) => {
            loader.problem(path, None, format!("not valid TOML: {e}"));
            return None;
        }
    };
    let mut in_transaction = true;
    for (key, value) in &table {
        match (key.as_str(), value) {
            ("run_in_transaction", toml::Value::Boolean(b)) => in_transaction = *b,
            ("run_in_transaction", other) => {
                loader.problem(path, None, format!("`run_in_transaction` must be true or false, not a {}", other.type_str()));
                return None;
            }
            (other, _) => loader.warn(path, format!("`{other}` is not a setting migrate reads from diesel's metadata.toml (only run_in_transaction): ignored")),
        }
    }
    Some(in_transaction)
}

/// A migration directory: `up.sql` + `down.sql`, or the staged files, and
/// diesel's `metadata.toml`.
fn load_dir(loader: &mut Loader, dir: &Path) -> Option<(Layout, Vec<Stage>)> {
    const KNOWN: [&str; 6] = DIR_FILES;
    let mut present = [false; 6];
    let mut metadata = None;
    let mut ok = true;
    let read_dir = match loader.files.list(dir) {
        Ok(r) => r,
        Err(e) => {
            loader.problem(
                dir,
                None,
                format!("cannot read the migration directory: {e}"),
            );
            return None;
        }
    };
    for entry in read_dir.into_iter().flatten() {
        let name = entry.name.unwrap_or_else(|| {
            let name = entry.path.file_name().unwrap_or_default();
            name.to_string_lossy().into_owned()
        });
        if name.starts_with('.') || name.ends_with(".md") || name.ends_with(".txt") {
            continue;
        }
        if name == "metadata.toml" && loader.files.is_file(&entry.path) {
            match read_metadata(loader, &entry.path) {
                Some(in_transaction) => metadata = Some((entry.path.clone(), in_transaction)),
                None => ok = false,
            }
            continue;
        }
        match KNOWN.iter().position(|k| *k == name) {
            Some(i) if loader.files.is_file(&entry.path) => present[i] = true,
            None if !name.ends_with(".sql") => loader.warn(
                &entry.path,
                "not a migration file (a migration directory holds up.sql and down.sql, or the staged files): passed over",
            ),
            _ => {
                loader.problem(
                    &entry.path,
                    None,
                    "unknown file in a migration directory: it may hold up.sql and down.sql, or expand.up.sql, expand.down.sql, contract.up.sql and contract.down.sql",
                );
                ok = false;
            }
        }
    }
    let plain = present[0] || present[1];
    let staged = present[2..].iter().any(|&p| p);
    if plain && staged {
        loader.problem(
            dir,
            None,
            "the directory mixes up.sql/down.sql with staged files: use one or the other",
        );
        return None;
    }
    if !ok {
        return None;
    }
    let stage = |loader: &mut Loader, kind: StageKind, up: usize| -> Option<Option<Stage>> {
        let up_path = dir.join(KNOWN[up]);
        let down_path = dir.join(KNOWN[up + 1]);
        if !present[up] {
            if present[up + 1] {
                loader.problem(
                    &down_path,
                    None,
                    format!("this down has no up: add {} beside it", KNOWN[up]),
                );
                return None;
            }
            return Some(None);
        }
        let no_transaction = matches!(metadata, Some((_, false)));
        let read = |loader: &mut Loader, path: &Path, direction| {
            let mut script = loader.file_script(path, direction)?;
            if no_transaction {
                set_no_transaction(&mut script, 1);
            }
            Some(script)
        };
        let up_script = read(loader, &up_path, Direction::Up);
        let down_script = if present[up + 1] {
            Some(read(loader, &down_path, Direction::Down)?)
        } else {
            None
        };
        Some(Some(Stage {
            kind,
            up: up_script?,
            down: down_script,
        }))
    };
    if staged {
        let expand = stage(loader, StageKind::Expand, 2);
        let contract = stage(loader, StageKind::Contract, 4);
        let (expand, contract) = (expand?, contract?);
        let Some(expand) = expand else {
            loader.problem(dir, None, "a staged migration needs expand.up.sql (expand adds what the new application needs; contract removes what only the old one used)");
            return None;
        };
        Some((
            Layout::Staged,
            std::iter::once(expand).chain(contract).collect(),
        ))
    } else {
        match stage(loader, StageKind::Main, 0)? {
            Some(main) => Some((Layout::Dir, vec![main])),
            None => {
                loader.problem(dir, None, "the migration directory has no up.sql: add up.sql and down.sql (or expand.up.sql for a staged migration)");
                None
            }
        }
    }
}
