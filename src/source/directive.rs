//! `-- migrate:` directives: parsed with their line numbers and scopes.

use serde::Serialize;

use crate::sql::{Dialect, TokenKind, line_of, tokenize};

/// What a directive says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "directive", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DirectiveKind {
    /// `-- migrate:no-transaction`: run the statements one by one, outside a transaction.
    NoTransaction,
    /// `-- migrate:allow <rule>[, <rule>]: <reason>`: accept a checker finding.
    /// The reason is empty when none was written (a checker finding of its own).
    Allow {
        /// Rule ids, as written.
        rules: Vec<String>,
        /// Why the risk is accepted.
        reason: String,
    },
    /// `-- migrate:archive`: keep the data the next statement drops.
    Archive,
    /// `-- migrate:irreversible: <reason>`: this down cannot be written.
    Irreversible {
        /// Why.
        reason: String,
    },
}

/// What a directive covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "scope", rename_all = "lowercase")]
pub enum Scope {
    /// The whole script: written at its top, before any statement, and
    /// separated from the first statement by a blank line.
    File,
    /// The statement that starts on this line (1-based, in the file), directly
    /// below the directive with no blank line between.
    Statement {
        /// The line the statement starts on (`statement_line` in JSON: the
        /// directive's own `line` stands beside it).
        #[serde(rename = "statement_line")]
        line: u32,
    },
}

/// A directive with its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directive {
    /// 1-based line in the file.
    pub line: u32,
    /// What it says.
    #[serde(flatten)]
    pub kind: DirectiveKind,
    /// What it covers.
    #[serde(flatten)]
    pub scope: Scope,
}

/// Whether a script is an up or a down; some directives belong to one only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Applies a change.
    Up,
    /// Reverts it.
    Down,
}

impl Direction {
    /// `up` or `down`, as the history stores it.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }

    /// The other direction.
    pub fn opposite(self) -> Direction {
        match self {
            Direction::Up => Direction::Down,
            Direction::Down => Direction::Up,
        }
    }

