//! `constraint-not-valid`: a constraint validated under an exclusive lock.

use crate::check::ir::{Action, ConstraintSpec, Op};
use crate::check::{Finding, Severity, StageCx};
use crate::sql::Dialect;

/// Rule id.
pub const ID: &str = "constraint-not-valid";
/// Default severity.
pub const SEVERITY: Severity = Severity::Warning;
/// One line.
pub const SUMMARY: &str =
    "PostgreSQL: a FOREIGN KEY or CHECK added to an existing table without NOT VALID";
/// Documentation.
pub const DOC: &str = "\
What it flags (PostgreSQL): `ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY` or `CHECK` on a \
table that existed before the stage, without `NOT VALID`.

Why it matters: adding the constraint scans every row while holding a lock that blocks writes \
(and, for a foreign key, the referenced table too).

Instead: add it `NOT VALID` (instant), then `ALTER TABLE ... VALIDATE CONSTRAINT` in a later \
statement or migration: validation takes a weaker lock.

Example:
  ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
  ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;";

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
            if let Action::AddConstraint {
                spec: spec @ (ConstraintSpec::ForeignKey(..) | ConstraintSpec::Check(_)),
                not_valid: false,
                ..
            } = a
            {
                let kind = if matches!(spec, ConstraintSpec::Check(_)) {
                    "CHECK"
                } else {
                    "FOREIGN KEY"
                };
                out.push(cx.at(
                        down,
                        s,
                        ID,
                        format!("adding a {kind} constraint to {table} scans every row while blocking writes"),
                        "add it NOT VALID, then VALIDATE CONSTRAINT in a later statement".into(),
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
    fn ok_not_valid() {
        ok(
            super::ID,
            &source(&[
                T,
                (
                    "c",
                    "ALTER TABLE t ADD CONSTRAINT n_pos CHECK (n > 0) NOT VALID;",
                    Some("ALTER TABLE t DROP CONSTRAINT n_pos;"),
                ),
            ]),
        );
    }

    #[test]
    fn err_validated_at_once() {
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "c",
                    "ALTER TABLE t ADD CONSTRAINT n_pos CHECK (n > 0);",
                    Some("ALTER TABLE t DROP CONSTRAINT n_pos;"),
                ),
            ]),
        );
        assert!(m.contains("CHECK constraint to t"), "{m}");
    }
}
