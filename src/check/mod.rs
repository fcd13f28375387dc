//! The static checker: lints every up/down pair for reversibility.
//!
//! Invariants:
//! - it never touches a database and never fails: SQL it cannot parse
//!   becomes a diagnostic, never a panic or an abort;
//! - every rule lives in `rules/<id>.rs` with its documentation and tests,
//!   and is listed once in [`registry::RULES`];
//! - a finding is suppressed only by an `-- migrate:allow <rule>: <reason>`
//!   with a reason, on its statement or its file; unused suppressions are
//!   reported.

pub mod config;
pub(crate) mod ir;
mod pg;
#[doc(hidden)]
pub mod registry;
pub(crate) mod rules;
pub(crate) mod schema;

#[cfg(test)]
mod robust;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::source::baseline::{self, Baseline};
use crate::source::{DirectiveKind, Migration, Scope, Script, Source, Stage, WarningKind};
use crate::sql::{Dialect, Statement, split};
use ir::{Action, Op, Read};
use schema::{Missing, Schema};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Shown, never fails a run.
    Info,
    /// Fails only with `--deny-warnings`.
    Warning,
    /// Fails the check.
    Error,
}

impl Severity {
    /// As written in output and settings.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Diagnostic {
    /// Rule id.
    pub rule: &'static str,
    /// Severity after settings.
    pub severity: Severity,
    /// File.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// Where the statement at fault ends: 1-based line and column of its
    /// last character (the start again for a finding about a whole file).
    pub end_line: u32,
    /// See `end_line`.
    pub end_column: u32,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
    /// The lines of the statement at fault (at most four),
    /// whole from their first column, for the human report.
    #[serde(skip)]
    pub excerpt: String,
    /// [`baseline::fingerprint`] of the statement (or file) it is about.
    #[serde(skip)]
    pub fingerprint: String,
    /// Accepted by the source's baseline (and so of severity info).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub baselined: bool,
}

/// Settings of a check run.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// SQL dialect.
    pub dialect: Dialect,
    /// Per-rule severity overrides; `None` turns a rule off.
    pub severities: BTreeMap<String, Option<Severity>>,
}

/// The result of a check.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Findings, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// Findings of severity error.
    pub fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Findings of severity warning.
    pub fn warnings(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }
}

/// A statement of a script, read.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    /// 1-based line in the file.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// 1-based line of its last character.
    pub end_line: u32,
    /// 1-based column of its last character.
    pub end_column: u32,
    /// Its lines, whole (at most four).
    pub excerpt: String,
    /// What it does.
    pub read: Read,
    /// `-- migrate:archive` stands above it.
    pub archived: bool,
    /// [`baseline::fingerprint`] of its text.
    pub fingerprint: String,
}

/// A finding before suppressions and settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Finding {
    /// Rule id.
    pub rule: &'static str,
    /// The script it is in.
    pub file: PathBuf,
    /// Line.
    pub line: u32,
    /// Column.
    pub column: u32,
    /// Line of the last character.
    pub end_line: u32,
    /// Column of the last character.
    pub end_column: u32,
    /// Excerpt.
    pub excerpt: String,
    /// Message.
    pub message: String,
    /// Help.
    pub help: String,
    /// Overrides the rule's default severity (an accepted decision is info).
    pub severity: Option<Severity>,
    /// [`baseline::fingerprint`] of the statement (or file) it is about.
    pub fingerprint: String,
}

/// What a rule sees of one stage.
pub(crate) struct StageCx<'a> {
    /// The migration.
    pub migration: &'a Migration,
    /// The stage.
    pub stage: &'a Stage,
    /// The dialect.
    pub dialect: Dialect,
    /// The up's statements.
    pub up: &'a [Stmt],
    /// The down's statements (`None` without a down; empty when declared irreversible).
    pub down: Option<&'a [Stmt]>,
    /// The schema before the stage (the objects the stage touches).
    pub before: &'a Schema,
    /// After the up.
    pub after_up: &'a Schema,
    /// After the up and the down.
    pub after_down: Option<&'a Schema>,
    /// Down statements that refer to something that will not exist then.
    pub down_missing: &'a [(usize, Missing)],
    /// Some statement could not be read: schema comparisons are skipped.
    pub uncertain: bool,
    /// A `DROP ... CASCADE` runs in the stage: it may drop more than the
    /// model sees, so what the model still holds after it is not certain
    /// (what it says is gone is).
    pub cascades: bool,
}

