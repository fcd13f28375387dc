//! `needs-no-transaction`: a statement that cannot run in a transaction.

use crate::check::ir::Op;
use crate::check::{Finding, Severity, StageCx, Stmt};
use crate::sql::Dialect;

/// Rule id.
pub const ID: &str = "needs-no-transaction";
/// Default severity.
pub const SEVERITY: Severity = Severity::Error;
/// One line.
pub const SUMMARY: &str = "a statement that cannot run in a transaction, in a migration without `-- migrate:no-transaction`";
/// Documentation.
pub const DOC: &str = "\
What it flags (PostgreSQL): `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `REINDEX \
CONCURRENTLY`, `VACUUM`, `CREATE DATABASE`, `ALTER SYSTEM` in a file the runner wraps in a \
transaction. (SQLite): `PRAGMA foreign_keys`, which SQLite ignores inside a transaction: the \
table rebuild most people write (`PRAGMA foreign_keys=OFF`, create the new table, copy, drop the \
old one, rename) then runs with foreign keys on, and the `DROP TABLE` deletes every child row \
of an `ON DELETE CASCADE` key.

Why it matters: PostgreSQL refuses them inside a transaction block, so the migration fails \
every time it runs, in CI if you are lucky and in production if you are not.

Instead: put `-- migrate:no-transaction` at the top of the file. The runner then runs its \
statements one by one and records progress after each, so a failure part-way is visible and \
resumable. Keep such files to the one statement that needs it.

Example:
  -- migrate:no-transaction

  CREATE INDEX CONCURRENTLY orders_created_at_idx ON orders (created_at);";

fn what(s: &Stmt) -> Option<String> {
    match &s.read.op {
        Op::CreateIndex {
            concurrently: true, ..
        } => Some("CREATE INDEX CONCURRENTLY".into()),
        Op::DropIndex {
            concurrently: true, ..
        } => Some("DROP INDEX CONCURRENTLY".into()),
        Op::NoTransactionOnly { what } => Some(what.clone()),
        _ => None,
    }
}

/// Checks a stage.
pub fn check(cx: &StageCx, out: &mut Vec<Finding>) {
    if cx.dialect == Dialect::Mysql {
        return;
    }
    let scripts = [
        (false, &cx.stage.up, Some(cx.up)),
        (true, &cx.stage.up, cx.down),
    ];
    for (down, script, stmts) in scripts {
        let script = if down {
            cx.stage.down.as_ref().unwrap_or(script)
        } else {
            script
        };
        if script.no_transaction() {
            continue;
        }
        for s in stmts.into_iter().flatten() {
            if let Some(what) = what(s) {
                out.push(cx.at(
                    down,
                    s,
                    ID,
                    format!("{what} cannot run inside a transaction block, and this file runs in one"),
                    "put `-- migrate:no-transaction` at the top of the file (alone with this statement, ideally)".into(),
                ));
            }
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
    fn ok_with_directive() {
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
    fn err_sqlite_foreign_keys_pragma_in_a_transaction() {
        let rebuild = "PRAGMA foreign_keys=OFF;\nCREATE TABLE t_new (id INT PRIMARY KEY, v TEXT NOT NULL);\nINSERT INTO t_new SELECT * FROM t;\nDROP TABLE t;\nALTER TABLE t_new RENAME TO t;\nPRAGMA foreign_keys=ON;";
        let src = source(&[T, ("rebuild", rebuild, Some("SELECT 1;"))]);
        let f = crate::check::check(
            &src,
            &crate::check::CheckOptions {
                dialect: crate::sql::Dialect::Sqlite,
                ..Default::default()
            },
        );
        let m: Vec<&str> = f
            .diagnostics
            .iter()
            .filter(|d| d.rule == super::ID)
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].contains("PRAGMA foreign_keys"), "{m:?}");
        let ok_src = source(&[
            T,
            (
                "rebuild",
                &format!("-- migrate:no-transaction\n\n{rebuild}"),
                Some("SELECT 1;"),
            ),
        ]);
        let f = crate::check::check(
            &ok_src,
            &crate::check::CheckOptions {
                dialect: crate::sql::Dialect::Sqlite,
                ..Default::default()
            },
        );
        assert!(!f.diagnostics.iter().any(|d| d.rule == super::ID), "{f:?}");
    }

    #[test]
    fn err_concurrently_in_a_transaction() {
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "i",
                    "CREATE INDEX CONCURRENTLY t_v ON t (v);",
                    Some("DROP INDEX t_v;"),
                ),
            ]),
        );
        assert!(m.contains("CREATE INDEX CONCURRENTLY"), "{m}");
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "i",
                    "-- migrate:no-transaction\n\nCREATE INDEX CONCURRENTLY t_v ON t (v);",
                    Some("DROP INDEX CONCURRENTLY t_v;"),
                ),
            ]),
        );
        assert!(m.contains("DROP INDEX CONCURRENTLY"), "{m}");
    }

    #[test]
    fn real_patterns() {
        use crate::check::testing::{BASE, cases};
        cases(
            super::ID,
            &[BASE],
            &[
                (
                    "create_concurrently",
                    "CREATE INDEX CONCURRENTLY posts_title_idx ON posts (title);",
                    Some("DROP INDEX posts_title_idx;"),
                    true,
                ),
                (
                    "create_concurrently_marked",
                    "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY posts_title_idx ON posts (title);",
                    Some("DROP INDEX posts_title_idx;"),
                    false,
                ),
                (
                    "drop_concurrently_in_down",
                    "CREATE INDEX posts_title_idx ON posts (title);",
                    Some("DROP INDEX CONCURRENTLY posts_title_idx;"),
                    true,
                ),
                (
                    "reindex_concurrently",
                    "REINDEX INDEX CONCURRENTLY posts_pkey;",
                    Some("SELECT 1;"),
                    true,
                ),
                ("vacuum", "VACUUM ANALYZE posts;", Some("SELECT 1;"), true),
                (
                    "plain_index",
                    "CREATE INDEX posts_title_idx ON posts (title);",
                    Some("DROP INDEX posts_title_idx;"),
                    false,
                ),
                (
                    "alter_system",
                    "ALTER SYSTEM SET work_mem = '64MB';",
                    Some("ALTER SYSTEM RESET work_mem;"),
                    true,
                ),
                (
                    "create_database",
                    "CREATE DATABASE reports;",
                    Some("DROP DATABASE reports;"),
                    true,
                ),
            ],
        );
    }
}
