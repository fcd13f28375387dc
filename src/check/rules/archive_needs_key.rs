//! `archive-needs-key`: an archive that could not be restored.

use crate::check::ir::{Action, Op};
use crate::check::{Finding, Severity, StageCx};

/// Rule id.
pub const ID: &str = "archive-needs-key";
/// Default severity.
pub const SEVERITY: Severity = Severity::Error;
/// One line.
pub const SUMMARY: &str =
    "`-- migrate:archive` on a table with no primary key (or unique not-null key) to restore by";
/// Documentation.
pub const DOC: &str = "\
What it flags: `-- migrate:archive` above a DROP of a table, or of a column of a table, that has \
no primary key and no unique key over NOT NULL columns; and `-- migrate:archive` above a \
statement that is not `DROP TABLE` or `ALTER TABLE ... DROP COLUMN`.

Why it matters: archived values are put back by matching rows on a key. Without one there is no \
way to know which value belongs to which row, so the runner refuses the migration before it \
starts.

Instead: give the table a primary key in an earlier migration, or accept the loss explicitly \
with `-- migrate:allow lossy-down: <reason>` instead of archiving.

Example:
  CREATE TABLE events (id BIGINT PRIMARY KEY, payload TEXT);   -- archivable";

/// Checks a stage.
pub fn check(cx: &StageCx, out: &mut Vec<Finding>) {
    let scripts = [
        (false, Some(cx.up), cx.before),
        (true, cx.down, cx.after_up),
    ];
    for (down, stmts, schema) in scripts {
        for s in stmts.into_iter().flatten().filter(|s| s.archived) {
            let table = match &s.read.op {
                Op::DropTable { tables, .. } if tables.len() == 1 => Some(&tables[0]),
                Op::AlterTable { table, actions, .. }
                    if matches!(actions.as_slice(), [Action::DropColumn { .. }]) =>
                {
                    Some(table)
                }
                _ => None,
            };
            match table {
                None => out.push(cx.at(
                    down,
                    s,
                    ID,
                    "`-- migrate:archive` stands above a statement that is neither `DROP TABLE <table>` nor `ALTER TABLE <table> DROP COLUMN <column>`".into(),
                    "move it directly above the DROP whose data it keeps (one table or column per statement)".into(),
                )),
                Some(t) => {
                    if schema.tables.get(t).is_some_and(|t| !t.has_key()) {
                        out.push(cx.at(
                            down,
                            s,
                            ID,
                            format!("{t} has no primary key or unique NOT NULL key, so its archived rows cannot be matched when restored"),
                            "add a primary key in an earlier migration, or drop without archiving and allow it with a reason".into(),
                        ));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::testing::{err, ok, source};

    #[test]
    fn ok_table_with_key() {
        ok(
            super::ID,
            &source(&[(
                "t",
                "CREATE TABLE t (id INT PRIMARY KEY);",
                Some("-- migrate:archive\nDROP TABLE t;"),
            )]),
        );
        ok(
            super::ID,
            &source(&[(
                "t",
                "CREATE TABLE t (code TEXT NOT NULL UNIQUE);",
                Some("-- migrate:archive\nDROP TABLE t;"),
            )]),
        );
    }

    #[test]
    fn err_no_key_or_not_a_drop() {
        let m = err(
            super::ID,
            &source(&[(
                "t",
                "CREATE TABLE t (a INT);",
                Some("-- migrate:archive\nDROP TABLE t;"),
            )]),
        );
        assert!(m.contains("t has no primary key"), "{m}");
        let m = err(
            super::ID,
            &source(&[(
                "t",
                "CREATE TABLE t (id INT PRIMARY KEY);",
                Some("-- migrate:archive\nDELETE FROM t;\nDROP TABLE t;"),
            )]),
        );
        assert!(m.contains("neither"), "{m}");
    }

    #[test]
    fn real_patterns() {
        use crate::check::testing::{BASE, cases};
        cases(
            super::ID,
            &[BASE],
            &[
                (
                    "keyed_table",
                    "CREATE TABLE tags (id SERIAL PRIMARY KEY);",
                    Some("-- migrate:archive\nDROP TABLE tags;"),
                    false,
                ),
                (
                    "keyless_table",
                    "CREATE TABLE events (at TIMESTAMP, what TEXT);",
                    Some("-- migrate:archive\nDROP TABLE events;"),
                    true,
                ),
                (
                    "unique_not_null",
                    "CREATE TABLE codes (code TEXT NOT NULL UNIQUE);",
                    Some("-- migrate:archive\nDROP TABLE codes;"),
                    false,
                ),
                (
                    "unique_nullable",
                    "CREATE TABLE codes (code TEXT UNIQUE);",
                    Some("-- migrate:archive\nDROP TABLE codes;"),
                    true,
                ),
                (
                    "column_of_keyed",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some("-- migrate:archive\nALTER TABLE users DROP COLUMN bio;"),
                    false,
                ),
                (
                    "column_of_keyless",
                    "CREATE TABLE events (at TIMESTAMP, what TEXT);\nALTER TABLE events ADD COLUMN who TEXT;",
                    Some(
                        "-- migrate:archive\nALTER TABLE events DROP COLUMN who;\n-- migrate:allow lossy-down: test\nDROP TABLE events;",
                    ),
                    true,
                ),
                (
                    "above_an_update",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some(
                        "-- migrate:archive\nUPDATE users SET bio = NULL;\n-- migrate:archive\nALTER TABLE users DROP COLUMN bio;",
                    ),
                    true,
                ),
                (
                    "composite_key",
                    "CREATE TABLE likes (user_id BIGINT NOT NULL, post_id INT NOT NULL, PRIMARY KEY (user_id, post_id));",
                    Some("-- migrate:archive\nDROP TABLE likes;"),
                    false,
                ),
            ],
        );
    }
}
