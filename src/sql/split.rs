//! Splitting a script into statements with byte spans and line numbers.
//!
//! Invariants: never fails; a `;` inside a string, comment, dollar-quoted body
//! or a `BEGIN ... END` block of a trigger, function or procedure does not end
//! a statement; empty statements (`;;`) are dropped; a last statement without
//! a `;` is kept.

use std::ops::Range;

use super::lexer::{Dialect, Token, TokenKind, tokenize};

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Byte span in the script, from its first real token to the end of its
    /// last one (the `;` excluded).
    pub span: Range<usize>,
    /// 1-based line of the statement's first token, within the script.
    pub line: u32,
    /// Its tokens, comments and whitespace included, with spans into the script.
    pub tokens: Vec<Token>,
}

impl Statement {
    /// The statement's text.
    pub fn text<'a>(&self, script: &'a str) -> &'a str {
        &script[self.span.clone()]
    }

    /// The statement's words, upper-cased, in order (comments and literals skipped).
    pub fn words<'a>(&'a self, script: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.tokens
            .iter()
            .filter(|t| t.kind == TokenKind::Word)
            .map(move |t| &script[t.span.clone()])
    }
}

/// Splits `script` into statements.
pub fn split(script: &str, dialect: Dialect) -> Vec<Statement> {
    let tokens = tokenize(script, dialect);
    let mut statements = Vec::new();
    let mut current: Vec<Token> = Vec::new();
    let mut block = BlockTracker::default();
    for token in tokens {
        if token.kind == TokenKind::Semicolon && block.depth == 0 {
            push_statement(script, &mut statements, std::mem::take(&mut current));
            block = BlockTracker::default();
            continue;
        }
        if token.kind == TokenKind::Word {
            block.word(&script[token.span.clone()]);
        }
        current.push(token);
    }
    push_statement(script, &mut statements, current);
    statements
}

fn push_statement(script: &str, out: &mut Vec<Statement>, tokens: Vec<Token>) {
    let Some(first) = tokens.iter().position(|t| !t.is_trivia()) else {
        return;
    };
    let last = tokens.iter().rposition(|t| !t.is_trivia()).unwrap_or(first);
    let span = tokens[first].span.start..tokens[last].span.end;
    let line = line_of(script, span.start);
    out.push(Statement {
        span,
        line,
        tokens: tokens[first..=last].to_vec(),
    });
}

/// 1-based line number of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> u32 {
    1 + text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u32
}

/// Tracks `BEGIN ... END` bodies of routines and triggers, where `;` does
/// not end the statement.
#[derive(Default)]
struct BlockTracker {
    /// Leading words seen so far (at most a few are needed).
    leading: u8,
    /// The statement creates a trigger, function, procedure or event.
    routine: bool,
    saw_create: bool,
    depth: u32,
    after_end: bool,
}

impl BlockTracker {
    fn word(&mut self, word: &str) {
        let upper = word.to_ascii_uppercase();
        if self.leading < 8 && !self.routine {
            self.leading += 1;
            if self.leading == 1 && upper == "CREATE" {
                self.saw_create = true;
            }
            if self.saw_create {
                match upper.as_str() {
                    "TRIGGER" | "FUNCTION" | "PROCEDURE" | "EVENT" => self.routine = true,
                    // Any other object kind: stop looking, so that a column
                    // named `function` does not make a table a routine.
                    "TABLE" | "INDEX" | "VIEW" | "UNIQUE" | "SEQUENCE" | "TYPE" | "SCHEMA"
                    | "DATABASE" | "EXTENSION" | "DOMAIN" | "MATERIALIZED" | "POLICY" | "ROLE"
                    | "USER" => self.leading = u8::MAX,
                    _ => {}
                }
            }
        }
        if !self.routine {
            return;
        }
        if self.after_end {
            self.after_end = false;
            // `END IF`, `END LOOP`, ... close constructs that were not counted;
            // `END CASE` closes a counted CASE.
            if matches!(upper.as_str(), "IF" | "LOOP" | "WHILE" | "REPEAT" | "FOR") {
                self.depth += 1; // undo the decrement made for END
                return;
            }
            if upper == "CASE" {
                return;
            }
        }
        match upper.as_str() {
            "BEGIN" | "CASE" => self.depth += 1,
            "END" => {
                self.depth = self.depth.saturating_sub(1);
                self.after_end = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str, d: Dialect) -> Vec<String> {
        split(src, d)
            .iter()
            .map(|s| s.text(src).to_string())
            .collect()
    }

    #[test]
    fn splits_on_semicolons_outside_quotes() {
        let src = "-- head\nCREATE TABLE a (x text default ';');\n\n;;INSERT INTO a VALUES ('b')";
        assert_eq!(
            texts(src, Dialect::Generic),
            vec![
                "CREATE TABLE a (x text default ';')",
                "INSERT INTO a VALUES ('b')"
            ]
        );
        let s = split(src, Dialect::Generic);
        assert_eq!(s[0].line, 2);
        assert_eq!(s[1].line, 4);
    }

    #[test]
    fn sqlite_trigger_body_is_one_statement() {
        let src = "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE b SET n = CASE WHEN 1 THEN 2 ELSE 3 END;\n  DELETE FROM c;\nEND;\nSELECT 1;";
        let t = texts(src, Dialect::Sqlite);
        assert_eq!(t.len(), 2, "{t:?}");
        assert!(t[0].ends_with("END"));
    }

    #[test]
    fn mysql_procedure_with_if_and_case() {
        let src = "CREATE PROCEDURE p() BEGIN IF 1 THEN SELECT 1; END IF; CASE x WHEN 1 THEN SELECT 2; END CASE; END; SELECT 3";
        assert_eq!(texts(src, Dialect::Mysql).len(), 2);
    }

    #[test]
    fn transaction_begin_is_not_a_block() {
        let src = "BEGIN; SELECT 1; COMMIT;";
        assert_eq!(texts(src, Dialect::Postgres).len(), 3);
    }

    #[test]
    fn postgres_function_in_dollar_quotes() {
        let src = "CREATE FUNCTION f() RETURNS void AS $$ BEGIN DELETE FROM t; END; $$ LANGUAGE plpgsql;\nDROP TABLE x;";
        let t = texts(src, Dialect::Postgres);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1], "DROP TABLE x");
    }
}
