//! Drills: proof on a scratch database that every stage survives up, down,
//! up, with its data.
//!
//! For each stage: seed every table, apply the up, seed again (new tables
//! and columns get data the application would have written), take the
//! schema and a fingerprint of every table, apply the down, compare what
//! existed before (schema and data), re-apply the up and compare the data
//! written after the first up. Column order is never a difference.
//!
//! Invariants: a drill never touches an existing database's data: SQLite
//! drills run in memory, server drills in a new database that is dropped at
//! the end, whatever happened.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::driver::{Backend, ConnectOptions, Driver, SchemaItem, TableInfo};
use crate::error::Error;
use crate::plan::StageFilter;
use crate::redact::redact_url;
use crate::runner::{DownRequest, DownSpec, RunOptions, Runner, Target, UpRequest};
use crate::source::{Source, StageKind, cmp_versions};

/// What a drill found for one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Verdict {
    /// Up, down and up again, nothing lost.
    Ok,
    /// The up failed, even on emptied tables: the drill stops there.
    UpFailed,
    /// The up fails once its tables hold rows (a constraint or type change
    /// the seeded rows break) and succeeds on emptied tables: what a team
    /// with production data would hit. The drill goes on.
    UpFailsOnData,
    /// The down failed.
    DownFailed,
    /// After the down, the schema is not what it was.
    SchemaDiffers,
    /// Data was lost or changed by the down (or not brought back by the up).
    DataLost,
    /// Declared irreversible or without a down: skipped, the drill goes on from the applied state.
    NotReversible,
    /// The drill could not read or seed the database at this stage (the
    /// message says why): it stops there.
    Error,
    /// Not drilled: an earlier stage left the database where later stages
    /// cannot be applied (its details name that stage).
    NotReached,
}

impl Verdict {
    /// As printed.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::UpFailed => "up failed",
            Verdict::UpFailsOnData => "up fails on existing data",
            Verdict::DownFailed => "down failed",
            Verdict::SchemaDiffers => "schema differs",
            Verdict::DataLost => "data lost",
            Verdict::NotReversible => "not reversible",
            Verdict::Error => "drill error",
            Verdict::NotReached => "not reached",
        }
    }

    /// Whether this verdict fails the drill (a stage not reached is
    /// counted by the failure that stopped the drill, not again).
    pub fn failed(self) -> bool {
        !matches!(
            self,
            Verdict::Ok | Verdict::NotReversible | Verdict::NotReached
        )
    }
}

/// One stage's result.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StageDrill {
    /// Version.
    pub version: i64,
    /// `0003_add_x`.
    pub migration: String,
    /// Stage.
    pub stage: StageKind,
    /// The verdict.
    pub verdict: Verdict,
    /// Every difference or error.
    pub details: Vec<String>,
    /// Tables that could not be seeded, and why.
    pub unseeded: Vec<String>,
    /// Wall time.
    pub duration_ms: u64,
}

/// A whole drill.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DrillReport {
    /// Where it ran (redacted).
    pub scratch: String,
    /// Per stage, in order.
    pub stages: Vec<StageDrill>,
}

impl DrillReport {
    /// Stages with a failing verdict.
    pub fn failures(&self) -> usize {
        self.stages.iter().filter(|s| s.verdict.failed()).count()
    }
}

/// Drill settings.
#[derive(Debug, Clone, Default)]
pub struct DrillOptions {
    /// Apply the migrations before this version without drilling them.
    pub from: Option<i64>,
    /// History table prefix.
    pub table_prefix: Option<String>,
    /// The URL's server was chosen for scratch databases on purpose
    /// (`--scratch-url`): the drill may run there even though the URL's
    /// own database holds a migrate history. Without it, such a server
    /// (production, most likely) is refused.
    pub scratch_chosen: bool,
    /// Statements run at the start of every stage, as `up` runs them
    /// (`init-sql`): a drill applies migrations the way the runner does.
    pub init_sql: Vec<String>,
}