    /// Reads a stored name back.
    pub fn from_name(name: &str) -> Option<Direction> {
        match name {
            "up" => Some(Direction::Up),
            "down" => Some(Direction::Down),
            _ => None,
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A directive that could not be read: `(line, message)`.
pub type DirectiveError = (u32, String);

/// If `comment` (a whole line comment, `--` included) is a `-- migrate:` comment,
/// the text after `migrate:`.
pub fn migrate_comment(comment: &str) -> Option<&str> {
    let body = comment.strip_prefix("--")?.trim_start();
    body.strip_prefix("migrate:").map(str::trim_end)
}

/// Reads every directive of a script. `line_offset` is the number of file
/// lines before the script's first line (non-zero for a dbmate section).
pub fn parse_directives(
    script: &str,
    line_offset: u32,
    direction: Direction,
) -> Result<Vec<Directive>, Vec<DirectiveError>> {
    // Every directive is a comment holding `migrate:`; most scripts have
    // none, and tokenizing them all was a tenth of a no-op start-up.
    if !script.contains("migrate:") {
        return Ok(Vec::new());
    }
    let tokens = tokenize(script, Dialect::Generic);
    let first_real = tokens.iter().position(|t| !t.is_trivia());
    let mut directives = Vec::new();
    let mut errors = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if token.kind != TokenKind::LineComment {
            continue;
        }
        let Some(body) = migrate_comment(&script[token.span.clone()]) else {
            continue;
        };
        let line = line_offset + line_of(script, token.span.start);
        let kind = match parse_kind(body) {
            Ok(kind) => kind,
            Err(message) => {
                errors.push((line, message));
                continue;
            }
        };
        let before_first = first_real.is_none_or(|f| i < f);
        // The directive is directly above a statement when only comments and
        // single newlines stand between them.
        let mut directly_above = None;
        for next in &tokens[i + 1..] {
            match next.kind {
                TokenKind::LineComment | TokenKind::BlockComment => {}
                TokenKind::Whitespace => {
                    if script[next.span.clone()].matches('\n').count() > 1 {
                        break;
                    }
                }
                _ => {
                    directly_above = Some(line_offset + line_of(script, next.span.start));
                    break;
                }
            }
        }
        let scope = match (directly_above, before_first) {
            (Some(line), _) => Scope::Statement { line },
            (None, true) => Scope::File,
            (None, false) => {
                errors.push((
                    line,
                    "this directive is neither at the top of the file nor directly above a statement: move it above the statement it is for, with no blank line between".into(),
                ));
                continue;
            }
        };
        match (&kind, scope) {
            (DirectiveKind::NoTransaction, _) if !before_first => errors.push((
                line,
                "`-- migrate:no-transaction` applies to a whole file: put it at the top, before the first statement".into(),
            )),
            (DirectiveKind::Archive, Scope::File) => errors.push((
                line,
                "`-- migrate:archive` must stand directly above the DROP statement whose data it keeps".into(),
            )),
            (DirectiveKind::Irreversible { .. }, _) if direction == Direction::Up => errors.push((
                line,
                "`-- migrate:irreversible` belongs in a down file: it declares that the up cannot be undone".into(),
            )),
            (DirectiveKind::Irreversible { .. }, _) if first_real.is_some() => errors.push((
                line,
                "a down declared `-- migrate:irreversible` must contain no statements: either write the down or declare it irreversible".into(),
            )),
            _ => {
                let scope = match kind {
                    // File-wide by nature wherever they stand at the top.
                    DirectiveKind::NoTransaction | DirectiveKind::Irreversible { .. } => Scope::File,
                    _ => scope,
                };
                directives.push(Directive { line, kind, scope });
            }
        }
    }
    if errors.is_empty() {
        Ok(directives)
    } else {
        Err(errors)
    }
}

fn parse_kind(body: &str) -> Result<DirectiveKind, String> {
    let (word, rest) = body
        .find(|c: char| c.is_whitespace() || c == ':')
        .map_or((body, ""), |i| (&body[..i], &body[i..]));
    match word {
        "no-transaction" if rest.trim().is_empty() => Ok(DirectiveKind::NoTransaction),
        "archive" if rest.trim().is_empty() => Ok(DirectiveKind::Archive),
        "irreversible" => {
            let reason = rest.trim_start().strip_prefix(':').unwrap_or("").trim();
            if reason.is_empty() {
                Err("`-- migrate:irreversible` needs a reason: `-- migrate:irreversible: <why this cannot be undone>`".into())
            } else {
                Ok(DirectiveKind::Irreversible {
                    reason: reason.to_string(),
                })
            }
        }
        "allow" => {
            let (rules, reason) = rest.split_once(':').unwrap_or((rest, ""));
            let rules: Vec<String> = rules
                .split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect();
            if rules.is_empty() {
                return Err(
                    "`-- migrate:allow` names no rule: write `-- migrate:allow <rule>: <reason>`"
                        .into(),
                );
            }
            Ok(DirectiveKind::Allow {
                rules,
                reason: reason.trim().to_string(),
            })
        }
        "up" | "down" => Err(format!(
            "`-- migrate:{word}` marks a section of a single-file migration and is allowed only there"
        )),
        _ => Err(format!(
            "unknown directive `-- migrate:{body}`: the known ones are no-transaction, allow <rule>: <reason>, archive, irreversible: <reason> (a typo must not silently disable a check)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_blank_lines() {
        let src = "-- migrate:allow lossy-down: old data is in the warehouse\n\n-- migrate:archive\nDROP TABLE a;\n";
        let d = parse_directives(src, 0, Direction::Down).unwrap();
        assert_eq!(d[0].scope, Scope::File);
        assert_eq!(d[1].scope, Scope::Statement { line: 4 });
        assert_eq!(d[1].line, 3);
    }

    #[test]
    fn unknown_directive_names_its_line() {
        let src = "SELECT 1;\n-- migrate:no-transacton\nSELECT 2;";
        let e = parse_directives(src, 10, Direction::Up).unwrap_err();
        assert_eq!(e[0].0, 12);
        assert!(e[0].1.contains("unknown directive"), "{}", e[0].1);
    }

    #[test]
    fn allow_keeps_rules_and_reason() {
        let d = parse_directives(
            "-- migrate:allow lossy-down, table-rewrite: empty table\nDROP TABLE a;",
            0,
            Direction::Down,
        )
        .unwrap();
        assert_eq!(
            d[0].kind,
            DirectiveKind::Allow {
                rules: vec!["lossy-down".into(), "table-rewrite".into()],
                reason: "empty table".into()
            }
        );
        let d = parse_directives(
            "-- migrate:allow lossy-down\nDROP TABLE a;",
            0,
            Direction::Down,
        )
        .unwrap();
        assert!(matches!(&d[0].kind, DirectiveKind::Allow { reason, .. } if reason.is_empty()));
    }

    #[test]
    fn misplaced_directives_are_errors() {
        assert!(
            parse_directives(
                "SELECT 1;\n-- migrate:no-transaction\nSELECT 2;",
                0,
                Direction::Up
            )
            .is_err()
        );
        assert!(parse_directives("-- migrate:archive\n\nDROP TABLE a;", 0, Direction::Up).is_err());
        assert!(parse_directives("-- migrate:irreversible: x", 0, Direction::Up).is_err());
        assert!(parse_directives("-- migrate:irreversible:", 0, Direction::Down).is_err());
        assert!(
            parse_directives(
                "-- migrate:irreversible: gone\nDROP TABLE a;",
                0,
                Direction::Down
            )
            .is_err()
        );
        assert!(
            parse_directives("-- migrate:irreversible: data is gone", 0, Direction::Down).is_ok()
        );
        // A directive inside a string is not a directive.
        assert!(parse_directives("SELECT '\n-- migrate:bogus\n';", 0, Direction::Up).is_ok());
    }
}
