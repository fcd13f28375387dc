//! `migrate check` and `migrate explain`: the reversibility checker's front end.

use annotate_snippets::{Level, Renderer, Snippet};
use std::io::Write;

use anyhow::anyhow;
use serde_json::json;

use migrate::check::registry::{RULES, rule};
use migrate::check::{self, CheckOptions, Report, Severity};
use migrate::source::{self, baseline};
use migrate::sql::Dialect;

use super::args::{BaselineArgs, CheckArgs, DialectArg};
use super::output::Format;
use super::output::style::{BAD, BOLD, DIM, WARN};
use super::{CliResult, Failure, Out, Settings};

/// The dialect to check in: the flag, then `[check] dialect` in
/// migrate.toml, then the database URL's scheme, then a directory of the
/// source named after a dialect (`migrations/mysql`). Otherwise PostgreSQL,
/// and a note says it was assumed: never silently.
pub(super) fn dialect(settings: &Settings, flag: Option<DialectArg>) -> Dialect {
    let flag = flag.map(|d| match d {
        DialectArg::Postgres => Dialect::Postgres,
        DialectArg::Mysql => Dialect::Mysql,
        DialectArg::Sqlite => Dialect::Sqlite,
    });
    if let Some(d) = flag.or(settings.check_dialect) {
        return d;
    }
    match settings
        .database_url
        .as_deref()
        .map(|u| u.split(':').next().unwrap_or(""))
    {
        Some("sqlite") => return Dialect::Sqlite,
        Some("mysql" | "mariadb") => return Dialect::Mysql,
        Some("postgres" | "postgresql") => return Dialect::Postgres,
        _ => {}
    }
    let named = settings.source.components().rev().find_map(|c| {
        match c
            .as_os_str()
            .to_string_lossy()
            .to_ascii_lowercase()
            .as_str()
        {
            "mysql" | "mariadb" => Some(Dialect::Mysql),
            "sqlite" | "sqlite3" => Some(Dialect::Sqlite),
            "postgres" | "postgresql" | "pg" => Some(Dialect::Postgres),
            _ => None,
        }
    });
    if let Some(d) = named {
        return d;
    }
    if !settings.quiet {
        let _ = writeln!(
            anstream::stderr(),
            "{DIM}note: checking as PostgreSQL (no --dialect, no [check] dialect in migrate.toml, no database URL); pass --dialect mysql or sqlite for those{DIM:#}"
        );
    }
    Dialect::Postgres
}

pub fn run(settings: &Settings, args: &CheckArgs, out: &mut Out) -> CliResult {
    if args.list_rules {
        return list_rules(out);
    }
    let src = source::load(&settings.source)?;
    let options = CheckOptions {
        dialect: dialect(settings, args.dialect),
        severities: settings.check_severities.clone(),
    };
    let report = check::check(&src, &options);
    match out.format {
        Format::Human => human(out, &report, src.migrations.len(), settings.quiet)?,
        Format::Json => out.json(&JsonReport {
            diagnostics: &report.diagnostics,
            errors: report.errors(),
            warnings: report.warnings(),
        })?,
        Format::Github => github(out, &report)?,
        Format::Sarif => out.json(&sarif(&report))?,
    }
    if report.errors() > 0 {
        return Err(Failure::failed(anyhow!(
            "{} error{} found by the checker",
            report.errors(),
            if report.errors() == 1 { "" } else { "s" }
        ))
        .silent());
    }
    if args.deny_warnings && report.warnings() > 0 {
        return Err(Failure::failed(anyhow!(
            "{} warning{} and --deny-warnings",
            report.warnings(),
            if report.warnings() == 1 { "" } else { "s" }
        ))
        .silent());
    }
    Ok(())
}

