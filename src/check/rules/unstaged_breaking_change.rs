//! `unstaged-breaking-change`: a simple migration that breaks a running application.

use crate::check::ir::{Action, Op};
use crate::check::{Finding, Severity, StageCx};
use crate::source::StageKind;

/// Rule id.
pub const ID: &str = "unstaged-breaking-change";
/// Default severity.
pub const SEVERITY: Severity = Severity::Warning;
/// One line.
pub const SUMMARY: &str = "a simple migration renames or drops something an application may still use, or adds NOT NULL without a default";
/// Documentation.
pub const DOC: &str = "\
What it flags, in a simple (unstaged) migration: renaming or dropping a table or column that \
existed before, or adding a NOT NULL column without a default to an existing table.

Why it matters: during a rolling deploy the old and the new application run side by side. The \
old one still reads the renamed column, or inserts without the new NOT NULL column, and fails \
until the deploy finishes (or forever, if the deploy is rolled back).

Instead: split it into a staged migration: expand adds the new shape and backfills; contract \
removes the old one after the old application is gone (`migrate new <name> --staged`).

Example:
  0007_split_name/expand.up.sql    ALTER TABLE users ADD COLUMN first_name TEXT;
  0007_split_name/contract.up.sql  ALTER TABLE users DROP COLUMN name;";

/// Checks a stage.
pub fn check(cx: &StageCx, out: &mut Vec<Finding>) {
    if cx.stage.kind != StageKind::Main {
        return;
    }
    let help = "split it into expand/contract stages (`migrate new <name> --staged`) so old and new application versions both keep working";
    for s in cx.up {
        let mut say = |what: String| out.push(cx.at(false, s, ID, what, help.into()));
        match &s.read.op {
            Op::DropTable { tables, .. } => tables.iter().filter(|t| cx.existed(t)).for_each(|t| {
                say(format!(
                    "drops table {t}, which a running application may still use"
                ))
            }),
            Op::RenameTable { from, to } if cx.existed(from) => say(format!(
                "renames table {from} to {to} while a running application may still use the old name"
            )),
            Op::AlterTable { table, actions, .. } if cx.existed(table) => {
                for a in actions {
                    match a {
                        Action::DropColumn { column, .. } if cx.column_existed(table, column) => {
                            say(format!(
                                "drops column {table}.{column}, which a running application may still use"
                            ))
                        }
                        Action::RenameColumn { from, to } => say(format!(
                            "renames column {table}.{from} to {to} while a running application may still use the old name"
                        )),
                        Action::RenameTo(to) => say(format!(
                            "renames table {table} to {to} while a running application may still use the old name"
                        )),
                        Action::AddColumn(c) if c.not_null && c.default.is_none() => say(format!(
                            "adds {table}.{} as NOT NULL without a default: inserts from the running application fail",
                            c.name
                        )),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::testing::{err, ok, source};

    const T: (&str, &str, Option<&str>) = (
        "t",
        "CREATE TABLE t (id INT PRIMARY KEY, v TEXT);",
        Some("-- migrate:archive\nDROP TABLE t;"),
    );

    #[test]
    fn ok_additive_change() {
        ok(
            super::ID,
            &source(&[
                T,
                (
                    "add",
                    "ALTER TABLE t ADD COLUMN n TEXT NOT NULL DEFAULT '';",
                    Some("-- migrate:archive\nALTER TABLE t DROP COLUMN n;"),
                ),
            ]),
        );
    }

    #[test]
    fn err_rename_and_not_null() {
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "r",
                    "ALTER TABLE t RENAME COLUMN v TO w;",
                    Some("ALTER TABLE t RENAME COLUMN w TO v;"),
                ),
            ]),
        );
        assert!(m.contains("renames column t.v to w"), "{m}");
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "n",
                    "ALTER TABLE t ADD COLUMN n TEXT NOT NULL;",
                    Some("-- migrate:archive\nALTER TABLE t DROP COLUMN n;"),
                ),
            ]),
        );
        assert!(m.contains("NOT NULL without a default"), "{m}");
    }

    #[test]
    fn real_patterns() {
        use crate::check::testing::{BASE, cases};
        cases(
            super::ID,
            &[BASE],
            &[
                (
                    "rename_column",
                    "ALTER TABLE users RENAME COLUMN name TO full_name;",
                    Some("ALTER TABLE users RENAME COLUMN full_name TO name;"),
                    true,
                ),
                (
                    "rename_table",
                    "ALTER TABLE posts RENAME TO articles;",
                    Some("ALTER TABLE articles RENAME TO posts;"),
                    true,
                ),
                (
                    "drop_column",
                    "-- migrate:archive\nALTER TABLE posts DROP COLUMN body;",
                    Some("ALTER TABLE posts ADD COLUMN body TEXT;"),
                    true,
                ),
                (
                    "not_null_without_default",
                    "ALTER TABLE users ADD COLUMN handle TEXT NOT NULL;",
                    Some("-- migrate:archive\nALTER TABLE users DROP COLUMN handle;"),
                    true,
                ),
                (
                    "not_null_with_default",
                    "ALTER TABLE users ADD COLUMN karma INT NOT NULL DEFAULT 0;",
                    Some("-- migrate:archive\nALTER TABLE users DROP COLUMN karma;"),
                    false,
                ),
                (
                    "nullable",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some("-- migrate:archive\nALTER TABLE users DROP COLUMN bio;"),
                    false,
                ),
                (
                    "new_table_renamed",
                    "CREATE TABLE tags (id SERIAL PRIMARY KEY, n TEXT);\nALTER TABLE tags RENAME COLUMN n TO name;",
                    Some("-- migrate:archive\nDROP TABLE tags;"),
                    false,
                ),
                (
                    "index",
                    "CREATE INDEX posts_title_idx ON posts (title);",
                    Some("DROP INDEX posts_title_idx;"),
                    false,
                ),
            ],
        );
    }
}
