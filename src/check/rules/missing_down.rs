//! `missing-down`: a stage without a down.

use crate::check::{Finding, Severity, StageCx};

/// Rule id.
pub const ID: &str = "missing-down";
/// Default severity.
pub const SEVERITY: Severity = Severity::Error;
/// One line.
pub const SUMMARY: &str = "a stage has no down and is not declared irreversible";
/// Documentation.
pub const DOC: &str = "\
What it flags: an up with no down file (or a single-file migration without `-- migrate:down`), \
and no declaration that it cannot be undone.

Why it matters: during an incident `migrate down --to <checkpoint>` must walk back through every stage. A \
missing down stops the rollback at that stage, at the worst moment.

Instead: write the down that undoes the up. If the change truly cannot be undone, say so in a \
down file whose only content is `-- migrate:irreversible: <reason>`; the runner then refuses to \
cross it and names the reason.

Example:
  0004_add_locale.up.sql    ALTER TABLE users ADD COLUMN locale TEXT;
  0004_add_locale.down.sql  -- migrate:archive
                            ALTER TABLE users DROP COLUMN locale;";

/// Checks a stage.
pub fn check(cx: &StageCx, out: &mut Vec<Finding>) {
    if cx.stage.down.is_none() {
        out.push(cx.at_file(
            &cx.stage.up,
            ID,
            format!("{} has no down: it cannot be reverted", cx.label()),
            "write the down beside the up, or declare it irreversible in a down file containing `-- migrate:irreversible: <reason>`".into(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::check::testing::{err, ok, source};

    #[test]
    fn ok_down_present_or_declared_irreversible() {
        ok(
            super::ID,
            &source(&[(
                "a",
                "CREATE TABLE a (id INT PRIMARY KEY);",
                Some("DROP TABLE a;"),
            )]),
        );
        ok(
            super::ID,
            &source(&[(
                "a",
                "CREATE TABLE a (id INT);",
                Some("-- migrate:irreversible: legacy import"),
            )]),
        );
    }

    #[test]
    fn err_no_down() {
        let m = err(
            super::ID,
            &source(&[("a", "CREATE TABLE a (id INT);", None)]),
        );
        assert!(m.contains("0001_a (main) has no down"), "{m}");
    }

    #[test]
    fn real_patterns() {
        use crate::check::testing::{BASE, cases};
        cases(
            super::ID,
            &[BASE],
            &[
                (
                    "no_down_file",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    None,
                    true,
                ),
                (
                    "data_fix_without_down",
                    "UPDATE users SET email = lower(email);",
                    None,
                    true,
                ),
                (
                    "declared_irreversible",
                    "UPDATE users SET email = lower(email);",
                    Some("-- migrate:irreversible: emails are compared lower-cased from now on"),
                    false,
                ),
                (
                    "empty_down",
                    "CREATE INDEX users_name_idx ON users (name);",
                    Some(""),
                    false,
                ),
                (
                    "comment_only_down",
                    "CREATE INDEX users_name_idx ON users (name);",
                    Some("-- nothing to undo: the index is dropped with the table"),
                    false,
                ),
                (
                    "paired",
                    "CREATE INDEX users_name_idx ON users (name);",
                    Some("DROP INDEX users_name_idx;"),
                    false,
                ),
                (
                    "index_without_down",
                    "CREATE INDEX users_name_idx ON users (name);",
                    None,
                    true,
                ),
                (
                    "grant_without_down",
                    "GRANT SELECT ON users TO reporting;",
                    None,
                    true,
                ),
            ],
        );
    }
}