/// Drills `source`. `url` names a server (a scratch database is created on
/// it and dropped) or SQLite (the drill runs in memory); `None` is SQLite.
/// `on` is called after each stage with its result, its number and the total.
pub async fn drill(
    url: Option<&str>,
    source: &Source,
    options: &DrillOptions,
    on: &mut (dyn FnMut(&StageDrill, usize, usize) + Send),
) -> Result<DrillReport, Error> {
    let connect = ConnectOptions {
        table_prefix: options
            .table_prefix
            .clone()
            .unwrap_or_else(|| ConnectOptions::default().table_prefix),
        init_sql: options.init_sql.clone(),
        ..ConnectOptions::default()
    };
    let backend = url
        .map(Backend::from_url)
        .transpose()?
        .unwrap_or(Backend::Sqlite);
    if backend == Backend::Sqlite {
        return run(":memory:", "sqlite::memory:", source, options, &connect, on).await;
    }
    let url = url.expect("a server backend comes from a URL");
    let mut admin = Driver::connect(url, &connect).await?;
    if !options.scratch_chosen {
        let history = admin.read_history_summary().await;
        if matches!(history, Ok(Some(_))) {
            admin.close().await;
            return Err(Error::BadInput(format!(
                "the drill makes a scratch database on the server of {}, whose database holds a migrate history (a production database?). Name a server you can spare with --scratch-url URL (it may be this one, if you mean it), or leave the URL out to drill SQLite-dialect migrations in memory",
                redact_url(url)
            )));
        }
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!("migrate_drill_{}_{nanos}", std::process::id());
    let scratch = admin.create_scratch_database(&name).await?;
    tracing::info!(database = %name, "scratch database created");
    let result = run(&name, &scratch, source, options, &connect, on).await;
    // Dropped whatever happened; a failure to drop is reported, not hidden.
    let dropped = admin.drop_scratch_database(&name).await;
    admin.close().await;
    let report = result?;
    dropped?;
    Ok(report)
}

async fn run(
    label: &str,
    url: &str,
    source: &Source,
    options: &DrillOptions,
    connect: &ConnectOptions,
    on: &mut (dyn FnMut(&StageDrill, usize, usize) + Send),
) -> Result<DrillReport, Error> {
    let mut runner = Runner::connect(url, source.clone(), connect, RunOptions::default()).await?;
    let scratch = if url == "sqlite::memory:" {
        "sqlite::memory:".to_string()
    } else {
        format!("{} ({label})", redact_url(url))
    };
    // What init-sql makes (a table the migrations expect) exists before the
    // first snapshot, as it would on a database `up` has run on: it is not
    // something a stage left over.
    let mut result = Ok(());
    for sql in &connect.init_sql {
        result = runner.driver().exec_internal(sql, "running init-sql").await;
        if result.is_err() {
            break;
        }
    }
    let result = match result {
        Ok(()) => stages(&mut runner, source, options, on).await,
        Err(e) => Err(e),
    };
    runner.close().await;
    Ok(DrillReport {
        scratch,
        stages: result?,
    })
}

fn up_request(version: i64, stage: StageKind) -> UpRequest {
    UpRequest {
        to: Some(Target::Version(version)),
        stages: match stage {
            StageKind::Contract => StageFilter::Contract,
            _ => StageFilter::Expand,
        },
        checkpoint: None,
        no_check: Some("drill".into()),
        verify: None,
    }
}

type Data = crate::driver::Fingerprints;

/// The tables a stage's up and down name, or `None` when some statement
/// could not be read (then every table is watched).
fn touched_tables(
    stage: &crate::source::Stage,
    dialect: crate::sql::Dialect,
) -> Option<BTreeSet<String>> {
    use crate::check::ir::{Op, read};
    let mut out = BTreeSet::new();
    for script in std::iter::once(&stage.up).chain(stage.down.as_ref()) {
        for st in crate::sql::split(&script.sql, dialect) {
            let r = read(&st, &script.sql, dialect);
            if r.parse_error.is_some() {
                return None;
            }
            match r.op {
                Op::CreateTable { table, .. }
                | Op::AlterTable { table, .. }
                | Op::Delete { table, .. }
                | Op::Update { table, .. }
                | Op::Insert { table, .. } => {
                    out.insert(table);
                }
                Op::CreateIndex { table, .. } => {
                    out.insert(table);
                }
                Op::DropTable { tables, .. } | Op::Truncate { tables } => out.extend(tables),
                Op::RenameTable { from, to } => {
                    out.insert(from);
                    out.insert(to);
                }
                Op::DropIndex { .. }
                | Op::RenameIndex { .. }
                | Op::RenameType { .. }
                | Op::RenameEnumValue { .. }
                | Op::CreateFunction { .. }
                | Op::DropFunction { .. }
                | Op::CreateView { .. }
                | Op::DropView { .. }
                | Op::NoTransactionOnly { .. }
                | Op::DropSchema { cascade: false, .. } => {}
                // Which tables went with it is not known: watch them all.
                Op::DropSchema { cascade: true, .. } => return None,
                Op::Other => {
                    let first = st
                        .words(&script.sql)
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    if !matches!(
                        first.as_str(),
                        "SELECT"
                            | "COMMENT"
                            | "GRANT"
                            | "REVOKE"
                            | "SET"
                            | "BEGIN"
                            | "COMMIT"
                            | "START"
                            | "ANALYZE"
                    ) {
                        return None;
                    }
                }
            }
        }
    }
    Some(out)
}

fn watched(filter: &Option<BTreeSet<String>>, table: &str) -> bool {
    filter
        .as_ref()
        .is_none_or(|f| f.contains(&table.to_ascii_lowercase()))
}

async fn snapshot(
    driver: &mut Driver,
    filter: &Option<BTreeSet<String>>,
) -> Result<(Vec<SchemaItem>, Data), Error> {
    let schema = driver.schema_items().await?;
    Ok((schema, data_snapshot(driver, filter).await?))
}

/// The rows of the watched tables, without the schema (a catalog read of
/// every object, which the data-only comparisons do not need).
async fn data_snapshot(
    driver: &mut Driver,
    filter: &Option<BTreeSet<String>>,
) -> Result<Data, Error> {
    let tables: Vec<String> = driver
        .app_tables()
        .await?
        .into_iter()
        .filter(|t| watched(filter, t))
        .collect();
    driver.fingerprints(&tables).await
}

/// How the schema after the down differs from the schema before the up,
/// one line a person can read per object: what the down did not put back,
/// what it left behind, and what it changed, in the database's own SQL.
/// A table's columns, indexes and constraints are not listed again when the
/// whole table is missing or left over.
///
/// Two definitions that differ only in timestamp literals less than
/// `window` (the drill's run so far) apart are the same: PostgreSQL folds
/// `'now'::timestamp` in a view into the moment it was created, and the
/// down created it again, some stages later.
fn schema_diffs(before: &[SchemaItem], after: &[SchemaItem], window: Duration) -> Vec<String> {
    type Key<'a> = (&'a str, &'a str);
    fn key(i: &SchemaItem) -> Key<'_> {
        (i.kind.as_str(), i.name.as_str())
    }
    let b: BTreeMap<Key, &SchemaItem> = before.iter().map(|i| (key(i), i)).collect();
    let a: BTreeMap<Key, &SchemaItem> = after.iter().map(|i| (key(i), i)).collect();
    let whole_tables = |from: &BTreeMap<Key, &SchemaItem>, to: &BTreeMap<Key, &SchemaItem>| {
        from.keys()
            .filter(|(kind, name)| *kind == "table" && !to.contains_key(&("table", *name)))
            .map(|(_, name)| name.to_string())
            .collect::<BTreeSet<String>>()
    };
    let gone = whole_tables(&b, &a);
    let new = whole_tables(&a, &b);
    let part_of = |i: &SchemaItem, tables: &BTreeSet<String>| {
        i.kind != "table" && i.table.as_ref().is_some_and(|t| tables.contains(t))
    };
    let mut out = Vec::new();
    for (k, i) in &b {
        match a.get(k) {
            None if part_of(i, &gone) => {}
            None => out.push(format!(
                "{} {} existed before the up and is missing after the down{}",
                i.kind,
                i.name,
                shown(&i.definition)
            )),
            Some(now) if !same_definition(&i.definition, &now.definition, window) => {
                out.push(format!(
                    "{} {} is not as it was before the up: {}",
                    i.kind,
                    i.name,
                    changed(&i.definition, &now.definition)
                ))
            }
            Some(_) => {}
        }
    }
    for (k, i) in &a {
        if !b.contains_key(k) && !part_of(i, &new) {
            out.push(format!(
                "{} {} was not there before the up and is left over after the down{}",
                i.kind,
                i.name,
                shown(&i.definition)
            ));
        }
    }
    out
}

