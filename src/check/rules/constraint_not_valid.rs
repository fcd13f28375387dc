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

    #[test]
    fn real_patterns() {
        use crate::check::testing::{BASE, cases};
        cases(
            super::ID,
            &[BASE],
            &[
                (
                    "fk",
                    "ALTER TABLE users ADD COLUMN inviter_id BIGINT;\nALTER TABLE users ADD CONSTRAINT users_inviter_fkey FOREIGN KEY (inviter_id) REFERENCES users (id);",
                    Some("-- migrate:archive\nALTER TABLE users DROP COLUMN inviter_id;"),
                    true,
                ),
                (
                    "fk_not_valid",
                    "ALTER TABLE posts ADD CONSTRAINT posts_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
                    Some("ALTER TABLE posts DROP CONSTRAINT posts_user_fk;"),
                    false,
                ),
                (
                    "check",
                    "ALTER TABLE posts ADD CONSTRAINT posts_title_len CHECK (length(title) <= 300);",
                    Some("ALTER TABLE posts DROP CONSTRAINT posts_title_len;"),
                    true,
                ),
                (
                    "check_not_valid_then_validate",
                    "ALTER TABLE posts ADD CONSTRAINT posts_title_len CHECK (length(title) <= 300) NOT VALID;\nALTER TABLE posts VALIDATE CONSTRAINT posts_title_len;",
                    Some("ALTER TABLE posts DROP CONSTRAINT posts_title_len;"),
                    false,
                ),
                (
                    "new_table",
                    "CREATE TABLE tags (id SERIAL PRIMARY KEY, post_id INT);\nALTER TABLE tags ADD CONSTRAINT tags_post_fkey FOREIGN KEY (post_id) REFERENCES posts (id);",
                    Some("-- migrate:archive\nDROP TABLE tags;"),
                    false,
                ),
                (
                    "unique",
                    "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
                    Some("ALTER TABLE users DROP CONSTRAINT users_email_key;"),
                    false,
                ),
                (
                    "in_the_down",
                    "ALTER TABLE posts DROP CONSTRAINT posts_user_id_fkey;",
                    Some(
                        "ALTER TABLE posts ADD CONSTRAINT posts_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);",
                    ),
                    true,
                ),
                (
                    "create_table_fk",
                    "CREATE TABLE tags (id SERIAL PRIMARY KEY, post_id INT REFERENCES posts (id));",
                    Some("-- migrate:archive\nDROP TABLE tags;"),
                    false,
                ),
            ],
        );
    }
}
