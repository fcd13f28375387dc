//! Splitting a script into statements with byte spans and line numbers.
//!
//! Invariants: never fails; linear in the script's length; a `;` inside a
//! string, comment, dollar-quoted body, a `BEGIN ... END` block of a
//! trigger, function or procedure, or MariaDB's `BEGIN NOT ATOMIC ... END`
//! does not end a statement; empty statements (`;;`) are dropped; a last
//! statement without a `;` is kept. As the mysql client does, a `DELIMITER
//! xx` line (MySQL dialect) changes what ends a statement and is not itself
//! sent; as psql does, the rows after `COPY ... FROM stdin;` up to a line
//! `\.` belong to that statement ([`Statement::copy_data`]).

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
    /// For `COPY ... FROM stdin`: the rows written after it in the script.
    pub copy_data: Option<CopyData>,
}

/// The inline rows of a `COPY ... FROM stdin` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyData {
    /// Byte span of the rows in the script (the closing `\.` line excluded).
    pub span: Range<usize>,
    /// A line `\.` ends them; `false` when the script ended first.
    pub terminated: bool,
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
    let mut out = Splitter {
        script,
        statements: Vec::new(),
        lines: LineCounter::default(),
    };
    let mut current: Vec<Token> = Vec::new();
    let mut block = BlockTracker::default();
    let mut delimiter: Option<String> = None;
    // Tokens before this offset were consumed (a DELIMITER line, COPY rows,
    // a custom delimiter).
    let mut skip_to = 0;
    for token in tokens {
        if token.span.start < skip_to {
            continue;
        }
        let starts_statement = current.iter().all(Token::is_trivia);
        if dialect == Dialect::Mysql
            && starts_statement
            && token.kind == TokenKind::Word
            && script[token.span.clone()].eq_ignore_ascii_case("DELIMITER")
            && at_line_start(script, token.span.start)
        {
            let end = line_end(script, token.span.end);
            let new = script[token.span.end..end].trim();
            if !new.is_empty() {
                delimiter = (new != ";").then(|| new.to_string());
                skip_to = end;
                current.clear();
                continue;
            }
        }
        if let Some(d) = &delimiter {
            if !token.is_trivia() && script[token.span.start..].starts_with(d.as_str()) {
                out.push(std::mem::take(&mut current), None);
                skip_to = token.span.start + d.len();
                continue;
            }
            current.push(token);
            continue;
        }
        if token.kind == TokenKind::Semicolon && block.depth == 0 {
            let copy = is_copy_from_stdin(script, &current).then(|| {
                let (data, resume) = copy_rows(script, token.span.end);
                skip_to = resume;
                data
            });
            out.push(std::mem::take(&mut current), copy);
            block = BlockTracker::default();
            continue;
        }
        if token.kind == TokenKind::Word {
            block.word(&script[token.span.clone()]);
        }
        current.push(token);
    }
    let copy = is_copy_from_stdin(script, &current).then_some(CopyData {
        span: script.len()..script.len(),
        terminated: false,
    });
    out.push(current, copy);
    out.statements
}

struct Splitter<'s> {
    script: &'s str,
    statements: Vec<Statement>,
    lines: LineCounter,
}

impl Splitter<'_> {
    fn push(&mut self, tokens: Vec<Token>, copy_data: Option<CopyData>) {
        let Some(first) = tokens.iter().position(|t| !t.is_trivia()) else {
            return;
        };
        let last = tokens.iter().rposition(|t| !t.is_trivia()).unwrap_or(first);
        let span = tokens[first].span.start..tokens[last].span.end;
        let line = self.lines.line_at(self.script, span.start);
        self.statements.push(Statement {
            span,
            line,
            tokens: tokens[first..=last].to_vec(),
            copy_data,
        });
    }
}

/// Line numbers of increasing offsets, counted in one pass over the text.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    newlines: u32,
}

impl LineCounter {
    fn line_at(&mut self, text: &str, offset: usize) -> u32 {
        if offset < self.offset {
            *self = LineCounter::default();
        }
        self.newlines += text.as_bytes()[self.offset..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u32;
        self.offset = offset;
        self.newlines + 1
    }
}

fn at_line_start(text: &str, offset: usize) -> bool {
    text[..offset]
        .bytes()
        .rev()
        .take_while(|&b| b != b'\n')
        .all(|b| b == b' ' || b == b'\t' || b == b'\r')
}

fn line_end(text: &str, from: usize) -> usize {
    text[from..].find('\n').map_or(text.len(), |i| from + i)
}

/// `COPY <table> [(columns)] FROM STDIN ...`.
fn is_copy_from_stdin(script: &str, tokens: &[Token]) -> bool {
    let mut words = tokens
        .iter()
        .filter(|t| t.kind == TokenKind::Word)
        .map(|t| &script[t.span.clone()]);
    if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("COPY")) {
        return false;
    }
    let mut after_from = false;
    for w in words {
        if after_from {
            return w.eq_ignore_ascii_case("STDIN");
        }
        after_from = w.eq_ignore_ascii_case("FROM");
    }
    false
}