/// Whether two definitions are the same but for timestamp literals less
/// than `window` apart (see [`schema_diffs`]).
fn same_definition(a: &str, b: &str, window: Duration) -> bool {
    if a == b {
        return true;
    }
    use crate::sql::{Dialect, TokenKind, lexer::tokenize};
    let toks = |s: &str| -> Vec<(TokenKind, String)> {
        tokenize(s, Dialect::Postgres)
            .into_iter()
            .filter(|t| !t.is_trivia())
            .map(|t| (t.kind, s[t.span].to_string()))
            .collect()
    };
    let (ta, tb) = (toks(a), toks(b));
    ta.len() == tb.len()
        && ta.iter().zip(&tb).all(|((ka, sa), (kb, sb))| {
            ka == kb
                && (sa == sb
                    || (*ka == TokenKind::Word && sa.eq_ignore_ascii_case(sb))
                    || (*ka == TokenKind::String
                        && match (timestamp_seconds(sa), timestamp_seconds(sb)) {
                            (Some(x), Some(y)) => (x - y).abs() <= window.as_secs_f64() + 1.0,
                            _ => match (dollar_body(sa), dollar_body(sb)) {
                                // A function body: its layout, comments and
                                // keyword case are not differences.
                                (Some(x), Some(y)) => same_definition(x, y, window),
                                _ => false,
                            },
                        }))
        })
}

