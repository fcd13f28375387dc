//! `not-null-scan`: SET NOT NULL scans the table under an exclusive lock.

use std::collections::{BTreeMap, BTreeSet};

use crate::check::ir::{Action, ConstraintSpec, Op, norm};
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
    // `CHECK (c IS NOT NULL)` constraints by name, and those known valid
    // (added without NOT VALID, or validated since), per script.
    let mut checks: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut valid: BTreeSet<(String, String)> = BTreeSet::new();
    let mut last_down = None;
    for (down, s) in cx.statements() {
        if last_down != Some(down) {
            checks.clear();
            valid.clear();
            last_down = Some(down);
        }
        let Op::AlterTable { table, actions, .. } = &s.read.op else {
            continue;
        };
        for a in actions {
            match a {
                Action::AddConstraint {
                    name: Some(name),
                    spec: ConstraintSpec::Check(text),
                    not_valid,
                } => {
                    if let Some(col) = not_null_check(text) {
                        checks.insert(name.clone(), (table.clone(), col.clone()));
                        if !not_valid {
                            valid.insert((table.clone(), col));
                        }
                    }
                }
                Action::ValidateConstraint(name) => {
                    if let Some(tc) = checks.get(name) {
                        valid.insert(tc.clone());
                    }
                }
                _ => {}
            }
        }
        if !cx.existed(table) {
            continue;
        }
        for a in actions {
            if let Action::SetNotNull(c) = a
                && !valid.contains(&(table.clone(), c.clone()))
            {
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

/// The column of a `c IS NOT NULL` check, as the checker spells checks.
fn not_null_check(text: &str) -> Option<String> {
    let t = text
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    let col = t
        .strip_suffix("IS NOT NULL")
        .or_else(|| t.strip_suffix("is not null"))?;
    let col = col
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    (!col.is_empty() && !col.contains(' ')).then(|| norm(col))
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

    #[test]
    fn ok_the_validated_check_first_as_the_docs_say() {
        ok(
            super::ID,
            &source(&[
                T,
                (
                    "nn",
                    "ALTER TABLE t ADD CONSTRAINT t_n_nn CHECK (n IS NOT NULL) NOT VALID;\n\
                     ALTER TABLE t VALIDATE CONSTRAINT t_n_nn;\n\
                     ALTER TABLE t ALTER COLUMN n SET NOT NULL;\n\
                     ALTER TABLE t DROP CONSTRAINT t_n_nn;",
                    Some("ALTER TABLE t ALTER COLUMN n DROP NOT NULL;"),
                ),
            ]),
        );
    }

    #[test]
    fn err_a_check_never_validated_does_not_spare_the_scan() {
        err(
            super::ID,
            &source(&[
                T,
                (
                    "nn",
                    "ALTER TABLE t ADD CONSTRAINT t_n_nn CHECK (n IS NOT NULL) NOT VALID;\n\
                     ALTER TABLE t ALTER COLUMN n SET NOT NULL;",
                    Some(
                        "ALTER TABLE t ALTER COLUMN n DROP NOT NULL;\nALTER TABLE t DROP CONSTRAINT t_n_nn;",
                    ),
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
                    "set_not_null",
                    "ALTER TABLE posts ALTER COLUMN body SET NOT NULL;",
                    Some("ALTER TABLE posts ALTER COLUMN body DROP NOT NULL;"),
                    true,
                ),
                (
                    "after_validated_check",
                    "ALTER TABLE posts ADD CONSTRAINT posts_body_nn CHECK (body IS NOT NULL) NOT VALID;\nALTER TABLE posts VALIDATE CONSTRAINT posts_body_nn;\nALTER TABLE posts ALTER COLUMN body SET NOT NULL;",
                    Some(
                        "ALTER TABLE posts ALTER COLUMN body DROP NOT NULL;\nALTER TABLE posts DROP CONSTRAINT posts_body_nn;",
                    ),
                    false,
                ),
                (
                    "add_with_default",
                    "ALTER TABLE users ADD COLUMN karma INT NOT NULL DEFAULT 0;",
                    Some("-- migrate:archive\nALTER TABLE users DROP COLUMN karma;"),
                    false,
                ),
                (
                    "new_table",
                    "CREATE TABLE tags (id SERIAL PRIMARY KEY, name TEXT);\nALTER TABLE tags ALTER COLUMN name SET NOT NULL;",
                    Some("-- migrate:archive\nDROP TABLE tags;"),
                    false,
                ),
                (
                    "in_the_down",
                    "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
                    Some("ALTER TABLE users ALTER COLUMN email SET NOT NULL;"),
                    true,
                ),
                (
                    "drop_not_null",
                    "ALTER TABLE posts ALTER COLUMN title DROP NOT NULL;",
                    Some("ALTER TABLE posts ALTER COLUMN title SET NOT NULL;"),
                    true,
                ),
                (
                    "backfill_then_set",
                    "UPDATE posts SET body = '' WHERE body IS NULL;\nALTER TABLE posts ALTER COLUMN body SET NOT NULL;",
                    Some("ALTER TABLE posts ALTER COLUMN body DROP NOT NULL;"),
                    true,
                ),
                (
                    "add_nullable",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some("-- migrate:archive\nALTER TABLE users DROP COLUMN bio;"),
                    false,
                ),
            ],
        );
    }
}
