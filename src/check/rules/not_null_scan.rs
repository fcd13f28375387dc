//! `not-null-scan`: SET NOT NULL scans the table under an exclusive lock.

use crate::check::ir::{Action, Op};
use crate::check::{Finding, Severity, StageCx};
use crate::sql::Dialect;

/// Rule id.
pub const ID: &str = "not-null-scan";
/// Default severity.
pub const SEVERITY: Severity = Severity::Warning;
/// One line.
pub const SUMMARY: &str =
    "PostgreSQL: SET NOT NULL on an existing table scans it under an exclusive lock";
/// Documentation.
pub const DOC: &str = "\
What it flags (PostgreSQL): `ALTER COLUMN ... SET NOT NULL` on a table that existed before the \
stage, in an up or a down.

Why it matters: PostgreSQL checks every row while holding an ACCESS EXCLUSIVE lock, blocking \
reads and writes for as long as the scan takes.

Instead: add `CHECK (col IS NOT NULL) NOT VALID`, `VALIDATE CONSTRAINT` it (weaker lock), then \
SET NOT NULL: PostgreSQL 12+ uses the validated constraint and skips the scan.

Example:
  ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;
  ALTER TABLE users VALIDATE CONSTRAINT email_nn;
  ALTER TABLE users ALTER COLUMN email SET NOT NULL;";

/// Checks a stage.
pub fn check(cx: &StageCx, out: &mut Vec<Finding>) {
    if cx.dialect != Dialect::Postgres {
        return;
    }
    for (down, s) in cx.statements() {
        let Op::AlterTable { table, actions, .. } = &s.read.op else {
            continue;
        };
        if !cx.existed(table) {
            continue;
        }
        for a in actions {
            if let Action::SetNotNull(c) = a {
                out.push(cx.at(
                        down,
                        s,
                        ID,
                        format!("SET NOT NULL on {table}.{c} scans the whole table while blocking reads and writes"),
                        "add CHECK (c IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL".into(),
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
        "CREATE TABLE t (id INT PRIMARY KEY, n INT);",
        Some("-- migrate:archive\nDROP TABLE t;"),
    );

    #[test]
    fn ok_new_table() {
        ok(
            super::ID,
            &source(&[(
                "t",
                "CREATE TABLE t (id INT PRIMARY KEY, n INT);\nALTER TABLE t ALTER COLUMN n SET NOT NULL;",
                Some("-- migrate:archive\nDROP TABLE t;"),
            )]),
        );
    }

    #[test]
    fn err_existing_table() {
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "nn",
                    "ALTER TABLE t ALTER COLUMN n SET NOT NULL;",
                    Some("ALTER TABLE t ALTER COLUMN n DROP NOT NULL;"),
                ),
            ]),
        );
        assert!(m.contains("SET NOT NULL on t.n"), "{m}");
    }
}