/// The inside of a dollar-quoted string (`$tag$ ... $tag$`).
fn dollar_body(literal: &str) -> Option<&str> {
    let rest = literal.strip_prefix('$')?;
    let tag_end = rest.find('$')?;
    let tag = &literal[..tag_end + 2];
    literal.strip_prefix(tag)?.strip_suffix(tag)
}

/// `'YYYY-MM-DD HH:MM:SS[.ffffff]'` as seconds from the epoch (the zone
/// does not matter: only differences are taken).
fn timestamp_seconds(literal: &str) -> Option<f64> {
    let t = literal.strip_prefix('\'')?.strip_suffix('\'')?;
    let (date, time) = t.split_once(' ')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut hms = time.split(':');
    let (h, min) = (
        hms.next()?.parse::<f64>().ok()?,
        hms.next()?.parse::<f64>().ok()?,
    );
    let sec = hms.next()?.parse::<f64>().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe;
    Some(days as f64 * 86_400.0 + h * 3_600.0 + min * 60.0 + sec)
}

/// A definition on one line, shortened, after a colon (nothing if empty).
fn shown(definition: &str) -> String {
    if definition.is_empty() {
        return String::new();
    }
    format!(": {}", one_line(definition))
}

fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(160) {
        Some((cut, _)) => format!("{}...", &flat[..cut]),
        None => flat,
    }
}

/// How a definition changed: the whole of both when short, the first line
/// that differs when long (a function body).
fn changed(before: &str, after: &str) -> String {
    let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    if b.len() > 3 || a.len() > 3 {
        let i = b.iter().zip(&a).take_while(|(x, y)| x == y).count();
        return format!(
            "line {} was `{}`, is now `{}`",
            i + 1,
            one_line(b.get(i).copied().unwrap_or("(none)")),
            one_line(a.get(i).copied().unwrap_or("(none)"))
        );
    }
    format!("was `{}`, is now `{}`", one_line(before), one_line(after))
}

/// Differences of `after` from `before`, over what exists in both.
fn data_diffs(before: &Data, after: &Data, what: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (t, (count, cols)) in before {
        let Some((after_count, after_cols)) = after.get(t) else {
            continue;
        };
        if after_count < count {
            out.push(format!(
                "{t}: {} of {count} rows lost {what}",
                count - after_count
            ));
        }
        for (c, v) in cols {
            if let Some(av) = after_cols.get(c)
                && av != v
                && after_count == count
            {
                out.push(format!("{t}.{c}: values lost or changed {what}"));
            }
        }
    }
    out
}

async fn stages(
    runner: &mut Runner,
    source: &Source,
    options: &DrillOptions,
    on: &mut (dyn FnMut(&StageDrill, usize, usize) + Send),
) -> Result<Vec<StageDrill>, Error> {
    if let Some(from) = options.from
        && let Some(before) = source
            .migrations
            .iter()
            .take_while(|m| cmp_versions(m.version, from).is_lt())
            .last()
            .map(|m| m.version)
    {
        runner
            .up(
                &UpRequest {
                    to: Some(Target::Version(before)),
                    no_check: Some("drill".into()),
                    ..UpRequest::default()
                },
                &mut |_| {},
            )
            .await?;
    }
    let todo: Vec<(&crate::source::Migration, &crate::source::Stage)> = source
        .migrations
        .iter()
        .filter(|m| {
            options
                .from
                .is_none_or(|f| cmp_versions(m.version, f).is_ge())
        })
        .flat_map(|m| m.stages.iter().map(move |s| (m, s)))
        .collect();
    let total = todo.len();
    let mut seeds = Seeds {
        counter: 1000,
        rows: Vec::new(),
    };
    let mut out = Vec::new();
    // The stage after which nothing can be drilled, once one is.
    let mut stopped_by: Option<String> = None;
    let run_started = Instant::now();
    for (i, (m, stage)) in todo.into_iter().enumerate() {
        let started = Instant::now();
        let mut result = StageDrill {
            version: m.version,
            migration: m.label(),
            stage: stage.kind,
            verdict: Verdict::Ok,
            details: vec![],
            unseeded: vec![],
            duration_ms: 0,
        };
        let stop = match &stopped_by {
            Some(label) => {
                result.verdict = Verdict::NotReached;
                result.details.push(format!(
                    "not drilled: the drill stopped at {label} (see its verdict), and this stage builds on it"
                ));
                false
            }
            None => match drill_stage(
                runner,
                m.version,
                stage,
                &mut seeds,
                &mut result,
                run_started,
            )
            .await
            {
                Ok(stop) => stop,
                // Whatever went wrong is this stage's verdict, not the end of the report.
                Err(e) => {
                    result.verdict = Verdict::Error;
                    result.details.push(e.to_string());
                    true
                }
            },
        };
        if stop {
            stopped_by = Some(format!("{} ({})", result.migration, result.stage));
        }
        result.duration_ms = started.elapsed().as_millis() as u64;
        on(&result, i + 1, total);
        out.push(result);
    }
    Ok(out)
}