/// `migrate baseline`: every finding of `check` (errors and warnings; the
/// baseline in place is ignored) into migrate-baseline.toml, with the reason.
pub fn baseline(settings: &Settings, args: &BaselineArgs, out: &mut Out) -> CliResult {
    if args.reason.trim().is_empty() {
        return Err(Failure::input(anyhow!(
            "--reason is empty: write why these findings are accepted"
        )));
    }
    let mut src = source::load(&settings.source)?;
    src.baseline = None;
    let options = CheckOptions {
        dialect: dialect(settings, args.dialect),
        severities: settings.check_severities.clone(),
    };
    let report = check::check(&src, &options);
    let accepted: Vec<&check::Diagnostic> = report
        .diagnostics
        .iter()
        .filter(|d| d.severity > Severity::Info)
        .collect();
    let file = baseline::Baseline {
        reason: args.reason.clone(),
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        accepted: accepted
            .iter()
            .map(|d| baseline::Entry {
                file: baseline::relative(&src.dir, std::path::Path::new(&d.file)),
                rule: d.rule.to_string(),
                statement: d.fingerprint.clone(),
            })
            .collect(),
    };
    let path = src.dir.join(baseline::FILE);
    if !args.dry_run {
        std::fs::write(&path, file.render())
            .map_err(|e| Failure::failed(anyhow!("cannot write {}: {e}", path.display())))?;
    }
    let mut by_rule: std::collections::BTreeMap<&str, usize> = Default::default();
    for d in &accepted {
        *by_rule.entry(d.rule).or_default() += 1;
    }
    if out.human() {
        let verb = if args.dry_run {
            "would accept"
        } else {
            "accepted"
        };
        writeln!(
            out,
            "{verb} {} finding{} in {} ({} error{}, {} warning{})",
            accepted.len(),
            if accepted.len() == 1 { "" } else { "s" },
            path.display(),
            report.errors(),
            if report.errors() == 1 { "" } else { "s" },
            report.warnings(),
            if report.warnings() == 1 { "" } else { "s" },
        )?;
        for (rule, n) in &by_rule {
            writeln!(out, "  {n:>5}  {rule}")?;
        }
        if !args.dry_run {
            writeln!(
                out,
                "{DIM}`migrate check` now reports them as accepted (baseline) and fails on new ones; commit {}{DIM:#}",
                baseline::FILE
            )?;
        }
    } else {
        out.json(&json!({
            "file": path.display().to_string(),
            "written": !args.dry_run,
            "accepted": accepted.len(),
            "by_rule": by_rule,
        }))?;
    }
    Ok(())
}

/// `--format json`, with its keys in the documented order.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    diagnostics: &'a [migrate::check::Diagnostic],
    errors: usize,
    warnings: usize,
}

fn human(out: &mut Out, report: &Report, migrations: usize, quiet: bool) -> CliResult {
    for d in &report.diagnostics {
        if quiet && d.severity != Severity::Error {
            continue;
        }
        let st = match d.severity {
            Severity::Error => BAD,
            Severity::Warning => WARN,
            Severity::Info => BOLD,
        };
        writeln!(
            out,
            "{st}{}[{}]{st:#}{BOLD}: {}{BOLD:#}",
            d.severity.name(),
            d.rule,
            d.message
        )?;
        match excerpt_span(d) {
            Some(span) => {
                let level = match d.severity {
                    Severity::Error => Level::Error,
                    Severity::Warning => Level::Warning,
                    Severity::Info => Level::Info,
                };
                let snippet = Snippet::source(&d.excerpt)
                    .line_start(d.line as usize)
                    .origin(&d.file)
                    .annotation(level.span(span));
                // The title is printed above, in the style of the others.
                let rendered = Renderer::styled()
                    .render(Level::Note.title("").snippet(snippet))
                    .to_string();
                // Drop the renderer's title line: only the snippet is wanted.
                for line in rendered.lines().skip(1) {
                    writeln!(out, "{line}")?;
                }
            }
            // Aligned as the renderer aligns its own.
            None => writeln!(
                out,
                "{} {DIM}-->{DIM:#} {}:{}:{}",
                " ".repeat(d.line.to_string().len()),
                d.file,
                d.line,
                d.column
            )?,
        }
        writeln!(out, "  {DIM}= help:{DIM:#} {}", d.help)?;
        writeln!(out)?;
    }
    if !quiet {
        writeln!(
            out,
            "checked {migrations} migration{}: {} error{}, {} warning{}",
            if migrations == 1 { "" } else { "s" },
            report.errors(),
            if report.errors() == 1 { "" } else { "s" },
            report.warnings(),
            if report.warnings() == 1 { "" } else { "s" }
        )?;
    }
    Ok(())
}

