//! `migrate new`: creates a migration with commented templates.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use migrate::source::{self, Layout};

use super::args::{NewArgs, NewLayout};
use super::{CliResult, Failure, Out, Settings};

const UP: &str = "-- {title}: what this migration changes, and why.\n";
const DOWN: &str = "-- Undo exactly what the up did, without losing data written since.\n-- Dropping something the up created loses it: put `-- migrate:archive`\n-- directly above such a DROP, or declare the down irreversible.\n";
const EXPAND_UP: &str = "-- {title} (expand): only add. The running application must keep working:\n-- new columns nullable or with a default, no drops, no renames.\n";
const EXPAND_DOWN: &str = "-- Undo the expand. It added what the new application writes to: archive\n-- before dropping (`-- migrate:archive` directly above the DROP).\n";
const CONTRACT_UP: &str = "-- {title} (contract): remove what only the old application used, once\n-- no instance of it is running. Archive what you drop so that it can come back.\n";
const CONTRACT_DOWN: &str =
    "-- Undo the contract: re-create what it removed; archived data is restored.\n";

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
    let title = name.replace('_', " ");
    let fill = |t: &str| t.replace("{title}", &title);
    let files: Vec<(PathBuf, String)> = match layout {
        Layout::Flat => vec![
            (dir.join(format!("{stem}.up.sql")), fill(UP)),
            (dir.join(format!("{stem}.down.sql")), fill(DOWN)),
        ],
        Layout::Dir => vec![
            (dir.join(&stem).join("up.sql"), fill(UP)),
            (dir.join(&stem).join("down.sql"), fill(DOWN)),
        ],
        Layout::Single => vec![(
            dir.join(format!("{stem}.sql")),
            format!(
                "-- migrate:up\n{}\n\n-- migrate:down\n{}",
                fill(UP),
                fill(DOWN)
            ),
        )],
        Layout::Staged => vec![
            (dir.join(&stem).join("expand.up.sql"), fill(EXPAND_UP)),
            (dir.join(&stem).join("expand.down.sql"), fill(EXPAND_DOWN)),
            (dir.join(&stem).join("contract.up.sql"), fill(CONTRACT_UP)),
            (
                dir.join(&stem).join("contract.down.sql"),
                fill(CONTRACT_DOWN),
            ),
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
/// dashes, and anything else gets a `YYYYMMDDHHMMSS` UTC timestamp. The
/// result is always greater than every existing version.
fn next_version(existing: &[source::Migration], now_digits: &str) -> String {
    let Some(last) = existing.iter().max_by_key(|m| m.version) else {
        return now_digits.to_string();
    };
    let max = last.version;
    if last.version_text.contains('-') {
        let digits = if now_digits.parse::<i64>().is_ok_and(|n| n > max) {
            now_digits.to_string()
        } else {
            (max + 1).to_string()
        };
        if digits.len() == 14 {
            return format!(
                "{}-{}-{}-{}",
                &digits[..4],
                &digits[4..6],
                &digits[6..8],
                &digits[8..]
            );
        }
        return digits;
    }
    let sequential = max < 10_000_000_000;
    if sequential {
        let width = last.version_text.len();
        return format!("{:0width$}", max + 1);
    }
    match now_digits.parse::<i64>() {
        Ok(n) if n > max => now_digits.to_string(),
        _ => (max + 1).to_string(),
    }
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