impl StageCx<'_> {
    /// `0003_add_x (main)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.migration.label(), self.stage.kind)
    }

    /// A finding at a statement of the up (`down == false`) or the down.
    pub fn at(
        &self,
        down: bool,
        stmt: &Stmt,
        rule: &'static str,
        message: String,
        help: String,
    ) -> Finding {
        let script = if down {
            self.stage.down.as_ref().expect("down")
        } else {
            &self.stage.up
        };
        Finding {
            rule,
            file: script.path.clone(),
            line: stmt.line,
            column: stmt.column,
            end_line: stmt.end_line,
            end_column: stmt.end_column,
            excerpt: stmt.excerpt.clone(),
            message,
            help,
            severity: None,
            fingerprint: stmt.fingerprint.clone(),
        }
    }

    /// A finding about a whole script.
    pub fn at_file(
        &self,
        script: &Script,
        rule: &'static str,
        message: String,
        help: String,
    ) -> Finding {
        Finding {
            rule,
            file: script.path.clone(),
            line: script.line_offset + 1,
            column: 1,
            end_line: script.line_offset + 1,
            end_column: 1,
            excerpt: String::new(),
            message,
            help,
            severity: None,
            fingerprint: baseline::fingerprint(&script.sql, self.dialect),
        }
    }

    /// Every statement of the up, then of the down, with `true` for the down's.
    pub fn statements(&self) -> impl Iterator<Item = (bool, &Stmt)> + '_ {
        let up = self.up.iter().map(|s| (false, s));
        up.chain(self.down.into_iter().flatten().map(|s| (true, s)))
    }

    /// The table existed before this stage.
    pub fn existed(&self, table: &str) -> bool {
        self.before.tables.contains_key(table)
    }

    /// The column existed before this stage.
    pub fn column_existed(&self, table: &str, column: &str) -> bool {
        self.before
            .tables
            .get(table)
            .is_some_and(|t| t.columns.contains_key(column) || t.opaque)
    }
}

/// Whether the `DROP TABLE table` at position `at` of `stmts` is part of a
/// table rebuild, and so loses nothing: its rows were copied into another
/// table before it (`INSERT INTO n ... SELECT ... FROM table`), which takes
/// its name after it (`ALTER TABLE n RENAME TO table`).
pub(crate) fn rebuilt(stmts: &[Stmt], at: usize, table: &str) -> bool {
    let copies: Vec<&str> = stmts[..at]
        .iter()
        .filter_map(|s| match &s.read.op {
            Op::Insert {
                table: into,
                from: Some(from),
            } if from == table => Some(into.as_str()),
            _ => None,
        })
        .collect();
    stmts[at + 1..].iter().any(|s| {
        matches!(&s.read.op, Op::RenameTable { from, to } if to == table && copies.contains(&from.as_str()))
    })
}

/// The objects a list of statements touches.
#[derive(Default)]
struct Touched {
    tables: BTreeSet<String>,
    indexes: BTreeSet<String>,
    views: BTreeSet<String>,
    /// Constraints named without their table (`ALTER INDEX ... RENAME`).
    constraints: BTreeSet<String>,
    /// Types renamed (canonical): the tables with columns of them.
    types: BTreeSet<String>,
    /// Function keys, or bare names (any signature).
    functions: BTreeSet<String>,
    /// Tables dropped or renamed (by their old name): the tables
    /// referencing them are read too.
    referenced: BTreeSet<String>,
}

impl Touched {
    fn touches_function(&self, key: &str) -> bool {
        self.functions.contains(key)
            || key
                .split_once('(')
                .is_some_and(|(name, _)| self.functions.contains(name))
    }
}

