//! `lossy-down`: a down that destroys data.

use crate::check::ir::{Action, Op};
use crate::check::schema::widening;
use crate::check::{Finding, Severity, StageCx};

/// Rule id.
pub const ID: &str = "lossy-down";
/// Default severity.
pub const SEVERITY: Severity = Severity::Error;
/// One line.
pub const SUMMARY: &str = "a down destroys data that cannot be recovered";
/// Documentation.
pub const DOC: &str = "\
What it flags: a down that drops a table or a column, narrows a column's type, or deletes or \
truncates rows, without `-- migrate:archive`; a down that drops a schema with CASCADE (every \
table in it goes).

Why it matters: a down runs after the up has been live. A column the up added has been written \
to since; dropping it in the down throws that away, and re-applying the up later brings back an \
empty column. This is the destructive rollback this project exists to catch.

Instead: put `-- migrate:archive` directly above the DROP. The runner copies the data into an \
archive table before dropping it and puts it back when the up runs again. Objects the down \
itself created earlier in the same file (a temporary table) may be dropped freely. If the loss is \
really acceptable, say why: `-- migrate:allow lossy-down: <reason>`.

Example:
  -- migrate:archive
  ALTER TABLE users DROP COLUMN nickname;";

/// Checks a stage.
pub fn check(cx: &StageCx, out: &mut Vec<Finding>) {
    let Some(down) = cx.down else { return };
    let help = "put `-- migrate:archive` directly above it so the data is kept and restored, or accept the loss with `-- migrate:allow lossy-down: <reason>`";
    for (i, s) in down.iter().enumerate() {
        let created_here = |t: &str| {
            down[..i]
                .iter()
                .any(|p| matches!(&p.read.op, Op::CreateTable { table, .. } if table == t))
        };
        let present = |t: &str| {
            cx.after_up.tables.contains_key(t)
                || cx.after_up.tables.is_empty() && cx.before.tables.is_empty()
        };
        match &s.read.op {
            Op::DropTable { tables, .. } if !s.archived => {
                for t in tables
                    .iter()
                    .filter(|t| !created_here(t) && present(t) && !crate::check::rebuilt(down, i, t))
                {
                    out.push(cx.at(true, s, ID, format!("the down drops table {t}: every row written to it since the up ran is lost"), help.into()));
                }
            }
            Op::AlterTable { table, actions, .. } if !created_here(table) => {
                for a in actions {
                    match a {
                        Action::DropColumn { column, .. } if !s.archived => out.push(cx.at(
                            true,
                            s,
                            ID,
                            format!("the down drops column {table}.{column}: the values written since the up ran are lost"),
                            help.into(),
                        )),
                        Action::SetType { column, ty } => {
                            let was = crate::check::name_before(&down[..i], table, column);
                            let old = cx.after_up.tables.get(table).and_then(|t| t.columns.get(&was)).map(|c| c.ty.clone());
                            if let Some(old) = old
                                && widening(&old, ty) == Some(false)
                            {
                                out.push(cx.at(
                                    true,
                                    s,
                                    ID,
                                    format!("the down narrows {table}.{column} from {old} to {ty}: values that no longer fit are cut or make it fail"),
                                    "keep the wider type in the down (widening is safe to leave in place), or allow it with a reason".into(),
                                ));
                            }
                        }
                        _ => {}
                    }
                }
            }
            Op::Delete { table, .. } if !created_here(table) => out.push(cx.at(
                true,
                s,
                ID,
                format!("the down deletes rows from {table}: they cannot be brought back"),
                "delete only rows the up inserted (and say so with `-- migrate:allow lossy-down: <reason>`), or keep them".into(),
            )),
            Op::DropSchema {
                names,
                cascade: true,
            } => {
                for n in names {
                    out.push(cx.at(
                        true,
                        s,
                        ID,
                        format!("the down drops schema {n} with CASCADE: every table in it goes, with the rows written since the up ran"),
                        "drop the tables the up made one by one (with `-- migrate:archive` where their data matters), or accept the loss with `-- migrate:allow lossy-down: <reason>`".into(),
                    ));
                }
            }
            Op::Truncate { tables } => {
                for t in tables.iter().filter(|t| !created_here(t)) {
                    out.push(cx.at(true, s, ID, format!("the down truncates {t}: its rows cannot be brought back"), help.into()));
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
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10));",
        Some("-- migrate:archive\nDROP TABLE t;"),
    );

    #[test]
    fn ok_archived_or_allowed_or_temporary() {
        ok(
            super::ID,
            &source(&[
                T,
                (
                    "add",
                    "ALTER TABLE t ADD COLUMN n TEXT;",
                    Some("-- migrate:archive\nALTER TABLE t DROP COLUMN n;"),
                ),
            ]),
        );
        ok(
            super::ID,
            &source(&[
                T,
                (
                    "add",
                    "ALTER TABLE t ADD COLUMN n TEXT;",
                    Some(
                        "-- migrate:allow lossy-down: n was never written\nALTER TABLE t DROP COLUMN n;",
                    ),
                ),
            ]),
        );
        ok(
            super::ID,
            &source(&[
                T,
                (
                    "tmp",
                    "SELECT 1;",
                    Some(
                        "CREATE TABLE scratch (id INT);\nINSERT INTO scratch SELECT id FROM t;\nDROP TABLE scratch;",
                    ),
                ),
            ]),
        );
        // DROP words inside comments, strings and dollar-quoted bodies are not statements.
        ok(
            super::ID,
            &source(&[
                T,
                (
                    "f",
                    "CREATE FUNCTION f() RETURNS void AS $$ BEGIN DROP TABLE t; END $$ LANGUAGE plpgsql;",
                    Some("-- DROP TABLE t;\nSELECT 'DROP TABLE t';\nDROP FUNCTION f;"),
                ),
            ]),
        );
        // Widening back is not lossy.
        ok(
            super::ID,
            &source(&[
                T,
                (
                    "narrow",
                    "ALTER TABLE t ALTER COLUMN v TYPE VARCHAR(5);",
                    Some("ALTER TABLE t ALTER COLUMN v TYPE VARCHAR(10);"),
                ),
            ]),
        );
    }

    #[test]
    fn err_drops_and_narrowing() {
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "add",
                    "ALTER TABLE t ADD COLUMN n TEXT;",
                    Some("ALTER TABLE t DROP COLUMN n;"),
                ),
            ]),
        );
        assert!(m.contains("drops column t.n"), "{m}");
        let m = err(
            super::ID,
            &source(&[(
                "t",
                "CREATE TABLE t (id INT PRIMARY KEY);",
                Some("DROP TABLE t;"),
            )]),
        );
        assert!(m.contains("drops table t"), "{m}");
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "widen",
                    "ALTER TABLE t ALTER COLUMN v TYPE TEXT;",
                    Some("ALTER TABLE t ALTER COLUMN v TYPE VARCHAR(10);"),
                ),
            ]),
        );
        assert!(m.contains("narrows t.v from TEXT to VARCHAR(10)"), "{m}");
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "seed",
                    "INSERT INTO t VALUES (1, 'a');",
                    Some("TRUNCATE t;"),
                ),
            ]),
        );
        assert!(m.contains("truncates t"), "{m}");
    }

    #[test]
    fn real_patterns() {
        use crate::check::testing::{BASE, cases};
        cases(
            super::ID,
            &[BASE],
            &[
                (
                    "add_col",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some("ALTER TABLE users DROP COLUMN bio;"),
                    true,
                ),
                (
                    "add_col_archived",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some("-- migrate:archive\nALTER TABLE users DROP COLUMN bio;"),
                    false,
                ),
                (
                    "add_col_if_exists",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some("ALTER TABLE users DROP COLUMN IF EXISTS bio;"),
                    true,
                ),
                (
                    "create_table",
                    "CREATE TABLE tags (id SERIAL PRIMARY KEY, name TEXT NOT NULL);",
                    Some("DROP TABLE tags;"),
                    true,
                ),
                (
                    "create_table_archived",
                    "CREATE TABLE tags (id SERIAL PRIMARY KEY, name TEXT NOT NULL);",
                    Some("-- migrate:archive\nDROP TABLE tags;"),
                    false,
                ),
                (
                    "create_table_cascade",
                    "CREATE TABLE tags (id SERIAL PRIMARY KEY);",
                    Some("DROP TABLE IF EXISTS tags CASCADE;"),
                    true,
                ),
                (
                    "index",
                    "CREATE INDEX posts_title_idx ON posts (title);",
                    Some("DROP INDEX posts_title_idx;"),
                    false,
                ),
                (
                    "widen_then_narrow",
                    "ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(200);",
                    Some("ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(100);"),
                    true,
                ),
                (
                    "to_text_and_back",
                    "ALTER TABLE users ALTER COLUMN name TYPE TEXT;",
                    Some("ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(100);"),
                    true,
                ),
                (
                    "int_to_bigint_and_back",
                    "ALTER TABLE posts ALTER COLUMN id TYPE BIGINT;",
                    Some("ALTER TABLE posts ALTER COLUMN id TYPE INTEGER;"),
                    true,
                ),
                (
                    "seed_rows",
                    "INSERT INTO users (email) VALUES ('admin@example.com');",
                    Some("DELETE FROM users WHERE email = 'admin@example.com';"),
                    true,
                ),
                (
                    "schema_cascade",
                    "CREATE SCHEMA reporting;\nCREATE TABLE reporting.daily (day DATE PRIMARY KEY, n INT);",
                    Some("DROP SCHEMA reporting CASCADE;"),
                    true,
                ),
                (
                    "empty_schema",
                    "CREATE SCHEMA reporting;",
                    Some("DROP SCHEMA reporting;"),
                    false,
                ),
                (
                    "rename_then_cast",
                    "ALTER TABLE users RENAME COLUMN name TO display_name;\nALTER TABLE users ALTER COLUMN display_name TYPE TEXT;",
                    Some(
                        "ALTER TABLE users RENAME COLUMN display_name TO name;\nALTER TABLE users ALTER COLUMN name TYPE BYTEA USING name::bytea;",
                    ),
                    true,
                ),
                (
                    "truncate",
                    "CREATE TABLE jobs (id SERIAL PRIMARY KEY);",
                    Some("TRUNCATE jobs;\nDROP TABLE jobs;"),
                    true,
                ),
                (
                    "accepted",
                    "ALTER TABLE users ADD COLUMN seen BOOLEAN NOT NULL DEFAULT false;",
                    Some(
                        "-- migrate:allow lossy-down: a cache flag, rebuilt on login\nALTER TABLE users DROP COLUMN seen;",
                    ),
                    false,
                ),
                (
                    "rename_back",
                    "ALTER TABLE users RENAME COLUMN name TO full_name;",
                    Some("ALTER TABLE users RENAME COLUMN full_name TO name;"),
                    false,
                ),
            ],
        );
    }
}
