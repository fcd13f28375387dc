//! `expand-breaks-old-app`: an expand stage the running application cannot survive.

use crate::check::ir::{Action, ConstraintSpec, Op};
use crate::check::{Finding, Severity, StageCx};
use crate::source::StageKind;

/// Rule id.
pub const ID: &str = "expand-breaks-old-app";
/// Default severity.
pub const SEVERITY: Severity = Severity::Error;
/// One line.
pub const SUMMARY: &str =
    "an expand stage does something the previous application version cannot survive";
/// Documentation.
pub const DOC: &str = "\
What it flags, in an expand stage: dropping or renaming a table, column or view; adding a NOT \
NULL column without a default; changing a column's type; adding a constraint that the old \
application's writes may violate (CHECK, FOREIGN KEY, UNIQUE on an existing table); dropping a \
default; setting NOT NULL.

Why it matters: expand runs while the previous version of the application still serves \
traffic. Its queries must keep working until the contract stage, after it is gone.

Instead: in expand, only add (nullable columns or columns with defaults, new tables, new \
indexes) and backfill. Move drops, renames and tightening into the contract stage.

Example:
  expand.up.sql:   ALTER TABLE users ADD COLUMN first_name TEXT;
  contract.up.sql: -- migrate:archive
                   ALTER TABLE users DROP COLUMN name;";