impl Touched {
    fn add(&mut self, op: &Op) {
        match op {
            Op::CreateTable { table, .. }
            | Op::AlterTable { table, .. }
            | Op::Delete { table, .. }
            | Op::Update { table, .. }
            | Op::Insert { table, .. } => {
                self.tables.insert(table.clone());
                if let Op::AlterTable { actions, .. } = op {
                    for a in actions {
                        if let Action::RenameTo(to) = a {
                            self.tables.insert(to.clone());
                            self.referenced.insert(table.clone());
                        }
                    }
                }
            }
            Op::DropTable { tables, .. } => {
                self.tables.extend(tables.iter().cloned());
                self.referenced.extend(tables.iter().cloned());
            }
            Op::Truncate { tables } => self.tables.extend(tables.iter().cloned()),
            Op::RenameTable { from, to } => {
                self.tables.insert(from.clone());
                self.tables.insert(to.clone());
                self.referenced.insert(from.clone());
            }
            Op::CreateIndex {
                name,
                table,
                columns,
                ..
            } => {
                self.tables.insert(table.clone());
                self.indexes.insert(
                    name.clone()
                        .unwrap_or_else(|| schema::implicit_index_name(table, columns)),
                );
            }
            Op::DropIndex { names, .. } => self.indexes.extend(names.iter().cloned()),
            Op::CreateFunction { key, .. } => {
                self.functions.insert(key.clone());
            }
            Op::DropFunction { keys } => self.functions.extend(keys.iter().cloned()),
            Op::RenameType { from: ty, .. } | Op::RenameEnumValue { ty, .. } => {
                self.types.insert(ir::canonical_type(ty));
            }
            Op::RenameIndex { from, to, .. } => {
                // The index, or the UNIQUE / PRIMARY KEY constraint it backs
                // (whose table `project` adds).
                self.indexes.insert(from.clone());
                self.indexes.insert(to.clone());
                self.constraints.insert(from.clone());
            }
            Op::CreateView {
                name, wildcards, ..
            } => {
                self.views.insert(name.clone());
                // What its `*` stands for is read from those tables.
                self.tables.extend(wildcards.iter().flatten().cloned());
            }
            Op::DropView { names, .. } => self.views.extend(names.iter().cloned()),
            Op::NoTransactionOnly { .. } | Op::DropSchema { .. } | Op::Other => {}
        }
    }

    /// The part of `s` these statements touch, with the tables related to
    /// them: those referencing a table dropped or renamed, those holding a
    /// constraint renamed, those with columns of a type renamed.
    /// `fk_tables` are the tables of `s` with a foreign key.
    fn project(&mut self, s: &Schema, fk_tables: &BTreeSet<String>) -> Schema {
        let related = |touched: &Touched, t: &schema::Table| {
            t.constraints.iter().any(|(c, spec)| {
                touched.constraints.contains(c)
                    || matches!(spec, ir::ConstraintSpec::ForeignKey(_, to) if touched.referenced.contains(to))
            }) || t.columns.values().any(|c| {
                touched
                    .types
                    .contains(c.ty.strip_suffix("[]").unwrap_or(&c.ty))
            })
        };
        let mut found = Vec::new();
        if !self.constraints.is_empty() || !self.types.is_empty() {
            found.extend(
                s.tables
                    .iter()
                    .filter(|(_, t)| related(self, t))
                    .map(|(n, _)| n),
            );
        } else if !self.referenced.is_empty() {
            // Only tables with a foreign key can reference one: looking at
            // every table was most of the replay of a thousand migrations.
            found.extend(
                fk_tables
                    .iter()
                    .filter(|n| s.tables.get(*n).is_some_and(|t| related(self, t))),
            );
        }
        for name in found {
            self.tables.insert(name.clone());
        }
        let mut out = Schema {
            unnamed_primary: s.unnamed_primary,
            ..Schema::default()
        };
        for t in &self.tables {
            if let Some(table) = s.tables.get(t) {
                out.tables.insert(t.clone(), table.clone());
            }
        }
        for (name, i) in &s.indexes {
            if self.indexes.contains(name)
                || self.tables.contains(&i.table)
                || self.views.contains(&i.table)
            {
                out.indexes.insert(name.clone(), i.clone());
            }
        }
        for v in &self.views {
            if let Some(def) = s.views.get(v) {
                out.views.insert(v.clone(), def.clone());
            }
        }
        for (k, f) in &s.functions {
            if self.touches_function(k) {
                out.functions.insert(k.clone(), f.clone());
            }
        }
        out
    }

