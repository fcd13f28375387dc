//! `migrate new`: creates a migration with commented templates.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use migrate::source::Direction::{Down, Up};
use migrate::source::StageKind::{Contract, Expand, Main};
use migrate::source::{self, Layout, template};

use super::args::{NewArgs, NewLayout};
use super::{CliResult, Failure, Out, Settings};

pub fn run(settings: &Settings, args: &NewArgs, out: &mut Out) -> CliResult {
    let dir = &settings.source;
    let existing = if dir.exists() {
        source::load(dir)?.migrations
    } else {
        Vec::new()
    };
    let name = slug(&args.name.join(" "));
    if name.is_empty() {
        return Err(Failure::input(anyhow!(
            "the name `{}` has no letters or digits: describe the change, like `add_users`",
            args.name.join(" ")
        )));
    }
    let layout = match (args.layout, args.staged) {
        (Some(NewLayout::Dir) | None, true) => Layout::Staged,
        (Some(other), true) => {
            return Err(Failure::input(anyhow!(
                "--staged creates a directory of expand/contract files; it cannot use --layout {other:?}"
            )));
        }
        (Some(NewLayout::Flat), false) => Layout::Flat,
        (Some(NewLayout::Dir), false) => Layout::Dir,
        (Some(NewLayout::Single), false) => Layout::Single,
        (None, false) => existing
            .iter()
            .rev()
            .map(|m| m.layout)
            .find(|l| *l != Layout::Staged)
            .unwrap_or(Layout::Flat),
    };
    let version = next_version(&existing, &utc_now_digits());
    let stem = format!("{version}_{name}");
    let t = |stage, direction| template::template(&name, stage, direction);
    let files: Vec<(PathBuf, String)> = match layout {
        Layout::Flat => vec![
            (dir.join(format!("{stem}.up.sql")), t(Main, Up)),
            (dir.join(format!("{stem}.down.sql")), t(Main, Down)),
        ],
        Layout::Dir => vec![
            (dir.join(&stem).join("up.sql"), t(Main, Up)),
            (dir.join(&stem).join("down.sql"), t(Main, Down)),
        ],
        Layout::Single => vec![(
            dir.join(format!("{stem}.sql")),
            format!(
                "-- migrate:up\n{}\n\n-- migrate:down\n{}",
                t(Main, Up),
                t(Main, Down)
            ),
        )],
        Layout::Flyway => vec![
            (dir.join(format!("V{version}__{name}.sql")), t(Main, Up)),
            (dir.join(format!("U{version}__{name}.sql")), t(Main, Down)),
        ],
        Layout::Staged => vec![
            (dir.join(&stem).join("expand.up.sql"), t(Expand, Up)),
            (dir.join(&stem).join("expand.down.sql"), t(Expand, Down)),
            (dir.join(&stem).join("contract.up.sql"), t(Contract, Up)),
            (dir.join(&stem).join("contract.down.sql"), t(Contract, Down)),
        ],
    };
    for (path, text) in &files {
        create_new(path, text)?;
    }
    if out.human() {
        for (path, _) in &files {
            writeln!(out, "created {}", path.display())?;
        }
    } else {
        let paths: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
        out.json(&serde_json::json!({ "version": version, "name": name, "layout": layout.name(), "files": paths }))?;
    }
    Ok(())
}

fn create_new(path: &Path, text: &str) -> Result<(), Failure> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))
            .map_err(Failure::failed)?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
        .map_err(Failure::failed)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// `add Users!` -> `add_users`.
fn slug(words: &str) -> String {
    let mut out = String::new();
    for c in words.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

/// The current UTC time as `YYYYMMDDHHMMSS`.
fn utc_now_digits() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// The next version, spelled in the style the directory already uses:
/// sequential numbers keep their zero padding, diesel timestamps keep their
/// dashes (and diesel 2.2's `-0000` suffix), and anything else gets a
/// `YYYYMMDDHHMMSS` UTC timestamp. The result runs after every existing
/// version ([`source::cmp_versions`]).
fn next_version(existing: &[source::Migration], now_digits: &str) -> String {
    // The source is in run order: the last migration runs last.
    let Some(last) = existing.last() else {
        return now_digits.to_string();
    };
    let max = last.version;
    let now: i64 = now_digits.parse().unwrap_or(0);
    let after = |candidate: i64| {
        if source::cmp_versions(candidate, max).is_gt() {
            candidate
        } else {
            max + 1
        }
    };
    if last.version_text.contains('-') {
        let diesel_2_2 = last.version_text.matches('-').count() >= 4;
        let digits = after(if diesel_2_2 { now * 10_000 } else { now }).to_string();
        return match digits.len() {
            14 | 18 => {
                let mut out = format!(
                    "{}-{}-{}-{}",
                    &digits[..4],
                    &digits[4..6],
                    &digits[6..8],
                    &digits[8..14]
                );
                if digits.len() == 18 {
                    out.push('-');
                    out.push_str(&digits[14..]);
                }
                out
            }
            _ => digits,
        };
    }
    let sequential = max < 10_000_000_000;
    if sequential {
        let width = last.version_text.len();
        return format!("{:0width$}", max + 1);
    }
    after(now).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Add Users!"), "add_users");
        assert_eq!(slug("index orders  by-date"), "index_orders_by_date");
        assert_eq!(slug("!!"), "");
    }
}
