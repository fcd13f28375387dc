//! `unused-suppression`: an allow that suppressed nothing.

use crate::check::Severity;

/// Rule id.
pub const ID: &str = "unused-suppression";
/// Default severity.
pub const SEVERITY: Severity = Severity::Warning;
/// One line.
pub const SUMMARY: &str = "an allow that suppressed nothing";
/// Documentation.
pub const DOC: &str = "\
What it flags: `-- migrate:allow <rule>: <reason>` where the rule found nothing on that \
statement (or file), or the rule id is unknown.

Why it matters: a stale allow misleads reviewers, and a misspelt one silently fails to do what \
its author meant.

Instead: remove it, fix the rule id (`migrate check --list-rules`), or move it directly above the \
statement it is about.

Example:
  -- migrate:allow lossy-down: ...    <- above a statement that loses nothing";

#[cfg(test)]
mod tests {
    use crate::check::testing::{err, ok, source};

    #[test]
    fn ok_used_allow() {
        ok(
            super::ID,
            &source(&[(
                "t",
                "CREATE TABLE t (id INT PRIMARY KEY);",
                Some("-- migrate:allow lossy-down: empty\nDROP TABLE t;"),
            )]),
        );
    }

    #[test]
    fn err_unused_or_unknown() {
        let m = err(
            super::ID,
            &source(&[(
                "t",
                "CREATE TABLE t (id INT PRIMARY KEY);",
                Some("-- migrate:allow table-rewrite: x\n-- migrate:archive\nDROP TABLE t;"),
            )]),
        );
        assert!(m.contains("suppresses nothing"), "{m}");
        let m = err(
            super::ID,
            &source(&[(
                "t",
                "CREATE TABLE t (id INT PRIMARY KEY);",
                Some("-- migrate:allow lossy-dwon: typo\nDROP TABLE t;"),
            )]),
        );
        assert!(m.contains("unknown rule `lossy-dwon`"), "{m}");
        // At the top, directly above the first statement, it covers that
        // statement only: the help says how to make it file-wide.
        let f = crate::check::testing::findings(
            super::ID,
            &source(&[(
                "t",
                "CREATE TABLE t (id INT PRIMARY KEY);",
                Some("-- migrate:allow lossy-down: old data\nSELECT 1;\nDROP TABLE t;"),
            )]),
        );
        assert!(f[0].help.contains("leave a blank line"), "{:?}", f[0]);
    }

    #[test]
    fn real_patterns() {
        use crate::check::testing::{BASE, cases};
        cases(
            super::ID,
            &[BASE],
            &[
                (
                    "used",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some(
                        "-- migrate:allow lossy-down: bios were never shown\nALTER TABLE users DROP COLUMN bio;",
                    ),
                    false,
                ),
                (
                    "archived_anyway",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some(
                        "-- migrate:allow lossy-down: kept just in case\n-- migrate:archive\nALTER TABLE users DROP COLUMN bio;",
                    ),
                    true,
                ),
                (
                    "wrong_rule",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some(
                        "-- migrate:allow table-rewrite: small table\n-- migrate:archive\nALTER TABLE users DROP COLUMN bio;",
                    ),
                    true,
                ),
                (
                    "fixed_since",
                    "CREATE INDEX users_name_idx ON users (name);",
                    Some(
                        "-- migrate:allow down-would-fail: the name was wrong\nDROP INDEX users_name_idx;",
                    ),
                    true,
                ),
                (
                    "used_in_the_up",
                    "-- migrate:allow index-not-concurrent: users has 200 rows\nCREATE INDEX users_name_idx ON users (name);",
                    Some("DROP INDEX users_name_idx;"),
                    false,
                ),
                (
                    "no_directive",
                    "CREATE INDEX users_name_idx ON users (name);",
                    Some("DROP INDEX users_name_idx;"),
                    false,
                ),
                (
                    "one_of_two_used",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some(
                        "-- migrate:allow lossy-down, syntax-error: bios were never shown\nALTER TABLE users DROP COLUMN bio;",
                    ),
                    true,
                ),
                (
                    "used_twice",
                    "ALTER TABLE users ADD COLUMN bio TEXT;\nALTER TABLE users ADD COLUMN avatar TEXT;",
                    Some(
                        "-- migrate:allow lossy-down: neither was ever shown\nALTER TABLE users DROP COLUMN bio, DROP COLUMN avatar;",
                    ),
                    false,
                ),
            ],
        );
    }
}
