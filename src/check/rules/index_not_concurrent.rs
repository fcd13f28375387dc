//! `index-not-concurrent`: an index built with a write lock on an existing table.

use crate::check::ir::Op;
use crate::check::{Finding, Severity, StageCx};
use crate::sql::Dialect;

/// Rule id.
pub const ID: &str = "index-not-concurrent";
/// Default severity.
pub const SEVERITY: Severity = Severity::Warning;
/// One line.
pub const SUMMARY: &str =
    "PostgreSQL: CREATE INDEX without CONCURRENTLY on a table that existed before the migration";
/// Documentation.
pub const DOC: &str = "\
What it flags (PostgreSQL): `CREATE INDEX` without `CONCURRENTLY` on a table that existed before \
the stage, in an up or a down.

Why it matters: a plain CREATE INDEX blocks every write to the table until the index is built: \
minutes on a large table. In a down that is an outage during an incident.

Instead: `CREATE INDEX CONCURRENTLY`, in a file with `-- migrate:no-transaction`.

Example:
  -- migrate:no-transaction

  CREATE INDEX CONCURRENTLY orders_created_at_idx ON orders (created_at);";

/// Checks a stage.
pub fn check(cx: &StageCx, out: &mut Vec<Finding>) {
    if cx.dialect != Dialect::Postgres {
        return;
    }
    for (down, s) in cx.statements() {
        if let Op::CreateIndex {
            table,
            concurrently: false,
            ..
        } = &s.read.op
            && cx.existed(table)
        {
            out.push(cx.at(
                down,
                s,
                ID,
                format!("CREATE INDEX on {table} blocks its writes until the index is built"),
                "use CREATE INDEX CONCURRENTLY in a file with `-- migrate:no-transaction`".into(),
            ));
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
    fn ok_new_table_or_concurrently() {
        ok(
            super::ID,
            &source(&[(
                "t",
                "CREATE TABLE t (id INT PRIMARY KEY, v TEXT);\nCREATE INDEX t_v ON t (v);",
                Some("-- migrate:archive\nDROP TABLE t;"),
            )]),
        );
        ok(
            super::ID,
            &source(&[
                T,
                (
                    "i",
                    "-- migrate:no-transaction\n\nCREATE INDEX CONCURRENTLY t_v ON t (v);",
                    Some("-- migrate:no-transaction\n\nDROP INDEX CONCURRENTLY t_v;"),
                ),
            ]),
        );
    }

    #[test]
    fn err_existing_table_in_up_and_down() {
        let m = err(
            super::ID,
            &source(&[
                T,
                ("i", "CREATE INDEX t_v ON t (v);", Some("DROP INDEX t_v;")),
            ]),
        );
        assert!(m.contains("blocks its writes"), "{m}");
        err(
            super::ID,
            &source(&[
                T,
                (
                    "i",
                    "-- migrate:no-transaction\n\nDROP INDEX CONCURRENTLY IF EXISTS t_old;",
                    Some("CREATE INDEX t_old ON t (v);"),
                ),
            ]),
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
                    "existing_table",
                    "CREATE INDEX posts_title_idx ON posts (title);",
                    Some("DROP INDEX posts_title_idx;"),
                    true,
                ),
                (
                    "unique",
                    "CREATE UNIQUE INDEX users_email_idx ON users (email);",
                    Some("DROP INDEX users_email_idx;"),
                    true,
                ),
                (
                    "if_not_exists",
                    "CREATE INDEX IF NOT EXISTS posts_user_idx ON posts (user_id);",
                    Some("DROP INDEX posts_user_idx;"),
                    true,
                ),
                (
                    "expression",
                    "CREATE INDEX users_lower_email ON users (lower(email));",
                    Some("DROP INDEX users_lower_email;"),
                    true,
                ),
                (
                    "new_table",
                    "CREATE TABLE tags (id SERIAL PRIMARY KEY, name TEXT);\nCREATE INDEX tags_name_idx ON tags (name);",
                    Some("-- migrate:archive\nDROP TABLE tags;"),
                    false,
                ),
                (
                    "concurrently",
                    "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY posts_title_idx ON posts (title);",
                    Some("-- migrate:no-transaction\nDROP INDEX CONCURRENTLY posts_title_idx;"),
                    false,
                ),
                (
                    "in_the_down",
                    "DROP INDEX IF EXISTS posts_title_idx;",
                    Some("CREATE INDEX posts_title_idx ON posts (title);"),
                    true,
                ),
                (
                    "drop_only",
                    "CREATE TABLE tags (id SERIAL PRIMARY KEY);",
                    Some("-- migrate:archive\nDROP TABLE tags;"),
                    false,
                ),
            ],
        );
    }
}
