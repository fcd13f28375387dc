//! `irreversible-up`: an up that destroys data its down cannot bring back.

use crate::check::ir::{Action, Op};
use crate::check::schema::widening;
use crate::check::{Finding, Severity, StageCx};

/// Rule id.
pub const ID: &str = "irreversible-up";
/// Default severity.
pub const SEVERITY: Severity = Severity::Error;
/// One line.
pub const SUMMARY: &str = "an up destroys data its down cannot bring back";
/// Documentation.
pub const DOC: &str = "\
What it flags: an up that drops a table or column that existed before it, narrows a column's \
type, deletes or truncates rows, or updates values of columns that existed before it (an UPDATE \
that only fills columns added in the same stage is a backfill and destroys nothing), or drops a \
schema with CASCADE.

Why it matters: the down can re-create the structure, but not the data. After a rollback the \
application finds empty columns or missing rows.

Instead: `-- migrate:archive` above the DROP (the runner keeps the data and restores it when the \
down runs). For a destructive change that is intended, declare the down irreversible with \
`-- migrate:irreversible: <reason>`: the finding becomes an accepted, reported decision, and \
`migrate down` refuses to cross it.

Example:
  -- migrate:archive
  ALTER TABLE users DROP COLUMN name;";

/// Checks a stage.
pub fn check(cx: &StageCx, out: &mut Vec<Finding>) {
    let accepted = cx
        .stage
        .down
        .as_ref()
        .and_then(|d| d.irreversible_reason())
        .map(str::to_string);
    let mut push = |f: Finding| {
        let f = match &accepted {
            Some(reason) => Finding {
                message: format!(
                    "{} (accepted: the down is declared irreversible: {reason})",
                    f.message
                ),
                severity: Some(Severity::Info),
                ..f
            },
            None => f,
        };
        out.push(f);
    };
    let help = "put `-- migrate:archive` above it so the down can bring the data back, or declare the down irreversible with a reason";
    for (i, s) in cx.up.iter().enumerate() {
        match &s.read.op {
            Op::DropTable { tables, .. } if !s.archived => {
                for t in tables
                    .iter()
                    .filter(|t| cx.existed(t) && !crate::check::rebuilt(cx.up, i, t))
                {
                    push(cx.at(false, s, ID, format!("the up drops table {t}, which holds data from before this migration; the down cannot bring it back"), help.into()));
                }
            }
            Op::DropSchema {
                names,
                cascade: true,
            } => {
                for n in names {
                    push(cx.at(
                        false,
                        s,
                        ID,
                        format!("the up drops schema {n} with CASCADE: every table in it goes with its rows; the down cannot bring them back"),
                        "drop the tables one by one with `-- migrate:archive` above each, or declare the down irreversible with a reason".into(),
                    ));
                }
            }
            Op::AlterTable { table, actions, .. } => {
                for a in actions {
                    match a {
                        Action::DropColumn { column, .. } if !s.archived && cx.column_existed(table, column) => push(cx.at(
                            false,
                            s,
                            ID,
                            format!("the up drops column {table}.{column}; the down cannot bring its values back"),
                            help.into(),
                        )),
                        Action::SetType { column, ty } => {
                            let was = crate::check::name_before(&cx.up[..i], table, column);
                            let old = cx.before.tables.get(table).and_then(|t| t.columns.get(&was)).map(|c| c.ty.clone());
                            if let Some(old) = old
                                && widening(&old, ty) == Some(false)
                            {
                                push(cx.at(
                                    false,
                                    s,
                                    ID,
                                    format!("the up narrows {table}.{column} from {old} to {ty}; values cut to fit cannot be restored"),
                                    "add a new column of the new type and backfill it (expand/contract) instead of converting in place".into(),
                                ));
                            }
                        }
                        _ => {}
                    }
                }
            }
            Op::Delete { table, .. } if cx.existed(table) => push(cx.at(
                false,
                s,
                ID,
                format!("the up deletes rows from {table}; the down cannot bring them back"),
                "copy them aside first (a table the down reads back), or declare the down irreversible with a reason".into(),
            )),
            Op::Truncate { tables } => {
                for t in tables.iter().filter(|t| cx.existed(t)) {
                    push(cx.at(false, s, ID, format!("the up truncates {t}; the down cannot bring its rows back"), help.into()));
                }
            }
            Op::Update { table, columns } if cx.existed(table) => {
                let overwritten: Vec<&String> = columns.iter().filter(|c| cx.column_existed(table, c)).collect();
                if !overwritten.is_empty() {
                    push(cx.at(
                        false,
                        s,
                        ID,
                        format!(
                            "the up overwrites existing values of {}; the down cannot bring the old values back",
                            overwritten.iter().map(|c| format!("{table}.{c}")).collect::<Vec<_>>().join(", ")
                        ),
                        "write the new values to a new column (expand/contract), or keep the old ones where the down can read them".into(),
                    ));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::Severity;
    use crate::check::testing::{err, findings, ok, source};

    const T: (&str, &str, Option<&str>) = (
        "t",
        "CREATE TABLE t (id INT PRIMARY KEY, name TEXT, v VARCHAR(10));",
        Some("-- migrate:archive\nDROP TABLE t;"),
    );

    #[test]
    fn ok_backfill_archive_and_new_objects() {
        ok(
            super::ID,
            &source(&[
                T,
                (
                    "split",
                    "ALTER TABLE t ADD COLUMN first TEXT;\nUPDATE t SET first = name;",
                    Some("-- migrate:archive\nALTER TABLE t DROP COLUMN first;"),
                ),
            ]),
        );
        ok(
            super::ID,
            &source(&[
                T,
                (
                    "drop",
                    "-- migrate:archive\nALTER TABLE t DROP COLUMN name;",
                    Some("ALTER TABLE t ADD COLUMN name TEXT;"),
                ),
            ]),
        );
        ok(
            super::ID,
            &source(&[(
                "n",
                "CREATE TABLE n (id INT PRIMARY KEY);\nDELETE FROM n;",
                Some("DROP TABLE n;"),
            )]),
        );
    }

    #[test]
    fn ok_table_rebuild_copies_before_it_drops() {
        let base = (
            "t",
            "CREATE TABLE t (id INT PRIMARY KEY, v TEXT);",
            Some("-- migrate:archive\nDROP TABLE t;"),
        );
        let rebuild = "CREATE TABLE t_new (id INT PRIMARY KEY, v TEXT NOT NULL);\nINSERT INTO t_new (id, v) SELECT id, coalesce(v, '') FROM t;\nDROP TABLE t;\nALTER TABLE t_new RENAME TO t;";
        let back = "CREATE TABLE t_old (id INT PRIMARY KEY, v TEXT);\nINSERT INTO t_old SELECT * FROM t;\nDROP TABLE t;\nALTER TABLE t_old RENAME TO t;";
        let src = source(&[base, ("rebuild", rebuild, Some(back))]);
        ok(super::ID, &src);
        ok(crate::check::rules::lossy_down::ID, &src);
        // Copied from elsewhere, or never renamed back: still a loss.
        let wrong = "CREATE TABLE t_new (id INT PRIMARY KEY);\nINSERT INTO t_new SELECT id FROM other;\nDROP TABLE t;\nALTER TABLE t_new RENAME TO t;";
        err(
            super::ID,
            &source(&[
                base,
                (
                    "o",
                    "CREATE TABLE other (id INT);",
                    Some("-- migrate:archive\nDROP TABLE other;"),
                ),
                ("rebuild", wrong, Some(back)),
            ]),
        );
    }

    #[test]
    fn err_destructive_ups() {
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "drop",
                    "ALTER TABLE t DROP COLUMN name;",
                    Some("ALTER TABLE t ADD COLUMN name TEXT;"),
                ),
            ]),
        );
        assert!(m.contains("drops column t.name"), "{m}");
        let m = err(
            super::ID,
            &source(&[
                T,
                ("upd", "UPDATE t SET name = upper(name);", Some("SELECT 1;")),
            ]),
        );
        assert!(m.contains("overwrites existing values of t.name"), "{m}");
        let m = err(
            super::ID,
            &source(&[
                T,
                ("del", "DELETE FROM t WHERE id > 10;", Some("SELECT 1;")),
            ]),
        );
        assert!(m.contains("deletes rows from t"), "{m}");
    }

    #[test]
    fn declared_irreversible_is_an_accepted_decision() {
        let src = source(&[
            T,
            (
                "drop",
                "DROP TABLE t;",
                Some("-- migrate:irreversible: t was replaced by u"),
            ),
        ]);
        let f = findings(super::ID, &src);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].message.contains("accepted"));
    }

    #[test]
    fn real_patterns() {
        use crate::check::testing::{BASE, cases};
        cases(
            super::ID,
            &[BASE],
            &[
                (
                    "drop_col",
                    "ALTER TABLE users DROP COLUMN name;",
                    Some("ALTER TABLE users ADD COLUMN name VARCHAR(100);"),
                    true,
                ),
                (
                    "drop_col_archived",
                    "-- migrate:archive\nALTER TABLE users DROP COLUMN name;",
                    Some("ALTER TABLE users ADD COLUMN name VARCHAR(100);"),
                    false,
                ),
                (
                    "drop_table",
                    "DROP TABLE posts;",
                    Some(
                        "CREATE TABLE posts (id SERIAL PRIMARY KEY, user_id BIGINT NOT NULL, title TEXT NOT NULL, body TEXT);",
                    ),
                    true,
                ),
                (
                    "lowercase_emails",
                    "UPDATE users SET email = lower(email);",
                    Some("SELECT 1;"),
                    true,
                ),
                (
                    "backfill_own_column",
                    "ALTER TABLE users ADD COLUMN slug TEXT;\nUPDATE users SET slug = lower(name);",
                    Some("ALTER TABLE users DROP COLUMN slug;"),
                    false,
                ),
                (
                    "delete_orphans",
                    "DELETE FROM posts WHERE body IS NULL;\nALTER TABLE posts ALTER COLUMN body SET NOT NULL;",
                    Some("ALTER TABLE posts ALTER COLUMN body DROP NOT NULL;"),
                    true,
                ),
                (
                    "narrow",
                    "ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(50);",
                    Some("ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(100);"),
                    true,
                ),
                (
                    "widen",
                    "ALTER TABLE users ALTER COLUMN name TYPE TEXT;",
                    Some("ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(100);"),
                    false,
                ),
                (
                    "index",
                    "CREATE INDEX users_email_idx ON users (email);",
                    Some("DROP INDEX users_email_idx;"),
                    false,
                ),
                (
                    "rename",
                    "ALTER TABLE users RENAME COLUMN name TO full_name;",
                    Some("ALTER TABLE users RENAME COLUMN full_name TO name;"),
                    false,
                ),
                ("truncate", "TRUNCATE posts;", Some("SELECT 1;"), true),
                (
                    "drop_schema_cascade",
                    "DROP SCHEMA reporting CASCADE;",
                    Some("CREATE SCHEMA reporting;"),
                    true,
                ),
                (
                    "drop_empty_schema",
                    "DROP SCHEMA reporting;",
                    Some("CREATE SCHEMA reporting;"),
                    false,
                ),
            ],
        );
    }
}
