//! `empty-stage`: an up with no statements.

use crate::check::Finding;
use crate::check::{Severity, StageCx};
use crate::source::{Direction, template};

/// Rule id.
pub const ID: &str = "empty-stage";
/// Default severity.
pub const SEVERITY: Severity = Severity::Warning;
/// One line.
pub const SUMMARY: &str =
    "an up with no statements: applied and recorded as a no-op (an untouched template is an error)";
/// Documentation.
pub const DOC: &str = "\
What it flags: an up that holds only comments. Per-dialect histories have them (\"nothing to do \
on this engine\"); the runner applies such a stage as a no-op and records it, so that every \
database passes through the same versions. An up that is still the template `migrate new` \
wrote is an error instead: the migration was never written, and recording it as applied would \
turn the statements written into it later into drift.

Why it matters: an empty up is usually deliberate, but it can also be a migration whose author \
forgot to save the file; a reviewer should see it.

Instead: write the migration, or say in a comment why there is nothing to do, and accept it \
with `-- migrate:allow empty-stage: <reason>` at the top of the file.

Example:
  -- migrate:allow empty-stage: SQLite needs no index here; the PostgreSQL history has one
  -- (nothing to do on SQLite)";

/// Checks a stage.
pub fn check(cx: &StageCx, out: &mut Vec<Finding>) {
    if !cx.up.is_empty() || cx.stage.up.irreversible_reason().is_some() {
        return;
    }
    let up = &cx.stage.up;
    if template::is_untouched(&up.sql, &cx.migration.name, cx.stage.kind, Direction::Up) {
        let mut f = cx.at_file(
            up,
            ID,
            format!(
                "{}: template not filled in: {} is still the template `migrate new` wrote",
                cx.label(),
                up.path.display()
            ),
            "write the migration, or delete its files".into(),
        );
        f.severity = Some(Severity::Error);
        out.push(f);
    } else {
        out.push(cx.at_file(
            up,
            ID,
            format!("{} has no statements: it is applied and recorded as a no-op", cx.label()),
            "if nothing is to be done, accept it with `-- migrate:allow empty-stage: <reason>` at the top of the file".into(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::check::Severity;
    use crate::check::testing::{err, findings, ok, source};
    use crate::source::{Direction, StageKind, template};

    #[test]
    fn ok_statements_or_an_accepted_no_op() {
        ok(
            super::ID,
            &source(&[("t", "CREATE TABLE t (id INT);", Some("DROP TABLE t;"))]),
        );
        ok(
            super::ID,
            &source(&[(
                "t",
                "-- migrate:allow empty-stage: nothing to do on this engine\n-- (no index on SQLite)\n",
                Some("-- nothing"),
            )]),
        );
    }

    #[test]
    fn err_comment_only_up_is_a_warning_and_a_template_an_error() {
        let m = err(
            super::ID,
            &source(&[("t", "-- nothing to do on this engine\n", Some(""))]),
        );
        assert!(m.contains("no-op"), "{m}");
        let f = findings(super::ID, &source(&[("t", "-- x\n", None)]));
        assert_eq!(f[0].severity, Severity::Warning);
        let up = template::template("t", StageKind::Main, Direction::Up);
        let f = findings(super::ID, &source(&[("t", &up, None)]));
        assert_eq!(f[0].severity, Severity::Error);
        assert!(
            f[0].message.contains("template not filled in"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn real_patterns() {
        use crate::check::testing::{BASE, cases};
        cases(
            super::ID,
            &[BASE],
            &[
                (
                    "engine_note",
                    "-- nothing to do on PostgreSQL: the index exists there\n",
                    Some(""),
                    true,
                ),
                (
                    "accepted_note",
                    "-- migrate:allow empty-stage: nothing to do on PostgreSQL\n-- the index exists there\n",
                    Some(""),
                    false,
                ),
                ("blank", "\n\n", Some(""), true),
                (
                    "block_comment",
                    "/* reserved version: see 0042 */\n",
                    Some(""),
                    true,
                ),
                ("one_statement", "SELECT 1;", Some("SELECT 1;"), false),
                (
                    "statement_after_comments",
                    "-- add the bio\n-- (nullable)\nALTER TABLE users ADD COLUMN bio TEXT;",
                    Some("-- migrate:archive\nALTER TABLE users DROP COLUMN bio;"),
                    false,
                ),
                (
                    "empty_down_only",
                    "CREATE INDEX users_name_idx ON users (name);",
                    Some(""),
                    false,
                ),
                ("semicolon_only", ";\n", Some(""), true),
            ],
        );
    }
}