/// Drills one stage; returns true when the drill cannot go on.
async fn drill_stage(
    runner: &mut Runner,
    version: i64,
    stage: &crate::source::Stage,
    seeds: &mut Seeds,
    r: &mut StageDrill,
    run_started: Instant,
) -> Result<bool, Error> {
    // Only the tables the stage names can change: the others are neither
    // seeded again nor fingerprinted, which keeps a long history fast.
    let filter = touched_tables(stage, runner.driver().backend().dialect());
    let mut unseeded = seed(runner.driver(), seeds, &filter).await?;
    let (schema0, data0) = snapshot(runner.driver(), &filter).await?;
    match up_emptying(runner, version, stage.kind, &filter, seeds).await? {
        Ok(None) => {}
        Ok(Some(e)) => {
            r.verdict = Verdict::UpFailsOnData;
            r.details.push(format!(
                "the up fails once its tables hold rows (the drill's seeded rows: a production database has some), and applies without them: {e}"
            ));
        }
        Err(e) => {
            r.verdict = Verdict::UpFailed;
            r.details.push(e);
            return Ok(true);
        }
    }
    let reversible = stage
        .down
        .as_ref()
        .is_some_and(|d| d.irreversible_reason().is_none());
    if !reversible {
        if r.verdict == Verdict::Ok {
            r.verdict = Verdict::NotReversible;
        }
        r.details.push(
            match stage.down.as_ref().and_then(|d| d.irreversible_reason()) {
                Some(reason) => format!("declared irreversible: {reason}"),
                None => "no down".into(),
            },
        );
        return Ok(false);
    }
    unseeded.extend(seed(runner.driver(), seeds, &filter).await?);
    unseeded.sort();
    unseeded.dedup();
    r.unseeded = unseeded;
    let data1 = data_snapshot(runner.driver(), &filter).await?;
    let down = DownRequest {
        target: DownSpec::Steps(1),
        force: Some("drill".into()),
        confirmed: None,
    };
    if let Err(e) = runner.down(&down, &mut |_| {}).await {
        r.verdict = Verdict::DownFailed;
        r.details.push(e.to_string());
        // Go on only if the stage is still cleanly applied.
        let history = runner.history().await?;
        let clean = history
            .iter()
            .all(|h| h.state == crate::history::RowState::Applied);
        return Ok(!clean);
    }
    let (schema2, data2) = snapshot(runner.driver(), &filter).await?;
    // A view created earlier in this drill may hold the moment it was
    // created (`'now'::timestamp`, folded): any moment of the run is "now".
    let schema_changed = schema_diffs(&schema0, &schema2, run_started.elapsed());
    let accepted = |rule: &str| -> Option<String> {
        stage
            .down
            .as_ref()?
            .directives
            .iter()
            .find_map(|d| match &d.kind {
                crate::source::DirectiveKind::Allow { rules, reason }
                    if rules.iter().any(|r| r == rule) && !reason.trim().is_empty() =>
                {
                    Some(reason.clone())
                }
                _ => None,
            })
    };
    if !schema_changed.is_empty() {
        match accepted("down-not-inverse") {
            // The author accepted this difference, with a reason: report it, do not fail.
            Some(reason) => r.details.push(format!(
                "accepted by `-- migrate:allow down-not-inverse: {reason}`"
            )),
            None if r.verdict == Verdict::Ok => r.verdict = Verdict::SchemaDiffers,
            None => {}
        }
        r.details.extend(schema_changed);
    }
    let _ = data0;
    let mut lost = data_diffs(&data1, &data2, "by the down");
    match up_emptying(runner, version, stage.kind, &filter, seeds).await? {
        Ok(None) => {}
        Ok(Some(e)) => {
            if r.verdict == Verdict::Ok {
                r.verdict = Verdict::UpFailsOnData;
            }
            r.details.push(format!(
                "re-applying the up failed on the rows its tables held, and applied without them: {e}"
            ));
        }
        Err(e) => {
            // A down that left something behind usually makes the up fail
            // again: the first finding is the verdict, this one a detail.
            if r.verdict == Verdict::Ok {
                r.verdict = Verdict::UpFailed;
            }
            // The down did not undo the up (a dropped column not re-added):
            // the schema is still the up's, so the stage is recorded as
            // applied and the drill goes on from there, saying so.
            let resolved = runner
                .resolve(
                    version,
                    Some(stage.kind),
                    crate::runner::Resolution::Applied,
                    "drill: the down left the up's schema in place",
                    true,
                )
                .await;
            return Ok(match resolved {
                Ok(_) => {
                    r.details.push(format!(
                        "re-applying the up failed ({}); the down had left the up's changes in place, so the drill recorded the stage as applied and went on from the schema as it stands",
                        first_line(&e)
                    ));
                    false
                }
                Err(resolve) => {
                    r.details.push(format!(
                        "re-applying the up failed, so the drill stops here: {e} (recording the stage as applied failed too: {resolve})"
                    ));
                    true
                }
            });
        }
    }
    let data3 = data_snapshot(runner.driver(), &filter).await?;
    lost.extend(data_diffs(&data1, &data3, "after down and up again"));
    lost.sort();
    lost.dedup();
    if !lost.is_empty() && r.verdict == Verdict::Ok {
        match accepted("lossy-down") {
            Some(reason) => lost.insert(
                0,
                format!("accepted by `-- migrate:allow lossy-down: {reason}`"),
            ),
            None => r.verdict = Verdict::DataLost,
        }
    }
    r.details.extend(lost);
    Ok(false)
}