    /// Writes the projected schema back into the whole.
    fn merge(&self, whole: &mut Schema, part: &Schema) {
        whole.functions.retain(|k, _| !self.touches_function(k));
        for (k, f) in &part.functions {
            whole.functions.insert(k.clone(), f.clone());
        }
        for t in &self.tables {
            match part.tables.get(t) {
                Some(table) => {
                    whole.tables.insert(t.clone(), table.clone());
                }
                None => {
                    whole.tables.remove(t);
                }
            }
        }
        whole.indexes.retain(|name, i| {
            !(self.indexes.contains(name)
                || self.tables.contains(&i.table)
                || self.views.contains(&i.table))
        });
        for (name, i) in &part.indexes {
            whole.indexes.insert(name.clone(), i.clone());
        }
        for v in &self.views {
            match part.views.get(v) {
                Some(def) => {
                    whole.views.insert(v.clone(), def.clone());
                }
                None => {
                    whole.views.remove(v);
                }
            }
        }
    }
}

/// Reads one statement; a panic inside a parser becomes that statement's
/// `unparsed-statement` (read at token level), so nothing else moves.
fn read_guarded(s: &Statement, sql: &str, dialect: Dialect) -> Read {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ir::read(s, sql, dialect)))
        .unwrap_or_else(|_| ir::read_tokens_only(s, sql, "the parser failed on it"))
}

/// What `table.column` was called before `earlier` (the statements before
/// it in its script) renamed it: a type change after a rename is a change
/// of the column the stage started with.
pub(crate) fn name_before(earlier: &[Stmt], table: &str, column: &str) -> String {
    let mut name = column.to_string();
    for s in earlier.iter().rev() {
        if let Op::AlterTable {
            table: t, actions, ..
        } = &s.read.op
            && t == table
        {
            for a in actions.iter().rev() {
                if let Action::RenameColumn { from, to } = a
                    && *to == name
                {
                    name = from.clone();
                }
            }
        }
    }
    name
}

/// The most lines of a statement a finding shows.
pub(crate) const EXCERPT_LINES: usize = 4;

/// Reads every statement of a script.
fn read_script(script: &Script, dialect: Dialect) -> Vec<Stmt> {
    let statements: Vec<Statement> = split(&script.sql, dialect);
    statements
        .iter()
        .map(|s| {
            let sql = &script.sql;
            let line_start = sql[..s.span.start].rfind('\n').map_or(0, |i| i + 1);
            let line = script.line_offset + s.line;
            // The last character (not a trailing `;` or space).
            let text = s.text(sql);
            let last = s.span.start + text.trim_end().len().max(1) - 1;
            let last = (0..=last)
                .rev()
                .find(|i| sql.is_char_boundary(*i))
                .unwrap_or(0);
            let last_line_start = sql[..last].rfind('\n').map_or(0, |i| i + 1);
            let lines_end = sql[last..].find('\n').map_or(sql.len(), |i| last + i);
            Stmt {
                line,
                column: sql[line_start..s.span.start].chars().count() as u32 + 1,
                end_line: line + sql[s.span.start..last].matches('\n').count() as u32,
                end_column: sql[last_line_start..last].chars().count() as u32 + 1,
                excerpt: sql[line_start..lines_end]
                    .lines()
                    .take(EXCERPT_LINES)
                    .collect::<Vec<_>>()
                    .join("\n"),
                read: read_guarded(s, &script.sql, dialect),
                archived: script
                    .directives_for(line)
                    .any(|d| d.kind == DirectiveKind::Archive),
                fingerprint: baseline::fingerprint(s.text(&script.sql), dialect),
            }
        })
        .collect()
}

/// A stage's up and down, read.
type ReadStage = (Vec<Stmt>, Option<Vec<Stmt>>);

