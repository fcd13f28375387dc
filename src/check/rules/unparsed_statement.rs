//! `unparsed-statement`: a statement the parser could not read.

use crate::check::{Finding, Severity, StageCx};

/// Rule id.
pub const ID: &str = "unparsed-statement";
/// Default severity.
pub const SEVERITY: Severity = Severity::Warning;
/// One line.
pub const SUMMARY: &str = "a statement the parser could not read (checked conservatively)";
/// Documentation.
pub const DOC: &str = "\
What it flags: a statement the SQL parser rejects, either a genuine syntax error or a form it \
does not know yet (`DO $$ ... $$`, some `ALTER ... USING INDEX` forms). It is still read at \
token level, so a DROP, TRUNCATE or DELETE in it is never missed, but schema comparisons for its \
stage are skipped.

Why it matters: a syntax error in a down is a rollback that will fail during an incident.

Instead: check the statement; if it is valid for your database, allow it with the reason: \
`-- migrate:allow unparsed-statement: valid PostgreSQL 15 syntax`.

Example:
  DO $$ BEGIN RAISE NOTICE 'x'; END $$;";

/// Checks a stage.
pub fn check(cx: &StageCx, out: &mut Vec<Finding>) {
    for (down, s) in cx.statements() {
        // A certain syntax error is `syntax-error`'s, not this rule's.
        if let (Some(why), None) = (&s.read.parse_error, &s.read.syntax_error) {
            out.push(cx.at(
                down,
                s,
                ID,
                format!("{why}; it was checked at token level only"),
                "check its syntax; if it is valid for your database, allow it with a reason".into(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::testing::{err, ok, source};

    #[test]
    fn ok_valid_sql() {
        ok(
            super::ID,
            &source(&[(
                "t",
                "CREATE TABLE t (id INT PRIMARY KEY);",
                Some("-- migrate:archive\nDROP TABLE t;"),
            )]),
        );
    }

    #[test]
    fn err_do_block_in_a_down_and_drop_still_seen() {
        let src = source(&[(
            "t",
            "CREATE TABLE t (id INT PRIMARY KEY);",
            Some("DO $$ BEGIN PERFORM 1; END $$;\nDROP TABLE t;"),
        )]);
        let m = err(super::ID, &src);
        assert!(m.contains("DO block"), "{m}");
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
                    "do_block",
                    "DO $$ BEGIN PERFORM 1; END $$;",
                    Some("SELECT 1;"),
                    true,
                ),
                ("call", "CALL refresh_stats();", Some("SELECT 1;"), true),
                (
                    "plain_ddl",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some("-- migrate:archive\nALTER TABLE users DROP COLUMN bio;"),
                    false,
                ),
                (
                    "pg_only_forms",
                    "ALTER TABLE posts ALTER CONSTRAINT posts_user_id_fkey DEFERRABLE;\nREINDEX TABLE posts;",
                    Some("ALTER TABLE posts ALTER CONSTRAINT posts_user_id_fkey NOT DEFERRABLE;"),
                    false,
                ),
                (
                    "comment_on",
                    "COMMENT ON COLUMN users.email IS 'where we write';",
                    Some("COMMENT ON COLUMN users.email IS NULL;"),
                    false,
                ),
                (
                    "function",
                    "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created_at = now(); RETURN NEW; END $$;",
                    Some("DROP FUNCTION touch();"),
                    false,
                ),
                (
                    "trigger",
                    "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();",
                    Some("DROP TRIGGER users_touch ON users;"),
                    false,
                ),
                (
                    "grant",
                    "GRANT SELECT ON users TO reporting;",
                    Some("REVOKE SELECT ON users FROM reporting;"),
                    false,
                ),
            ],
        );
    }
}
