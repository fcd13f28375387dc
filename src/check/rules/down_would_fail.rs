//! `down-would-fail`: the down refers to something that will not exist.

use crate::check::schema::Missing;
use crate::check::{Finding, Severity, StageCx};

/// Rule id.
pub const ID: &str = "down-would-fail";
/// Default severity.
pub const SEVERITY: Severity = Severity::Error;
/// One line.
pub const SUMMARY: &str =
    "the down refers to a table, column or index that will not exist at that point";
/// Documentation.
pub const DOC: &str = "\
What it flags: a down statement naming a table, column, index, view or constraint that does not \
exist when it runs (after the up, and after the down's earlier statements): a typo, a name the \
database generated differently, or statements in the wrong order. On PostgreSQL, also a `DROP \
TABLE` (without CASCADE) of a table another table still references by a foreign key.

Why it matters: a down is run rarely, usually during an incident. One that fails half-way \
leaves the database between two versions while everyone is waiting.

Instead: name exactly what the up created, and undo in reverse order.

Example:
  up:   CREATE INDEX orders_created_at_idx ON orders (created_at);
  down: DROP INDEX orders_created_at_idx;   -- not orders_created_idx";

/// Checks a stage.
pub fn check(cx: &StageCx, out: &mut Vec<Finding>) {
    let Some(down) = cx.down else { return };
    if cx.uncertain {
        return;
    }
    for (i, missing) in cx.down_missing {
        let (message, help) = match missing {
            Missing::ReferencedBy(..) => (
                format!(
                    "this drops {missing}: the database refuses while a foreign key references it"
                ),
                "drop the referencing table (or its foreign key) first, or say CASCADE if that is meant",
            ),
            _ => (
                format!("this refers to {missing}, which will not exist when the down runs"),
                "check the name against the up (and earlier migrations), and the order of the down's statements",
            ),
        };
        out.push(cx.at(true, &down[*i], ID, message, help.into()));
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
    fn ok_names_match() {
        ok(
            super::ID,
            &source(&[
                T,
                ("i", "CREATE INDEX t_v ON t (v);", Some("DROP INDEX t_v;")),
            ]),
        );
        ok(
            super::ID,
            &source(&[
                T,
                (
                    "i",
                    "CREATE INDEX t_v ON t (v);",
                    Some("DROP INDEX IF EXISTS t_v;"),
                ),
            ]),
        );
    }

    #[test]
    fn ok_postgres_implicit_names_and_materialized_views() {
        // PostgreSQL names unnamed constraints t_pkey, t_a_key, t_b_fkey.
        ok(
            super::ID,
            &source(&[
                (
                    "p",
                    "CREATE TABLE p (id INT PRIMARY KEY);",
                    Some("-- migrate:archive\nDROP TABLE p;"),
                ),
                (
                    "t",
                    "CREATE TABLE t (id INT PRIMARY KEY, a TEXT UNIQUE, b INT, FOREIGN KEY (b) REFERENCES p (id));",
                    Some("-- migrate:archive\nDROP TABLE t;"),
                ),
                (
                    "swap",
                    "ALTER TABLE t DROP CONSTRAINT t_pkey;\nALTER TABLE t DROP CONSTRAINT t_a_key;\nALTER TABLE t DROP CONSTRAINT t_b_fkey;",
                    Some(
                        "ALTER TABLE t ADD PRIMARY KEY (id);\nALTER TABLE t ADD UNIQUE (a);\nALTER TABLE t ADD FOREIGN KEY (b) REFERENCES p (id);",
                    ),
                ),
            ]),
        );
        // An index created without a name is t_<columns>_idx.
        ok(
            super::ID,
            &source(&[
                (
                    "t",
                    "CREATE TABLE t (id INT PRIMARY KEY, a INT, b INT);",
                    Some("-- migrate:archive\nDROP TABLE t;"),
                ),
                (
                    "i",
                    "CREATE INDEX ON t (a, b);",
                    Some("DROP INDEX t_a_b_idx;"),
                ),
                // An expression column is named after its function, else `expr`.
                (
                    "e",
                    "CREATE UNIQUE INDEX ON t (lower(a::text));\nCREATE INDEX ON t ((a + b));",
                    Some("DROP INDEX t_lower_idx;\nDROP INDEX t_expr_idx;"),
                ),
            ]),
        );
        // An index on a materialized view.
        ok(
            super::ID,
            &source(&[
                (
                    "t",
                    "CREATE TABLE t (id INT PRIMARY KEY);",
                    Some("-- migrate:archive\nDROP TABLE t;"),
                ),
                (
                    "mv",
                    "CREATE MATERIALIZED VIEW mv AS SELECT id FROM t;\nCREATE UNIQUE INDEX mv_id ON mv (id);",
                    Some("DROP MATERIALIZED VIEW mv;"),
                ),
                (
                    "rebuild",
                    "DROP MATERIALIZED VIEW mv;",
                    Some(
                        "CREATE MATERIALIZED VIEW mv AS SELECT id FROM t;\nCREATE UNIQUE INDEX mv_id ON mv (id);",
                    ),
                ),
            ]),
        );
    }

    #[test]
    fn err_wrong_name_or_order() {
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "i",
                    "CREATE INDEX t_v_idx ON t (v);",
                    Some("DROP INDEX t_v;"),
                ),
            ]),
        );
        assert!(m.contains("index t_v"), "{m}");
        let m = err(
            super::ID,
            &source(&[(
                "a",
                "CREATE TABLE a (id INT PRIMARY KEY);\nCREATE TABLE b (id INT PRIMARY KEY);",
                Some(
                    "-- migrate:archive\nDROP TABLE a;\nALTER TABLE a ADD COLUMN x INT;\n-- migrate:archive\nDROP TABLE b;",
                ),
            )]),
        );
        assert!(m.contains("table a"), "{m}");
    }

    #[test]
    fn ok_not_null_constraints_and_renamed_constraints_are_found() {
        let long = "idx_post_aggregates_featured_community_newest_comment_time_necro_asc";
        ok(
            super::ID,
            &source(&[
                T,
                // PostgreSQL cuts names to 63 bytes: either spelling finds it.
                (
                    "long",
                    &format!("CREATE INDEX {long} ON t (v);"),
                    Some(&format!("DROP INDEX {};", &long[..63])),
                ),
            ]),
        );
        ok(
            super::ID,
            &source(&[
                (
                    "t",
                    "CREATE TABLE t (id INT PRIMARY KEY, a TEXT NOT NULL, b TEXT, \
                     CONSTRAINT t_b_present NOT NULL b);",
                    Some("-- migrate:archive\nDROP TABLE t;"),
                ),
                // PostgreSQL 18 names the NOT NULL on a: t_a_not_null.
                (
                    "nn",
                    "ALTER TABLE t DROP CONSTRAINT t_a_not_null;\nALTER TABLE t DROP CONSTRAINT t_b_present;",
                    Some(
                        "ALTER TABLE t ALTER COLUMN a SET NOT NULL;\nALTER TABLE t ADD CONSTRAINT t_b_present NOT NULL b;",
                    ),
                ),
                (
                    "rc",
                    "ALTER TABLE t RENAME CONSTRAINT t_pkey TO t_key;",
                    Some("ALTER TABLE t RENAME CONSTRAINT t_key TO t_pkey;"),
                ),
            ]),
        );
    }

    #[test]
    fn err_a_renamed_constraint_under_its_old_name() {
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "rc",
                    "ALTER TABLE t RENAME CONSTRAINT t_pkey TO t_key;",
                    Some("ALTER TABLE t DROP CONSTRAINT t_pkey;"),
                ),
            ]),
        );
        assert!(m.contains("constraint t_pkey on t"), "{m}");
    }

    #[test]
    fn err_a_parent_dropped_before_its_child() {
        let src = source(&[(
            "t",
            "CREATE TABLE p (id INT PRIMARY KEY);\nCREATE TABLE c (id INT PRIMARY KEY, p_id INT REFERENCES p);",
            Some("DROP TABLE p;\nDROP TABLE c;"),
        )]);
        let m = err(super::ID, &src);
        assert!(
            m.contains("table p, which c still references (c_p_id_fkey)"),
            "{m}"
        );
        // In the right order, together, or with CASCADE: fine.
        for down in [
            "DROP TABLE c;\nDROP TABLE p;",
            "DROP TABLE p, c;",
            "DROP TABLE p CASCADE;\nDROP TABLE c;",
        ] {
            ok(
                super::ID,
                &source(&[(
                    "t",
                    "CREATE TABLE p (id INT PRIMARY KEY);\nCREATE TABLE c (id INT PRIMARY KEY, p_id INT REFERENCES p);",
                    Some(down),
                )]),
            );
        }
        // A child made in an earlier migration is seen too.
        let m = err(
            super::ID,
            &source(&[
                (
                    "p",
                    "CREATE TABLE p (id INT PRIMARY KEY);",
                    Some("DROP TABLE p;"),
                ),
                (
                    "c",
                    "CREATE TABLE c (id INT PRIMARY KEY, p_id INT, FOREIGN KEY (p_id) REFERENCES p (id));",
                    Some("DROP TABLE c;"),
                ),
                (
                    "x",
                    "ALTER TABLE p ADD COLUMN x INT;",
                    Some("DROP TABLE p;"),
                ),
            ]),
        );
        assert!(m.contains("which c still references"), "{m}");
    }

    #[test]
    fn real_patterns() {
        use crate::check::testing::{BASE, cases};
        cases(
            super::ID,
            &[BASE],
            &[
                (
                    "wrong_index_name",
                    "CREATE INDEX posts_title_idx ON posts (title);",
                    Some("DROP INDEX posts_title_index;"),
                    true,
                ),
                (
                    "wrong_name_if_exists",
                    "CREATE INDEX posts_title_idx ON posts (title);",
                    Some("DROP INDEX IF EXISTS posts_title_index;\nDROP INDEX posts_title_idx;"),
                    false,
                ),
                (
                    "wrong_column",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some("-- migrate:archive\nALTER TABLE users DROP COLUMN biography;"),
                    true,
                ),
                (
                    "implicit_unique_name",
                    "ALTER TABLE users ADD UNIQUE (email);",
                    Some("ALTER TABLE users DROP CONSTRAINT users_email_key;"),
                    false,
                ),
                (
                    "named_unique_dropped_by_implicit_name",
                    "ALTER TABLE users ADD CONSTRAINT users_email_unique UNIQUE (email);",
                    Some("ALTER TABLE users DROP CONSTRAINT users_email_key;"),
                    true,
                ),
                (
                    "one_table_too_many",
                    "CREATE TABLE tags (id SERIAL PRIMARY KEY);",
                    Some("-- migrate:archive\nDROP TABLE tags, post_tags;"),
                    true,
                ),
                (
                    "index_gone_with_its_column",
                    "ALTER TABLE users ADD COLUMN handle TEXT;\nCREATE INDEX users_handle_idx ON users (handle);",
                    Some(
                        "-- migrate:archive\nALTER TABLE users DROP COLUMN handle;\nDROP INDEX users_handle_idx;",
                    ),
                    true,
                ),
                (
                    "parent_before_child",
                    "CREATE TABLE tags (id SERIAL PRIMARY KEY);\nCREATE TABLE post_tags (post_id INT NOT NULL REFERENCES posts (id), tag_id INT NOT NULL REFERENCES tags (id), PRIMARY KEY (post_id, tag_id));",
                    Some(
                        "-- migrate:archive\nDROP TABLE tags;\n-- migrate:archive\nDROP TABLE post_tags;",
                    ),
                    true,
                ),
                (
                    "child_before_parent",
                    "CREATE TABLE tags (id SERIAL PRIMARY KEY);\nCREATE TABLE post_tags (post_id INT NOT NULL REFERENCES posts (id), tag_id INT NOT NULL REFERENCES tags (id), PRIMARY KEY (post_id, tag_id));",
                    Some(
                        "-- migrate:archive\nDROP TABLE post_tags;\n-- migrate:archive\nDROP TABLE tags;",
                    ),
                    false,
                ),
                (
                    "rename_back",
                    "ALTER TABLE users RENAME COLUMN name TO full_name;",
                    Some("ALTER TABLE users RENAME COLUMN full_name TO name;"),
                    false,
                ),
                (
                    "rename_back_typo",
                    "ALTER TABLE users RENAME COLUMN name TO full_name;",
                    Some("ALTER TABLE users RENAME COLUMN fullname TO name;"),
                    true,
                ),
                (
                    "implicit_pkey",
                    "CREATE TABLE tags (id SERIAL);\nALTER TABLE tags ADD PRIMARY KEY (id);",
                    Some(
                        "ALTER TABLE tags DROP CONSTRAINT tags_pkey;\n-- migrate:archive\nDROP TABLE tags;",
                    ),
                    false,
                ),
            ],
        );
    }
}