/// Reads all scripts, on every core: parsing is most of the work.
fn read_all(source: &Source, dialect: Dialect) -> Vec<Vec<ReadStage>> {
    let migrations = &source.migrations;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = migrations.len().div_ceil(threads).max(1);
    let read_one = |m: &Migration| -> Vec<ReadStage> {
        m.stages
            .iter()
            .map(|s| {
                (
                    read_script(&s.up, dialect),
                    s.down.as_ref().map(|d| read_script(d, dialect)),
                )
            })
            .collect()
    };
    if threads == 1 || migrations.len() < 64 {
        return migrations.iter().map(read_one).collect();
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = migrations
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(read_one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Checks every migration of `source`.
pub fn check(source: &Source, options: &CheckOptions) -> Report {
    let read = read_all(source, options.dialect);
    let mut whole = Schema {
        unnamed_primary: matches!(options.dialect, Dialect::Mysql | Dialect::Sqlite),
        ..Schema::default()
    };
    let mut findings: Vec<Finding> = Vec::new();
    // The tables of `whole` with a foreign key, kept as stages change them.
    let mut fk_tables: BTreeSet<String> = BTreeSet::new();
    for (m, stages) in source.migrations.iter().zip(&read) {
        for (stage, (up, down)) in m.stages.iter().zip(stages) {
            let mut touched = Touched::default();
            for s in up.iter().chain(down.iter().flatten()) {
                touched.add(&s.read.op);
            }
            let before = touched.project(&whole, &fk_tables);
            let mut after_up = before.clone();
            for s in up {
                after_up.apply(&s.read.op);
            }
            let mut down_missing = Vec::new();
            let after_down = down.as_ref().map(|down| {
                let mut after = after_up.clone();
                for (i, s) in down.iter().enumerate() {
                    // PostgreSQL only: MySQL skips the check under
                    // FOREIGN_KEY_CHECKS = 0 (dumps, init-sql), which the
                    // checker may not see; SQLite deletes the child rows.
                    if let Op::DropTable { tables, .. } = &s.read.op
                        && !s.read.cascades
                        && options.dialect == Dialect::Postgres
                    {
                        for missing in after.references_to(tables) {
                            down_missing.push((i, missing));
                        }
                    }
                    for missing in after.apply(&s.read.op) {
                        down_missing.push((i, missing));
                    }
                }
                after
            });
            let uncertain = up.iter().chain(down.iter().flatten()).any(|s| {
                s.read.parse_error.is_some()
                    || s.read.syntax_error.is_some()
                    || matches!(&s.read.op, Op::AlterTable { actions, .. } if actions.contains(&Action::Other))
            });
            let cascades = up
                .iter()
                .chain(down.iter().flatten())
                .any(|s| s.read.cascades);
            let cx = StageCx {
                migration: m,
                stage,
                dialect: options.dialect,
                up,
                down: down.as_deref(),
                before: &before,
                after_up: &after_up,
                after_down: after_down.as_ref(),
                down_missing: &down_missing,
                uncertain,
                cascades,
            };
            for rule in registry::RULES {
                if let Some(run) = rule.stage {
                    run(&cx, &mut findings);
                }
            }
            touched.merge(&mut whole, &after_up);
            for t in &touched.tables {
                if whole.tables.get(t).is_some_and(|t| {
                    t.constraints
                        .values()
                        .any(|c| matches!(c, ir::ConstraintSpec::ForeignKey(..)))
                }) {
                    fk_tables.insert(t.clone());
                } else {
                    fk_tables.remove(t);
                }
            }
        }
    }
    for w in &source.warnings {
        findings.push(Finding {
            rule: match w.kind {
                WarningKind::IgnoredFile => rules::ignored_file::ID,
                WarningKind::VersionOrder => rules::version_order::ID,
            },
            file: w.path.clone(),
            line: 1,
            column: 1,
            end_line: 1,
            end_column: 1,
            excerpt: String::new(),
            message: w.message.clone(),
            help: match w.kind {
                WarningKind::IgnoredFile => "move it out of the migrations directory, or give it a version if it is a migration",
                WarningKind::VersionOrder => "give the versions the same number of digits",
            }
            .into(),
            severity: None,
            fingerprint: baseline::fingerprint(&w.message, Dialect::Generic),
        });
    }
    finish(source, findings, options)
}

/// Applies suppressions and settings, adds the suppression findings, sorts.
fn finish(source: &Source, findings: Vec<Finding>, options: &CheckOptions) -> Report {
    // Every allow directive, with the rules it suppressed something for.
    let mut allows: Vec<(&Script, &crate::source::Directive, BTreeSet<&'static str>)> = Vec::new();
    for m in &source.migrations {
        for s in &m.stages {
            for script in std::iter::once(&s.up).chain(s.down.as_ref()) {
                for d in &script.directives {
                    if matches!(d.kind, DirectiveKind::Allow { .. }) {
                        allows.push((script, d, BTreeSet::new()));
                    }
                }
            }
        }
    }
    // The allows of each file: a finding only looks at its own file's
    // (1,000 migrations with an allow each would otherwise cost a million
    // path comparisons).
    let mut by_file: std::collections::HashMap<&Path, Vec<usize>> = Default::default();
    for (i, (script, _, _)) in allows.iter().enumerate() {
        by_file.entry(script.path.as_path()).or_default().push(i);
    }
    let mut kept = Vec::new();
    for f in findings {
        let mut suppressed = false;
        for &i in by_file.get(f.file.as_path()).into_iter().flatten() {
            let (_, d, used) = &mut allows[i];
            let DirectiveKind::Allow { rules, reason } = &d.kind else {
                continue;
            };
            let covers = rules.iter().any(|r| r == f.rule)
                && match d.scope {
                    Scope::File => true,
                    Scope::Statement { line } => line == f.line,
                };
            if covers && !reason.trim().is_empty() {
                used.insert(f.rule);
                suppressed = true;
            }
        }
        if !suppressed {
            kept.push(f);
        }
    }
    for (script, d, used) in &allows {
        let DirectiveKind::Allow { rules, reason } = &d.kind else {
            continue;
        };
        let at = |rule: &'static str, message: String, help: String| Finding {
            rule,
            file: script.path.clone(),
            line: d.line,
            column: 1,
            end_line: d.line,
            end_column: 1,
            excerpt: String::new(),
            message,
            help,
            severity: None,
            fingerprint: String::new(),
        };
        if reason.trim().is_empty() {
            kept.push(at(
                rules::suppression_without_reason::ID,
                format!("`-- migrate:allow {}` gives no reason, so it suppresses nothing", rules.join(", ")),
                "write why the risk is accepted after a colon: `-- migrate:allow lossy-down: the table was always empty`".into(),
            ));
            continue;
        }
        let unknown: Vec<&String> = rules
            .iter()
            .filter(|r| registry::rule(r).is_none())
            .collect();
        if !unknown.is_empty() {
            kept.push(at(
                rules::unused_suppression::ID,
                format!(
                    "`-- migrate:allow` names unknown rule{} {}",
                    if unknown.len() == 1 { "" } else { "s" },
                    unknown
                        .iter()
                        .map(|r| format!("`{r}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "`migrate check --list-rules` lists the rule ids".into(),
            ));
        } else if !used.is_empty() {
            let idle: Vec<&String> = rules
                .iter()
                .filter(|r| !used.contains(r.as_str()))
                .collect();
            if !idle.is_empty() {
                let names = idle
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                kept.push(at(
                    rules::unused_suppression::ID,
                    format!(
                        "`-- migrate:allow {}` suppresses nothing here for {names}",
                        rules.join(", ")
                    ),
                    format!("remove {names} from it: a rule allowed where it does not fire hides the next real finding"),
                ));
            }
        } else {
            // At the top of a file, directly above the first statement, an
            // allow covers that statement only; people often mean the file.
            let before = (d.line.saturating_sub(script.line_offset + 1)) as usize;
            let at_top = script.sql.lines().take(before).all(|l| {
                let l = l.trim_start();
                l.is_empty() || l.starts_with("--")
            });
            let help = match d.scope {
                Scope::Statement { line } if at_top => format!(
                    "it covers only the statement directly below it (line {line}); to cover the whole file, leave a blank line between it and the first statement"
                ),
                _ => "remove it, or move it directly above the statement it is for".into(),
            };
            kept.push(at(
                rules::unused_suppression::ID,
                format!(
                    "`-- migrate:allow {}` suppresses nothing here",
                    rules.join(", ")
                ),
                help,
            ));
        }
    }
    let mut diagnostics: Vec<Diagnostic> = kept
        .into_iter()
        .filter_map(|f| {
            let rule = registry::rule(f.rule)?;
            let severity = match options.severities.get(f.rule) {
                Some(None) => return None,
                Some(Some(s)) => *s,
                None => f.severity.unwrap_or(rule.severity),
            };
            Some(Diagnostic {
                rule: rule.id,
                severity,
                file: f.file.display().to_string(),
                line: f.line,
                column: f.column,
                end_line: f.end_line,
                end_column: f.end_column,
                message: f.message,
                help: f.help,
                excerpt: f.excerpt,
                fingerprint: f.fingerprint,
                baselined: false,
            })
        })
        .collect();
    if let Some(b) = &source.baseline {
        apply_baseline(source, b, &mut diagnostics);
    }
    diagnostics.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.rule).cmp(&(&b.file, b.line, b.column, b.rule))
    });
    diagnostics.dedup();
    Report { diagnostics }
}

/// Findings the baseline lists (same file, rule and statement) become info,
/// "accepted (baseline)"; a finding of a rule the baseline lists for that
/// file, on a statement that has changed, stays and says so; entries that
/// match nothing are reported as unused.
fn apply_baseline(source: &Source, baseline: &Baseline, diagnostics: &mut Vec<Diagnostic>) {
    let mut used = vec![false; baseline.accepted.len()];
    let mut by_key: std::collections::HashMap<(&str, &str), Vec<usize>> = Default::default();
    for (i, e) in baseline.accepted.iter().enumerate() {
        by_key
            .entry((e.file.as_str(), e.rule.as_str()))
            .or_default()
            .push(i);
    }
    for d in diagnostics.iter_mut() {
        if d.severity == Severity::Info {
            continue;
        }
        let file = baseline::relative(&source.dir, Path::new(&d.file));
        let Some(entries) = by_key.get(&(file.as_str(), d.rule)) else {
            continue;
        };
        // One entry per finding: two findings on one statement have two
        // entries, so take an unused one first.
        let matching = |i: &&usize| baseline.accepted[**i].statement == d.fingerprint;
        let entry = entries
            .iter()
            .filter(matching)
            .find(|&&i| !used[i])
            .or_else(|| entries.iter().find(matching));
        match entry {
            Some(&i) => {
                used[i] = true;
                d.severity = Severity::Info;
                d.baselined = true;
                d.message = format!("accepted (baseline): {}", d.message);
            }
            None => {
                d.help = format!(
                    "{}; {} accepted a `{}` finding in this file for a statement that has changed since: a changed statement is checked again",
                    d.help,
                    baseline::FILE,
                    d.rule
                );
            }
        }
    }
    let path = source.dir.join(baseline::FILE).display().to_string();
    for (e, _) in baseline.accepted.iter().zip(&used).filter(|(_, u)| !**u) {
        diagnostics.push(Diagnostic {
            rule: rules::unused_suppression::ID,
            severity: registry::rule(rules::unused_suppression::ID).map_or(Severity::Warning, |r| r.severity),
            file: path.clone(),
            line: 1,
            column: 1,
            end_line: 1,
            end_column: 1,
            message: format!(
                "the baseline accepts a `{}` finding in {} that is no longer found (statement {})",
                e.rule, e.file, e.statement
            ),
            help: "the statement was fixed, edited or removed: run `migrate baseline --reason ...` again to rewrite the baseline".into(),
            excerpt: String::new(),
            fingerprint: String::new(),
            baselined: false,
        });
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for rule tests: migrations from strings, checked.

    use super::*;
    use crate::source::{Direction, Layout, Stage, StageKind};

    /// A migration: name, up, down (`None` for none).
    pub type Spec<'a> = (&'a str, &'a str, Option<&'a str>);

    fn script(path: String, sql: &str, d: Direction) -> Script {
        Script::from_sql(path, sql.to_string(), 0, d).expect("test SQL has valid directives")
    }

    /// A source of simple migrations, versions 1, 2, ...
    pub fn source(specs: &[Spec]) -> Source {
        Source {
            dir: PathBuf::from("m"),
            migrations: specs
                .iter()
                .enumerate()
                .map(|(i, (name, up, down))| Migration {
                    version: i as i64 + 1,
                    version_text: format!("{:04}", i + 1),
                    name: name.to_string(),
                    layout: Layout::Flat,
                    path: PathBuf::from(format!("m/{:04}_{name}.up.sql", i + 1)),
                    stages: vec![Stage {
                        kind: StageKind::Main,
                        up: script(format!("m/{:04}_{name}.up.sql", i + 1), up, Direction::Up),
                        down: down.map(|d| {
                            script(
                                format!("m/{:04}_{name}.down.sql", i + 1),
                                d,
                                Direction::Down,
                            )
                        }),
                    }],
                })
                .collect(),
            ..Default::default()
        }
    }

    /// A source whose last migration is staged: (expand up, expand down, contract up, contract down).
    pub fn staged(before: &[Spec], expand: (&str, &str), contract: (&str, &str)) -> Source {
        let mut src = source(before);
        let v = src.migrations.len() as i64 + 1;
        let p = |f: &str| format!("m/{v:04}_staged/{f}");
        src.migrations.push(Migration {
            version: v,
            version_text: format!("{v:04}"),
            name: "staged".into(),
            layout: Layout::Staged,
            path: PathBuf::from(format!("m/{v:04}_staged")),
            stages: vec![
                Stage {
                    kind: StageKind::Expand,
                    up: script(p("expand.up.sql"), expand.0, Direction::Up),
                    down: Some(script(p("expand.down.sql"), expand.1, Direction::Down)),
                },
                Stage {
                    kind: StageKind::Contract,
                    up: script(p("contract.up.sql"), contract.0, Direction::Up),
                    down: Some(script(p("contract.down.sql"), contract.1, Direction::Down)),
                },
            ],
        });
        src
    }

    /// The findings of `rule` in `src` (PostgreSQL dialect).
    pub fn findings(rule: &str, src: &Source) -> Vec<Diagnostic> {
        let opts = CheckOptions {
            dialect: Dialect::Postgres,
            ..CheckOptions::default()
        };
        check(src, &opts)
            .diagnostics
            .into_iter()
            .filter(|d| d.rule == rule)
            .collect()
    }

    /// The schema most pattern tables start from: two tables with keys, a
    /// foreign key, a nullable and a NOT NULL column, a default.
    pub const BASE: Spec<'static> = (
        "base",
        "CREATE TABLE users (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL, name VARCHAR(100), \
         created_at TIMESTAMP NOT NULL DEFAULT now());\n\
         CREATE TABLE posts (id SERIAL PRIMARY KEY, user_id BIGINT NOT NULL REFERENCES users (id), \
         title TEXT NOT NULL, body TEXT);",
        Some(
            "-- migrate:allow lossy-down: the fixture's base\nDROP TABLE posts;\n\
             -- migrate:allow lossy-down: the fixture's base\nDROP TABLE users;",
        ),
    );

    /// One real-world pattern: a name, the up, the down, and whether `rule`
    /// flags that pair.
    pub type Case<'a> = (&'a str, &'a str, Option<&'a str>, bool);

    /// Runs each case as the migration after `base`, and asserts that
    /// `rule` flags its files exactly when the case says so.
    #[track_caller]
    pub fn cases(rule: &str, base: &[Spec], cases: &[Case]) {
        let mut wrong = Vec::new();
        for (name, up, down, flags) in cases {
            let mut specs = base.to_vec();
            specs.push((name, up, *down));
            let found: Vec<Diagnostic> = findings(rule, &source(&specs))
                .into_iter()
                .filter(|d| d.file.contains(&format!("_{name}.")))
                .collect();
            if found.is_empty() == *flags {
                wrong.push(format!(
                    "{name}: expected {}, got {:?}",
                    if *flags { "a finding" } else { "none" },
                    found.iter().map(|d| &d.message).collect::<Vec<_>>()
                ));
            }
        }
        assert!(wrong.is_empty(), "{rule}:\n{}", wrong.join("\n"));
    }

    /// Asserts `rule` finds nothing.
    #[track_caller]
    pub fn ok(rule: &str, src: &Source) {
        let f = findings(rule, src);
        assert!(f.is_empty(), "{rule} should find nothing, found: {f:#?}");
    }

    /// Asserts `rule` finds something, and returns the first message.
    #[track_caller]
    pub fn err(rule: &str, src: &Source) -> String {
        let f = findings(rule, src);
        assert!(!f.is_empty(), "{rule} should find something");
        f[0].message.clone()
    }
}
