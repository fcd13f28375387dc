//! `migrate-baseline.toml`: the checker findings of a history as it was
//! adopted, accepted with one written reason.
//!
//! A real history has hundreds of findings in migrations already in
//! production (most are downs that were always lossy). Editing each applied
//! file to allow them would change its checksum; the baseline accepts them
//! beside the files instead. An entry names the file, the rule and a
//! fingerprint of the statement: a finding matches only while its statement
//! is unchanged (wherever it moves in the file), so a new finding, or a
//! baselined one whose statement was edited, still fails.

use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Loader;
use crate::sql::{Dialect, tokenize};

/// The file's name, beside the migrations.
pub const FILE: &str = "migrate-baseline.toml";

/// The accepted findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Why they are accepted.
    pub reason: String,
    /// When `migrate baseline` wrote it (RFC 3339), for the reader.
    #[serde(default)]
    pub created: String,
    /// One entry per finding.
    #[serde(default)]
    pub accepted: Vec<Entry>,
}

/// One accepted finding.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The file, relative to the migrations directory, with `/`.
    pub file: String,
    /// The rule id.
    pub rule: String,
    /// [`fingerprint`] of the statement (or of the file, for findings about
    /// a whole file).
    pub statement: String,
}

/// The fingerprint of a statement (or of a whole script): SHA-256 of its
/// tokens, comments and white space left out, first 16 hex digits.
/// Re-indenting or editing a comment does not change it (nor the
/// `-- migrate:no-transaction` line a stored down may carry); any edit of
/// the SQL does.
pub fn fingerprint(sql: &str, dialect: Dialect) -> String {
    let mut hasher = Sha256::new();
    for token in tokenize(sql, dialect).iter().filter(|t| !t.is_trivia()) {
        hasher.update(sql[token.span.clone()].as_bytes());
        hasher.update(b" ");
    }
    hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `path` relative to the migrations directory `dir`, with `/`, as entries
/// name files.
pub fn relative(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

impl Baseline {
    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# Checker findings accepted as they were, written by `migrate baseline`.\n\
             # `migrate check`, `up` and `down` report these as accepted (baseline); a new\n\
             # finding, or one whose statement has changed since, still fails.\n\
             # Run `migrate baseline --reason ...` again to rewrite this file.\n",
        );
        out.push_str(&format!("reason = {}\n", quote(&self.reason)));
        out.push_str(&format!("created = {}\n", quote(&self.created)));
        for e in &self.accepted {
            out.push_str(&format!(
                "\n[[accepted]]\nfile = {}\nrule = {}\nstatement = {}\n",
                quote(&e.file),
                quote(&e.rule),
                quote(&e.statement)
            ));
        }
        out
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads `dir/migrate-baseline.toml`, if there is one.
pub(super) fn load(loader: &mut Loader, dir: &Path) -> Option<Baseline> {
    let path = dir.join(FILE);
    if !loader.files.is_file(&path) {
        return None;
    }
    let text = loader.read(&path)?;
    match toml::from_str::<Baseline>(&text) {
        Ok(b) if b.reason.trim().is_empty() => {
            loader.problem(&path, None, "the baseline gives no reason: write why these findings are accepted in `reason = \"...\"`");
            None
        }
        Ok(b) => Some(b),
        Err(e) => {
            loader.problem(
                &path,
                None,
                format!("not a baseline written by `migrate baseline`: {e}"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_white_space_and_comments_only() {
        let f = |s| fingerprint(s, Dialect::Postgres);
        assert_eq!(f("DROP TABLE a;"), f("DROP   TABLE\n  a; -- gone"));
        assert_eq!(
            f("DROP TABLE a;"),
            f("-- migrate:no-transaction\nDROP TABLE a;")
        );
        assert_ne!(f("DROP TABLE a;"), f("DROP TABLE b;"));
        assert_ne!(f("SELECT 'a  b'"), f("SELECT 'a b'"));
        assert_eq!(f("x").len(), 16);
    }

    #[test]
    fn render_parses_back() {
        let b = Baseline {
            reason: "adopted \"as is\"\nfrom diesel".into(),
            created: "2026-12-01T00:00:00Z".into(),
            accepted: vec![Entry {
                file: "0001_a/down.sql".into(),
                rule: "lossy-down".into(),
                statement: fingerprint("DROP TABLE a", Dialect::Postgres),
            }],
        };
        assert_eq!(toml::from_str::<Baseline>(&b.render()).unwrap(), b);
        assert_eq!(
            relative(Path::new("m"), Path::new("m/0001_a/down.sql")),
            "0001_a/down.sql"
        );
    }
}
