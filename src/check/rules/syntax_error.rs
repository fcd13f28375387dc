//! `syntax-error`: a statement PostgreSQL's grammar rejects.

use crate::check::{Finding, Severity, StageCx};

/// Rule id.
pub const ID: &str = "syntax-error";
/// Default severity.
pub const SEVERITY: Severity = Severity::Error;
/// One line.
pub const SUMMARY: &str = "a statement PostgreSQL's grammar rejects: it will fail when it runs";
/// Documentation.
pub const DOC: &str = "\
What it flags: on PostgreSQL, a statement that neither SQL parser can read, and that \
PostgreSQL's own grammar (squawk's parser) rejects too: most often a missing `;`, which joins \
two statements into one, or a misspelt keyword. The message gives the grammar's complaint and \
where in the statement it is.

Why it matters: the statement fails when it runs. In an up, the deploy stops there; in a down, \
the rollback stops half-way through, during an incident. `up` and `down` refuse to run a stage \
with this error. (On MySQL and SQLite an unreadable statement is only `unparsed-statement`: \
there is no complete grammar to be certain with.)

Instead: fix the statement. If PostgreSQL really accepts it (a form newer than the grammar), \
allow it with the reason: `-- migrate:allow syntax-error: PostgreSQL 19 syntax, tested`.

Example:
  ALTER TABLE downloads DROP CONSTRAINT downloads_pkey     -- missing ;
  ALTER TABLE downloads ALTER COLUMN date TYPE timestamp;";

/// Checks a stage.
pub fn check(cx: &StageCx, out: &mut Vec<Finding>) {
    for (down, s) in cx.statements() {
        if let Some((message, line, column)) = &s.read.syntax_error {
            // Where in the file: the statement's own line and column, moved on.
            let (line, column) = if *line == 1 {
                (s.line, s.column + column - 1)
            } else {
                (s.line + line - 1, *column)
            };
            let mut f = cx.at(
                down,
                s,
                ID,
                format!(
                    "PostgreSQL's grammar rejects this statement: {message} (line {line}, column {column}); it would fail when it runs"
                ),
                "fix the statement (a missing `;` joins two statements into one)".into(),
            );
            // The caret goes where the grammar stopped.
            (f.line, f.column, f.end_line, f.end_column) = (line, column, line, column);
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::testing::{err, ok, source};

    #[test]
    fn ok_valid_postgres_sqlparser_cannot_read() {
        ok(
            super::ID,
            &source(&[(
                "t",
                "CREATE TABLE t (id INT, CONSTRAINT t_id_not_null NOT NULL id);\n\
                 ALTER TABLE t ALTER CONSTRAINT t_id_not_null NOT DEFERRABLE;\nREINDEX TABLE t;",
                Some("DROP TABLE t;"),
            )]),
        );
    }

    #[test]
    fn err_missing_semicolon_in_a_down_names_the_line() {
        let src = source(&[(
            "t",
            "CREATE TABLE t (id INT PRIMARY KEY, d DATE);",
            Some(
                "SELECT 1;\nALTER TABLE t DROP CONSTRAINT t_pkey\nALTER TABLE t ALTER COLUMN d TYPE timestamp;",
            ),
        )]);
        let m = err(super::ID, &src);
        assert!(
            m.contains("a `;` is missing here (line 2, column 37)"),
            "{m}"
        );
        // The same statement is not reported a second time as merely unparsed.
        ok(super::super::unparsed_statement::ID, &src);
    }

    #[test]
    fn err_misspelt_keyword_and_the_drop_is_still_seen() {
        let src = source(&[(
            "t",
            "CREATE TABLE t (id INT PRIMARY KEY);",
            Some("DROP TABLE t CASCADE WHATEVER;"),
        )]);
        err(super::ID, &src);
        err(super::super::lossy_down::ID, &src);
    }

    #[test]
    fn real_patterns() {
        use crate::check::testing::{BASE, cases};
        cases(
            super::ID,
            &[BASE],
            &[
                (
                    "missing_semicolon",
                    "CREATE INDEX a ON posts (title);",
                    Some("DROP INDEX a\nALTER TABLE posts DROP CONSTRAINT posts_pkey;"),
                    true,
                ),
                (
                    "misspelled_keyword",
                    "ALTER TABEL posts ADD COLUMN x INT;",
                    Some("SELECT 1;"),
                    true,
                ),
                (
                    "unclosed_paren",
                    "CREATE TABLE t (id INT PRIMARY KEY;",
                    Some("DROP TABLE t;"),
                    true,
                ),
                (
                    "pg18_not_null",
                    "CREATE TABLE t (id INT, CONSTRAINT t_id_nn NOT NULL id);",
                    Some("-- migrate:archive\nDROP TABLE t;"),
                    false,
                ),
                (
                    "do_block",
                    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN CREATE TYPE mood AS ENUM ('a'); END IF; END $$;",
                    Some("DROP TYPE IF EXISTS mood;"),
                    false,
                ),
                (
                    "function",
                    "CREATE FUNCTION one() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;",
                    Some("DROP FUNCTION one();"),
                    false,
                ),
                (
                    "statistics",
                    "CREATE STATISTICS posts_stats (dependencies) ON user_id, title FROM posts;",
                    Some("DROP STATISTICS posts_stats;"),
                    false,
                ),
                (
                    "alter_constraint",
                    "ALTER TABLE posts ALTER CONSTRAINT posts_user_id_fkey DEFERRABLE;",
                    Some("ALTER TABLE posts ALTER CONSTRAINT posts_user_id_fkey NOT DEFERRABLE;"),
                    false,
                ),
            ],
        );
    }
}