/// The drill's own rows: the next seed value, and every row it inserted.
struct Seeds {
    counter: i64,
    rows: Vec<SeededRow>,
}

/// A row the drill inserted, by the values it was given.
struct SeededRow {
    table: String,
    key: Vec<(String, String)>,
}

/// Types whose values compare with `=` on every backend.
fn comparable(data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    [
        "int", "char", "text", "uuid", "date", "time", "numeric", "decimal", "bool",
    ]
    .iter()
    .any(|k| t.contains(k))
}

/// Deletes the rows the drill inserted, newest first (children before
/// parents). Best effort: a row a migration changed or a table it dropped
/// is passed over; what stays is taken care of by emptying the tables.
async fn unseed(driver: &mut Driver, rows: &mut Vec<SeededRow>) {
    while let Some(row) = rows.pop() {
        let condition: Vec<String> = row
            .key
            .iter()
            .map(|(c, v)| format!("{} = {v}", driver.quote(c)))
            .collect();
        let sql = format!(
            "DELETE FROM {} WHERE {}",
            driver.quote(&row.table),
            condition.join(" AND ")
        );
        if let Err(e) = driver.execute(&sql).await {
            tracing::debug!(table = %row.table, error = %e.message, "a seeded row stays");
        }
    }
}

/// Applies a stage's up; when it fails on the rows its tables hold, takes
/// the drill's own rows out and applies it again, and failing that, empties
/// the stage's tables and tries once more. `Ok(None)`: applied;
/// `Ok(Some(e))`: applied only without the rows, `e` the failure on them;
/// `Err(message)`: it fails on emptied tables too.
async fn up_emptying(
    runner: &mut Runner,
    version: i64,
    kind: StageKind,
    filter: &Option<BTreeSet<String>>,
    seeds: &mut Seeds,
) -> Result<Result<Option<String>, String>, Error> {
    let Err(on_rows) = runner.up(&up_request(version, kind), &mut |_| {}).await else {
        return Ok(Ok(None));
    };
    unseed(runner.driver(), &mut seeds.rows).await;
    if runner
        .up(&up_request(version, kind), &mut |_| {})
        .await
        .is_ok()
    {
        return Ok(Ok(Some(on_rows.to_string())));
    }
    empty_tables(runner.driver(), filter).await?;
    Ok(
        match runner.up(&up_request(version, kind), &mut |_| {}).await {
            Ok(_) => Ok(Some(on_rows.to_string())),
            Err(e) => Err(e.to_string()),
        },
    )
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Deletes every row of the watched tables (of every table when the stage's
/// tables are not known), whatever references them: how the drill tells an
/// up that fails on existing rows from one that fails on its own.
async fn empty_tables(driver: &mut Driver, filter: &Option<BTreeSet<String>>) -> Result<(), Error> {
    let tables: Vec<String> = driver
        .app_tables()
        .await?
        .into_iter()
        .filter(|t| watched(filter, t))
        .map(|t| driver.quote(&t))
        .collect();
    if tables.is_empty() {
        return Ok(());
    }
    // Table by table, best effort: a table that refuses (a trigger that
    // forbids it) keeps its rows, and the up's retry says what that means.
    let (before, verb, after) = match driver.backend() {
        Backend::Postgres => (None, "TRUNCATE", None),
        Backend::Mysql => (
            Some("SET FOREIGN_KEY_CHECKS = 0"),
            "DELETE FROM",
            Some("SET FOREIGN_KEY_CHECKS = 1"),
        ),
        Backend::Sqlite => (
            Some("PRAGMA foreign_keys = OFF"),
            "DELETE FROM",
            Some("PRAGMA foreign_keys = ON"),
        ),
    };
    let cascade = if verb == "TRUNCATE" { " CASCADE" } else { "" };
    if let Some(sql) = before {
        driver.exec_internal(sql, "emptying the tables").await?;
    }
    for t in &tables {
        if let Err(e) = driver.execute(&format!("{verb} {t}{cascade}")).await {
            tracing::debug!(table = %t, error = %e.message, "a table kept its rows");
        }
    }
    if let Some(sql) = after {
        driver.exec_internal(sql, "emptying the tables").await?;
    }
    Ok(())
}

/// Inserts two rows into every table that can take them, parents first.
/// Returns the tables it could not seed, with the reason.
async fn seed(
    driver: &mut Driver,
    seeds: &mut Seeds,
    filter: &Option<BTreeSet<String>>,
) -> Result<Vec<String>, Error> {
    let mut infos = Vec::new();
    let existing: BTreeSet<String> = driver.app_tables().await?.into_iter().collect();
    for t in existing.iter().filter(|t| watched(filter, t)) {
        infos.push(driver.table_info(t).await?);
    }
    let mut unseeded = Vec::new();
    for info in dependency_order(infos) {
        'rows: for row in 0..2 {
            let mut cols = Vec::new();
            let mut vals = Vec::new();
            for c in info.columns.iter().filter(|c| !c.generated) {
                seeds.counter += 1;
                let fk = info.foreign_keys.iter().find(|(col, _, _)| col == &c.name);
                let value = match fk {
                    // SQLite lets a table reference one created later: no
                    // parent row to point at yet.
                    Some((_, parent, pcol))
                        if parent != &info.name
                            && !pcol.is_empty()
                            && existing.contains(parent) =>
                    {
                        driver
                            .any_value(parent, pcol, row)
                            .await?
                            .map(|v| format!("'{}'", v.replace('\'', "''")))
                    }
                    Some(_) => None,
                    None if !c.choices.is_empty() => Some(c.choices[row % c.choices.len()].clone()),
                    None => literal(driver.backend(), &c.data_type, c.max_len, seeds.counter),
                };
                match value {
                    Some(v) => {
                        cols.push(c.name.clone());
                        vals.push(v);
                    }
                    None if c.nullable => {}
                    None => {
                        let why = match fk {
                            Some((_, parent, _)) => {
                                format!("{}.{} needs a row in {parent}", info.name, c.name)
                            }
                            None => format!(
                                "{}.{}: no generated value for type {}",
                                info.name, c.name, c.data_type
                            ),
                        };
                        unseeded.push(why);
                        break 'rows;
                    }
                }
            }
            if cols.is_empty() {
                break;
            }
            let overriding = if driver.backend() == Backend::Postgres {
                " OVERRIDING SYSTEM VALUE"
            } else {
                ""
            };
            let sql = format!(
                "INSERT INTO {} ({}){overriding} VALUES ({})",
                driver.quote(&info.name),
                cols.iter()
                    .map(|c| driver.quote(c))
                    .collect::<Vec<_>>()
                    .join(", "),
                vals.join(", ")
            );
            if let Err(e) = driver.execute(&sql).await {
                unseeded.push(format!("{}: {}", info.name, e.message));
                break;
            }
            // Remembered by the values that can be compared for equality
            // (numbers, text, uuids, dates), to take the row out again.
            let key: Vec<(String, String)> = cols
                .iter()
                .zip(&vals)
                .filter(|(c, _)| {
                    info.columns.iter().any(|ci| {
                        &ci.name == *c && ci.choices.is_empty() && comparable(&ci.data_type)
                    })
                })
                .map(|(c, v)| (c.clone(), v.clone()))
                .collect();
            if !key.is_empty() {
                seeds.rows.push(SeededRow {
                    table: info.name.clone(),
                    key,
                });
            }
        }
    }
    Ok(unseeded)
}

/// Parents before children; tables in cycles last.
fn dependency_order(mut infos: Vec<TableInfo>) -> Vec<TableInfo> {
    let mut out: Vec<TableInfo> = Vec::new();
    while !infos.is_empty() {
        let ready = infos.iter().position(|t| {
            t.foreign_keys.iter().all(|(_, parent, _)| {
                parent == &t.name
                    || out.iter().any(|o| &o.name == parent)
                    || !infos.iter().any(|i| &i.name == parent)
            })
        });
        match ready {
            Some(i) => out.push(infos.remove(i)),
            None => out.push(infos.remove(0)),
        }
    }
    out
}

/// A literal of the column's type, distinct for each `n`, or `None` when the
/// drill cannot make one.
fn literal(backend: Backend, ty: &str, max_len: i64, n: i64) -> Option<String> {
    let t = ty.to_ascii_lowercase();
    if t.contains("interval")
        || t.contains("point")
        || t.starts_with("enum")
        || t.starts_with("set")
        || t.contains("[]")
        || t == "array"
    {
        return None;
    }
    if t.contains("bool") {
        return Some(if n % 2 == 0 { "TRUE" } else { "FALSE" }.into());
    }
    if t.contains("int") {
        let v = if t.starts_with("tinyint") {
            n % 100
        } else if t.starts_with("smallint") {
            n % 30000
        } else {
            n
        };
        return Some(v.to_string());
    }
    if t.contains("timestamp") || t.contains("datetime") {
        return Some(format!(
            "'2024-01-{:02} {:02}:{:02}:{:02}'",
            1 + n % 28,
            n % 24,
            n % 60,
            (n / 60) % 60
        ));
    }
    if t.starts_with("date") {
        return Some(format!("'2024-01-{:02}'", 1 + n % 28));
    }
    if t.starts_with("time") {
        return Some(format!("'{:02}:{:02}:00'", n % 24, n % 60));
    }
    if t.contains("json") {
        return Some(format!("'{{\"drill\": {n}}}'"));
    }
    if t == "uuid" {
        return Some(format!("'00000000-0000-4000-8000-{n:012}'"));
    }
    if t == "bytea" {
        return Some(format!("'\\x{n:08x}'"));
    }
    if t.contains("blob") || t.contains("binary") {
        return Some(format!("X'{n:08X}'"));
    }
    if t.contains("char")
        || t.contains("text")
        || t.contains("clob")
        || t.is_empty()
        || t == "string"
    {
        let mut s = format!("d{n}");
        if max_len > 0 && s.len() as i64 > max_len {
            s = s[s.len() - max_len as usize..].to_string();
        }
        return Some(format!("'{s}'"));
    }
    if t.contains("numeric")
        || t.contains("decimal")
        || t.contains("real")
        || t.contains("double")
        || t.contains("float")
    {
        return Some(format!("{}.25", n % 10000));
    }
    let _ = backend;
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(
            literal(Backend::Postgres, "integer", 0, 5).as_deref(),
            Some("5")
        );
        assert_eq!(
            literal(Backend::Postgres, "character varying", 3, 1234).as_deref(),
            Some("'234'")
        );
        assert_eq!(literal(Backend::Postgres, "point", 0, 1), None);
        assert_eq!(literal(Backend::Postgres, "interval", 0, 1), None);
        assert!(literal(Backend::Mysql, "timestamp", 0, 1).is_some());
        assert_eq!(literal(Backend::Sqlite, "", 0, 7).as_deref(), Some("'d7'"));
    }

    #[test]
    fn a_view_holding_its_creation_time_is_the_same_view_recreated() {
        let v = |t: &str| {
            format!(
                "SELECT p.id FROM post p WHERE (p.published < ('{t}'::timestamp without time zone - '1 mon'::interval))"
            )
        };
        let w = Duration::from_secs(2);
        assert!(same_definition(
            &v("2026-12-01 20:46:09.156747"),
            &v("2026-12-01 20:46:10.369292"),
            w
        ));
        // Across midnight and a month end, too.
        assert!(same_definition(
            &v("2026-11-30 23:59:59.9"),
            &v("2026-12-01 00:00:00.5"),
            w
        ));
        // A real change of a date, or of anything else, is a difference.
        assert!(!same_definition(
            &v("2026-12-01 20:46:09"),
            &v("2025-12-01 20:46:09"),
            w
        ));
        assert!(!same_definition(
            &v("2026-12-01 20:46:09"),
            &v("2026-12-01 20:46:09").replace("p.id", "p.name"),
            w
        ));
    }

    #[test]
    fn a_function_body_laid_out_again_is_the_same_function() {
        let f = |body: &str| {
            format!(
                "CREATE OR REPLACE FUNCTION public.f() RETURNS trigger LANGUAGE plpgsql AS $function${body}$function$"
            )
        };
        let w = Duration::from_secs(2);
        // A down that re-creates the function from a file with other
        // indentation, comments and keyword case (seen on a real history:
        // the drill said "line 5 was `BEGIN`, is now `BEGIN`").
        assert!(same_definition(
            &f("\nBEGIN\n    NEW.updated_at = now();\n    RETURN NEW;\nEND\n"),
            &f("\n  begin  -- touch it\n\tNEW.updated_at = NOW();\n  RETURN NEW;\n  end;\n")
                .replace("end;", "end"),
            w
        ));
        // Another statement in the body is another function.
        assert!(!same_definition(
            &f("BEGIN NEW.updated_at = now(); RETURN NEW; END"),
            &f("BEGIN RETURN NEW; END"),
            w
        ));
        // And a string literal in it keeps its case.
        assert!(!same_definition(
            &f("BEGIN RAISE 'Stop'; END"),
            &f("BEGIN RAISE 'stop'; END"),
            w
        ));
    }
}