/// The rows after a `COPY ... FROM stdin;` whose `;` ends at `after`: from
/// the next line up to a line `\.`. Returns them and where the script goes
/// on.
fn copy_rows(script: &str, after: usize) -> (CopyData, usize) {
    let start = script[after..]
        .find('\n')
        .map_or(script.len(), |i| after + i + 1);
    let mut line_start = start;
    while line_start < script.len() {
        let end = line_end(script, line_start);
        if script[line_start..end].trim_end_matches('\r') == "\\." {
            let data = CopyData {
                span: start..line_start,
                terminated: true,
            };
            return (data, end);
        }
        line_start = end + 1;
    }
    let data = CopyData {
        span: start..script.len(),
        terminated: false,
    };
    (data, script.len())
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
    saw_begin: bool,
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
            if self.leading == 1 && upper == "BEGIN" {
                self.saw_begin = true;
            }
            // MariaDB's compound statement `BEGIN NOT ATOMIC ... END`.
            if self.leading == 2 && self.saw_begin && upper == "NOT" {
                self.routine = true;
                self.depth = 1;
                return;
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
    fn mysql_delimiter_lines_change_the_terminator() {
        let src = "DELIMITER //\nCREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW\nBEGIN\n  SET NEW.x = 1;\nEND//\nDELIMITER ;\nINSERT INTO a VALUES (1);\nSELECT 2";
        let s = split(src, Dialect::Mysql);
        let t: Vec<&str> = s.iter().map(|s| s.text(src)).collect();
        assert_eq!(t.len(), 3, "{t:?}");
        assert!(
            t[0].starts_with("CREATE TRIGGER") && t[0].ends_with("END"),
            "{t:?}"
        );
        assert_eq!(t[1], "INSERT INTO a VALUES (1)");
        assert_eq!(s[0].line, 2);
        assert_eq!(s[1].line, 7);
    }

    #[test]
    fn mariadb_begin_not_atomic_is_one_statement() {
        let src = "BEGIN NOT ATOMIC\n  DECLARE x INT DEFAULT 1;\n  IF x THEN SELECT 1; END IF;\nEND;\nSELECT 2;";
        assert_eq!(texts(src, Dialect::Mysql).len(), 2);
    }

    #[test]
    fn mysql_executable_comments_are_sql() {
        let src = "CREATE TABLE p (id INT) /*!50100 PARTITION BY HASH (id) PARTITIONS 2 */;\n/*!40014 SET FOREIGN_KEY_CHECKS=0 */;";
        assert_eq!(
            texts(src, Dialect::Mysql),
            vec![
                "CREATE TABLE p (id INT) /*!50100 PARTITION BY HASH (id) PARTITIONS 2 */",
                "/*!40014 SET FOREIGN_KEY_CHECKS=0 */"
            ]
        );
    }

    #[test]
    fn copy_from_stdin_takes_its_rows() {
        let src =
            "COPY t (a, b) FROM stdin;\n1\tx;y\n2\t\\N\n\\.\nSELECT 1;\nCOPY u FROM STDIN;\n3\n";
        let s = split(src, Dialect::Postgres);
        assert_eq!(s.len(), 3, "{s:?}");
        let data = s[0].copy_data.as_ref().unwrap();
        assert!(data.terminated);
        assert_eq!(&src[data.span.clone()], "1\tx;y\n2\t\\N\n");
        assert_eq!(s[1].text(src), "SELECT 1");
        assert_eq!(s[1].line, 5);
        assert!(!s[2].copy_data.as_ref().unwrap().terminated);
        assert!(
            split("COPY t TO STDOUT;", Dialect::Postgres)[0]
                .copy_data
                .is_none()
        );
    }

    #[test]
    fn forty_thousand_inserts_split_in_linear_time() {
        let src: String = (0..40_000)
            .map(|i| format!("INSERT INTO t VALUES ({i}, 'row {i}');\n"))
            .collect();
        let started = std::time::Instant::now();
        let s = split(&src, Dialect::Postgres);
        assert_eq!(s.len(), 40_000);
        assert_eq!(s[39_999].line, 40_000);
        // Not a benchmark, a bound: quadratic splitting took 22 s here.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn postgres_function_in_dollar_quotes() {
        let src = "CREATE FUNCTION f() RETURNS void AS $$ BEGIN DELETE FROM t; END; $$ LANGUAGE plpgsql;\nDROP TABLE x;";
        let t = texts(src, Dialect::Postgres);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1], "DROP TABLE x");
    }
}
