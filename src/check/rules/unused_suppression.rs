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
}