/// The byte range of the statement at fault within `d.excerpt` (which
/// starts at the beginning of line `d.line`): from its first character to
/// its last, or to the end of the excerpt when the statement goes on.
fn excerpt_span(d: &migrate::check::Diagnostic) -> Option<std::ops::Range<usize>> {
    if d.excerpt.is_empty() {
        return None;
    }
    let text = &d.excerpt;
    // Byte offset of each line's start.
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let at = |line: usize, column: u32| -> usize {
        let from = starts[line];
        let to = starts.get(line + 1).map_or(text.len(), |n| n - 1);
        text[from..to]
            .char_indices()
            .nth(column.saturating_sub(1) as usize)
            .map_or(to, |(i, _)| from + i)
    };
    let start = at(0, d.column);
    let last_line = d.end_line.saturating_sub(d.line) as usize;
    let end = if last_line < starts.len() && d.end_line >= d.line {
        let e = at(last_line, d.end_column);
        e + text[e..].chars().next().map_or(0, char::len_utf8)
    } else {
        text.len()
    };
    Some(start..end.max(start + text[start..].chars().next().map_or(0, char::len_utf8)))
}

/// GitHub Actions workflow commands: one annotation per finding.
fn github(out: &mut Out, report: &Report) -> CliResult {
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let prop = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    for d in &report.diagnostics {
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        writeln!(
            out,
            "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}",
            prop(&d.file),
            d.line,
            d.column,
            d.end_line,
            d.end_column,
            prop(d.rule),
            data(&format!("{} (help: {})", d.message, d.help))
        )?;
    }
    Ok(())
}

/// SARIF 2.1.0, for code scanning.
fn sarif(report: &Report) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "shortDescription": { "text": r.summary },
                "fullDescription": { "text": r.doc },
                "help": { "text": r.doc },
                "defaultConfiguration": { "level": level(r.severity) },
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = report
        .diagnostics
        .iter()
        .map(|d| {
            json!({
                "ruleId": d.rule,
                "ruleIndex": RULES.iter().position(|r| r.id == d.rule).unwrap_or(0),
                "level": level(d.severity),
                "message": { "text": format!("{} Help: {}", d.message, d.help) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": d.file.replace('\\', "/") },
                        "region": {
                            "startLine": d.line,
                            "startColumn": d.column,
                            "endLine": d.end_line,
                            // SARIF's end column is the one after the region.
                            "endColumn": d.end_column + 1
                        },
                    }
                }],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "migrate",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/migrate/migrate",
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn list_rules(out: &mut Out) -> CliResult {
    if !out.human() {
        let rules: Vec<serde_json::Value> = RULES
            .iter()
            .map(|r| json!({ "id": r.id, "severity": r.severity.name(), "summary": r.summary, "doc": r.doc }))
            .collect();
        out.json(&json!({ "rules": rules }))?;
        return Ok(());
    }
    let width = RULES.iter().map(|r| r.id.len()).max().unwrap_or(0);
    for r in RULES {
        writeln!(
            out,
            "{BOLD}{:<width$}{BOLD:#}  {:<7}  {}",
            r.id,
            r.severity.name(),
            r.summary
        )?;
    }
    writeln!(
        out,
        "\n{DIM}`migrate explain <rule>` shows a rule's documentation{DIM:#}"
    )?;
    Ok(())
}

pub fn explain(id: &str, out: &mut Out) -> CliResult {
    let Some(r) = rule(id) else {
        return Err(Failure::input(anyhow!(
            "unknown rule `{id}`: `migrate check --list-rules` lists them"
        )));
    };
    if out.human() {
        writeln!(
            out,
            "{BOLD}{}{BOLD:#} ({} by default): {}\n\n{}",
            r.id,
            r.severity.name(),
            r.summary,
            r.doc
        )?;
        writeln!(
            out,
            "\nSuppress one finding, with the reason shown to reviewers:\n  -- migrate:allow {}: <why this is acceptable>",
            r.id
        )?;
    } else {
        out.json(&json!({ "id": r.id, "severity": r.severity.name(), "summary": r.summary, "doc": r.doc }))?;
    }
    Ok(())
}