/// Checks a stage.
pub fn check(cx: &StageCx, out: &mut Vec<Finding>) {
    if cx.stage.kind != StageKind::Expand {
        return;
    }
    let help = "expand may only add; move this to the contract stage, which runs once the old application is gone";
    for s in cx.up {
        let mut say = |what: String| {
            out.push(cx.at(
                false,
                s,
                ID,
                format!("{what}: the previous application version still uses it"),
                help.into(),
            ))
        };
        match &s.read.op {
            Op::DropTable { tables, .. } => tables
                .iter()
                .filter(|t| cx.existed(t))
                .for_each(|t| say(format!("expand drops table {t}"))),
            Op::RenameTable { from, .. } => say(format!("expand renames table {from}")),
            Op::DropView { names, .. } => names
                .iter()
                .for_each(|v| say(format!("expand drops view {v}"))),
            Op::AlterTable { table, actions, .. } if cx.existed(table) => {
                for a in actions {
                    match a {
                        Action::DropColumn { column, .. } => {
                            say(format!("expand drops column {table}.{column}"))
                        }
                        Action::RenameColumn { from, .. } => {
                            say(format!("expand renames column {table}.{from}"))
                        }
                        Action::RenameTo(_) => say(format!("expand renames table {table}")),
                        Action::AddColumn(c) if c.not_null && c.default.is_none() => say(format!(
                            "expand adds {table}.{} as NOT NULL without a default, so the old application's inserts fail",
                            c.name
                        )),
                        Action::SetType { column, .. } => {
                            say(format!("expand changes the type of {table}.{column}"))
                        }
                        Action::AddConstraint {
                            spec: ConstraintSpec::PrimaryKey(_),
                            ..
                        } => {}
                        Action::AddConstraint { spec, .. } => say(format!(
                            "expand adds a constraint to {table} ({}) that the old application's writes may violate",
                            constraint_kind(spec)
                        )),
                        Action::DropDefault(c) => say(format!(
                            "expand drops the default of {table}.{c}, which the old application's inserts rely on"
                        )),
                        Action::SetNotNull(c) => say(format!(
                            "expand makes {table}.{c} NOT NULL, which the old application's inserts may violate"
                        )),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

fn constraint_kind(spec: &ConstraintSpec) -> &'static str {
    match spec {
        ConstraintSpec::Check(_) => "CHECK",
        ConstraintSpec::ForeignKey(..) => "FOREIGN KEY",
        ConstraintSpec::Unique(_) => "UNIQUE",
        ConstraintSpec::PrimaryKey(_) => "PRIMARY KEY",
        ConstraintSpec::NotNull(_) => "NOT NULL",
    }
}

#[cfg(test)]
mod tests {
    use crate::check::testing::{err, ok, staged};

    const USERS: (&str, &str, Option<&str>) = (
        "users",
        "CREATE TABLE users (id INT PRIMARY KEY, name TEXT);",
        Some("-- migrate:archive\nDROP TABLE users;"),
    );

    #[test]
    fn ok_expand_only_adds() {
        ok(
            super::ID,
            &staged(
                &[USERS],
                (
                    "ALTER TABLE users ADD COLUMN first_name TEXT;\nUPDATE users SET first_name = name;",
                    "-- migrate:archive\nALTER TABLE users DROP COLUMN first_name;",
                ),
                (
                    "-- migrate:archive\nALTER TABLE users DROP COLUMN name;",
                    "ALTER TABLE users ADD COLUMN name TEXT;",
                ),
            ),
        );
    }

    #[test]
    fn err_expand_drops_a_column() {
        let m = err(
            super::ID,
            &staged(
                &[USERS],
                (
                    "-- migrate:archive\nALTER TABLE users DROP COLUMN name;",
                    "ALTER TABLE users ADD COLUMN name TEXT;",
                ),
                ("SELECT 1;", "SELECT 1;"),
            ),
        );
        assert!(m.contains("expand drops column users.name"), "{m}");
        let m = err(
            super::ID,
            &staged(
                &[USERS],
                (
                    "ALTER TABLE users ADD COLUMN email TEXT NOT NULL;",
                    "-- migrate:archive\nALTER TABLE users DROP COLUMN email;",
                ),
                ("SELECT 1;", "SELECT 1;"),
            ),
        );
        assert!(m.contains("NOT NULL without a default"), "{m}");
    }

    #[test]
    fn real_patterns() {
        use crate::check::testing::{BASE, findings, staged};
        // (name, expand up, expand down, flagged)
        let cases: &[(&str, &str, &str, bool)] = &[
            (
                "add_nullable",
                "ALTER TABLE users ADD COLUMN first_name TEXT;",
                "-- migrate:archive\nALTER TABLE users DROP COLUMN first_name;",
                false,
            ),
            (
                "add_with_default",
                "ALTER TABLE users ADD COLUMN karma INT NOT NULL DEFAULT 0;",
                "-- migrate:archive\nALTER TABLE users DROP COLUMN karma;",
                false,
            ),
            (
                "add_not_null_no_default",
                "ALTER TABLE users ADD COLUMN handle TEXT NOT NULL;",
                "-- migrate:archive\nALTER TABLE users DROP COLUMN handle;",
                true,
            ),
            (
                "backfill",
                "ALTER TABLE users ADD COLUMN first_name TEXT;\nUPDATE users SET first_name = name;",
                "-- migrate:archive\nALTER TABLE users DROP COLUMN first_name;",
                false,
            ),
            (
                "new_table",
                "CREATE TABLE tags (id SERIAL PRIMARY KEY, name TEXT NOT NULL);",
                "-- migrate:archive\nDROP TABLE tags;",
                false,
            ),
            (
                "index",
                "CREATE INDEX users_name_idx ON users (name);",
                "DROP INDEX users_name_idx;",
                false,
            ),
            (
                "rename_column",
                "ALTER TABLE users RENAME COLUMN name TO full_name;",
                "ALTER TABLE users RENAME COLUMN full_name TO name;",
                true,
            ),
            (
                "drop_column",
                "-- migrate:archive\nALTER TABLE users DROP COLUMN name;",
                "ALTER TABLE users ADD COLUMN name VARCHAR(100);",
                true,
            ),
            (
                "drop_table",
                "-- migrate:archive\nDROP TABLE posts;",
                "CREATE TABLE posts (id SERIAL PRIMARY KEY, user_id BIGINT NOT NULL, title TEXT NOT NULL, body TEXT);",
                true,
            ),
            (
                "change_type",
                "ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(50);",
                "ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(100);",
                true,
            ),
            (
                "set_not_null",
                "ALTER TABLE posts ALTER COLUMN body SET NOT NULL;",
                "ALTER TABLE posts ALTER COLUMN body DROP NOT NULL;",
                true,
            ),
            (
                "view_for_new_app",
                "CREATE VIEW user_names AS SELECT id, name FROM users;",
                "DROP VIEW user_names;",
                false,
            ),
        ];
        let mut wrong = Vec::new();
        for (name, up, down, flags) in cases {
            let src = staged(&[BASE], (up, down), ("SELECT 1;", "SELECT 1;"));
            let found = findings(super::ID, &src);
            if found.is_empty() == *flags {
                wrong.push(format!(
                    "{name}: expected {flags}, got {:?}",
                    found.iter().map(|d| &d.message).collect::<Vec<_>>()
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
