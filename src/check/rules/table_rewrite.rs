//! `table-rewrite`: a change that rewrites a whole table under an exclusive lock.

use crate::check::ir::{Action, Op};
use crate::check::{Finding, Severity, StageCx};
use crate::sql::Dialect;

/// Rule id.
pub const ID: &str = "table-rewrite";
/// Default severity.
pub const SEVERITY: Severity = Severity::Warning;
/// One line.
pub const SUMMARY: &str =
    "PostgreSQL: a type change or volatile default that rewrites an existing table";
/// Documentation.
pub const DOC: &str = "\
What it flags (PostgreSQL): `ALTER COLUMN ... TYPE` on a table that existed before the stage \
(except widening a varchar or turning it into text, which PostgreSQL does without a rewrite), \
and `ADD COLUMN` with a volatile default (`random()`, `gen_random_uuid()`, `clock_timestamp()`).

Why it matters: the whole table is rewritten while an ACCESS EXCLUSIVE lock blocks reads and \
writes. In a down, that is an outage during the incident the down was meant to end.

Instead: add a new column, backfill it in batches, and switch over (expand/contract); for \
defaults, add the column without one, then set the default and backfill.

Example:
  expand:   ALTER TABLE orders ADD COLUMN total_cents_big BIGINT;
  contract: ALTER TABLE orders DROP COLUMN total_cents;";

fn volatile(default: &str) -> bool {
    let d = default.to_ascii_lowercase();
    [
        "random(",
        "gen_random_uuid(",
        "uuid_generate_",
        "clock_timestamp(",
        "timeofday(",
    ]
    .iter()
    .any(|f| d.contains(f))
}

/// Checks a stage.
pub fn check(cx: &StageCx, out: &mut Vec<Finding>) {
    if cx.dialect != Dialect::Postgres {
        return;
    }
    for (down, stmts, schema) in [
        (false, Some(cx.up), cx.before),
        (true, cx.down, cx.after_up),
    ] {
        for s in stmts.into_iter().flatten() {
            let Op::AlterTable { table, actions, .. } = &s.read.op else {
                continue;
            };
            if !cx.existed(table) {
                continue;
            }
            for a in actions {
                match a {
                    Action::SetType { column, ty } => {
                        let old = schema.tables.get(table).and_then(|t| t.columns.get(column)).map(|c| c.ty.clone()).unwrap_or_default();
                        let text = |t: &str| t.starts_with("VARCHAR") || t.starts_with("CHARACTER VARYING") || t == "TEXT";
                        let cheap = text(&old) && text(ty) && crate::check::schema::widening(&old, ty) != Some(false);
                        if !cheap {
                            out.push(cx.at(
                                down,
                                s,
                                ID,
                                format!("changing {table}.{column} to {ty} rewrites the whole table under an exclusive lock"),
                                "add a column of the new type, backfill it in batches and switch over (expand/contract)".into(),
                            ));
                        }
                    }
                    Action::AddColumn(c) if c.default.as_deref().is_some_and(volatile) => out.push(cx.at(
                        down,
                        s,
                        ID,
                        format!("adding {table}.{} with a volatile default rewrites the whole table under an exclusive lock", c.name),
                        "add the column without a default, then set the default and backfill in batches".into(),
                    )),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::testing::{err, ok, source};

    const T: (&str, &str, Option<&str>) = (
        "t",
        "CREATE TABLE t (id INT PRIMARY KEY, n INT, v VARCHAR(10));",
        Some("-- migrate:archive\nDROP TABLE t;"),
    );

    #[test]
    fn ok_varchar_widening_and_constant_default() {
        ok(
            super::ID,
            &source(&[
                T,
                (
                    "w",
                    "ALTER TABLE t ALTER COLUMN v TYPE VARCHAR(20);",
                    Some("-- migrate:irreversible: values longer than 10 may exist after this"),
                ),
            ]),
        );
        ok(
            super::ID,
            &source(&[
                T,
                (
                    "d",
                    "ALTER TABLE t ADD COLUMN k TEXT DEFAULT 'x';",
                    Some("-- migrate:archive\nALTER TABLE t DROP COLUMN k;"),
                ),
            ]),
        );
    }

    #[test]
    fn err_int_to_bigint_and_volatile_default() {
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "b",
                    "ALTER TABLE t ALTER COLUMN n TYPE BIGINT;",
                    Some("ALTER TABLE t ALTER COLUMN n TYPE INT;"),
                ),
            ]),
        );
        assert!(m.contains("rewrites the whole table"), "{m}");
        err(
            super::ID,
            &source(&[
                T,
                (
                    "u",
                    "ALTER TABLE t ADD COLUMN k UUID DEFAULT gen_random_uuid();",
                    Some("-- migrate:archive\nALTER TABLE t DROP COLUMN k;"),
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
                    "int_to_bigint",
                    "ALTER TABLE posts ALTER COLUMN id TYPE BIGINT;",
                    Some(
                        "-- migrate:allow lossy-down: ids stay small\nALTER TABLE posts ALTER COLUMN id TYPE INTEGER;",
                    ),
                    true,
                ),
                (
                    "widen_varchar",
                    "ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(200);",
                    Some(
                        "-- migrate:allow lossy-down: names stay short\nALTER TABLE users ALTER COLUMN name TYPE VARCHAR(100);",
                    ),
                    true,
                ),
                (
                    "varchar_to_text",
                    "ALTER TABLE users ALTER COLUMN name TYPE TEXT;",
                    Some("SELECT 1;"),
                    false,
                ),
                (
                    "text_to_jsonb",
                    "ALTER TABLE posts ALTER COLUMN body TYPE JSONB USING body::jsonb;",
                    Some("ALTER TABLE posts ALTER COLUMN body TYPE TEXT;"),
                    true,
                ),
                (
                    "volatile_default",
                    "ALTER TABLE users ADD COLUMN token UUID NOT NULL DEFAULT gen_random_uuid();",
                    Some("-- migrate:archive\nALTER TABLE users DROP COLUMN token;"),
                    true,
                ),
                (
                    "constant_default",
                    "ALTER TABLE users ADD COLUMN karma INT NOT NULL DEFAULT 0;",
                    Some("-- migrate:archive\nALTER TABLE users DROP COLUMN karma;"),
                    false,
                ),
                (
                    "now_default",
                    "ALTER TABLE users ADD COLUMN seen_at TIMESTAMP DEFAULT now();",
                    Some("-- migrate:archive\nALTER TABLE users DROP COLUMN seen_at;"),
                    false,
                ),
                (
                    "new_table",
                    "CREATE TABLE tags (id SERIAL PRIMARY KEY, n INT);\nALTER TABLE tags ALTER COLUMN n TYPE BIGINT;",
                    Some("-- migrate:archive\nDROP TABLE tags;"),
                    false,
                ),
            ],
        );
    }
}
