//! `migrate list`: every migration found, with stages, downs, directives and checksums.

use std::io::Write;

use serde::Serialize;

use migrate::source::{self, Migration, Script, Stage};

use super::output::style::{BAD, BOLD, DIM, OK, WARN};
use super::{CliResult, Out, Settings};

#[derive(Serialize)]
struct ListView<'a> {
    source: String,
    migrations: Vec<MigrationView<'a>>,
    /// Files passed over and order doubts ([`source::SourceWarning`]).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    warnings: &'a [source::SourceWarning],
}

#[derive(Serialize)]
struct MigrationView<'a> {
    version: i64,
    version_text: &'a str,
    name: &'a str,
    layout: &'static str,
    path: String,
    stages: Vec<StageView<'a>>,
}

#[derive(Serialize)]
struct StageView<'a> {
    stage: &'static str,
    up: &'a Script,
    down: Option<&'a Script>,
    /// `present`, `missing` or `irreversible`.
    down_state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    irreversible_reason: Option<&'a str>,
}

/// How a stage's down stands.
pub fn down_state(stage: &Stage) -> &'static str {
    match &stage.down {
        None => "missing",
        Some(d) if d.irreversible_reason().is_some() => "irreversible",
        Some(_) => "present",
    }
}

fn view(m: &Migration) -> MigrationView<'_> {
    MigrationView {
        version: m.version,
        version_text: &m.version_text,
        name: &m.name,
        layout: m.layout.name(),
        path: m.path.display().to_string(),
        stages: m
            .stages
            .iter()
            .map(|s| StageView {
                stage: s.kind.name(),
                up: &s.up,
                down: s.down.as_ref(),
                down_state: down_state(s),
                irreversible_reason: s.down.as_ref().and_then(|d| d.irreversible_reason()),
            })
            .collect(),
    }
}

pub fn run(settings: &Settings, out: &mut Out) -> CliResult {
    let src = source::load(&settings.source)?;
    if !out.human() {
        out.json(&ListView {
            source: src.dir.display().to_string(),
            migrations: src.migrations.iter().map(view).collect(),
            warnings: &src.warnings,
        })?;
        return Ok(());
    }
    for w in &src.warnings {
        writeln!(out, "{WARN}warning{WARN:#}: {w}")?;
    }
    if src.migrations.is_empty() {
        writeln!(
            out,
            "no migrations in {}: create one with `migrate new <name>`",
            src.dir.display()
        )?;
        return Ok(());
    }
    let width = src
        .migrations
        .iter()
        .map(|m| m.label().len())
        .max()
        .unwrap_or(0);
    for m in &src.migrations {
        write!(
            out,
            "{BOLD}{:<width$}{BOLD:#}  {DIM}{:<6}{DIM:#}",
            m.label(),
            m.layout.name()
        )?;
        for (i, s) in m.stages.iter().enumerate() {
            let sep = if i == 0 { "  " } else { "  ·  " };
            let (st, text) = match down_state(s) {
                "present" => (OK, "up + down".to_string()),
                "irreversible" => (
                    WARN,
                    format!(
                        "up, irreversible ({})",
                        s.down
                            .as_ref()
                            .and_then(|d| d.irreversible_reason())
                            .unwrap_or("")
                    ),
                ),
                _ => (BAD, "up, NO DOWN".to_string()),
            };
            write!(out, "{sep}{}: {st}{text}{st:#}", s.kind)?;
            let directives =
                s.up.directives.len() + s.down.as_ref().map_or(0, |d| d.directives.len());
            if directives > 0 {
                write!(
                    out,
                    " {DIM}({directives} directive{}){DIM:#}",
                    if directives == 1 { "" } else { "s" }
                )?;
            }
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "{DIM}{} migration{} in {}{DIM:#}",
        src.migrations.len(),
        if src.migrations.len() == 1 { "" } else { "s" },
        src.dir.display()
    )?;
    Ok(())
}
