//! `down-not-inverse`: after up then down, the schema differs from before.

use crate::check::{Finding, Severity, StageCx};

/// Rule id.
pub const ID: &str = "down-not-inverse";
/// Default severity.
pub const SEVERITY: Severity = Severity::Error;
/// One line.
pub const SUMMARY: &str = "after up then down, the schema differs from before";
/// Documentation.
pub const DOC: &str = "\
What it flags: a down that does not put the schema back as it was: an index or column left \
over, a column re-added with another type, nullability or default, a constraint or index \
missing or under another name, a view or function re-created with another definition. Every \
difference is listed. Column order is not a difference: a re-added column lands at the end of its \
table and no down can put it back. It is one for a view whose `*` the down re-creates: \
PostgreSQL expands `*` when the view is created, so the same text over a table whose columns \
changed since gives a view with other columns, in another order. Definitions are compared by \
meaning: pg_dump's spelling (`users.id`, `(name)::text AS name`, `public.`) is the same view.

Why it matters: after a rollback the old application runs against a schema it was never tested \
with. A leftover NOT NULL column breaks its inserts; a missing index turns its queries into \
sequential scans.

Instead: make the down the exact inverse of the up, statement by statement, in reverse order.

Example:
  up:   CREATE INDEX orders_created_at_idx ON orders (created_at);
  down: DROP INDEX orders_created_at_idx;";

/// Checks a stage.
pub fn check(cx: &StageCx, out: &mut Vec<Finding>) {
    let (Some(down), Some(after)) = (cx.stage.down.as_ref(), cx.after_down) else {
        return;
    };
    if cx.uncertain || down.irreversible_reason().is_some() {
        return;
    }
    let mut diffs = cx.before.diff(after);
    if cx.cascades {
        // What a CASCADE took is not in the model: "left over" may be wrong.
        diffs.retain(|d| !d.ends_with("is left over"));
    }
    if diffs.is_empty() {
        return;
    }
    out.push(cx.at_file(
        down,
        ID,
        format!(
            "after the up and then this down, the schema differs from before: {}",
            diffs.join("; ")
        ),
        "make the down undo exactly what the up did, in reverse order".into(),
    ));
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
    fn ok_exact_inverse_in_any_column_order() {
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
                    "d",
                    "-- migrate:archive\nALTER TABLE t DROP COLUMN v;",
                    Some("ALTER TABLE t ADD COLUMN v TEXT;"),
                ),
            ]),
        );
    }

    #[test]
    fn ok_spellings_of_one_type_or_default_and_a_column_dropped_with_its_index() {
        let base = (
            "t",
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20) DEFAULT 'x', n INT);",
            Some("-- migrate:archive\nDROP TABLE t;"),
        );
        ok(
            super::ID,
            &source(&[
                base,
                (
                    "types",
                    "ALTER TABLE t ALTER COLUMN n TYPE BIGINT;",
                    Some("ALTER TABLE t ALTER COLUMN n TYPE INTEGER;"),
                ),
                (
                    "defaults",
                    "ALTER TABLE t ALTER COLUMN v SET DEFAULT 'y';",
                    Some("ALTER TABLE t ALTER COLUMN v SET DEFAULT 'x'::character varying;"),
                ),
                (
                    "collate",
                    "ALTER TABLE t ALTER COLUMN v TYPE VARCHAR(20) COLLATE \"C\";",
                    Some("ALTER TABLE t ALTER COLUMN v TYPE CHARACTER VARYING(20);"),
                ),
                (
                    "col",
                    "ALTER TABLE t ADD COLUMN w TEXT;\nCREATE INDEX t_w ON t (w);",
                    Some("-- migrate:archive\nALTER TABLE t DROP COLUMN w;"),
                ),
            ]),
        );
    }

    #[test]
    fn err_a_column_put_back_without_its_index() {
        let m = err(
            super::ID,
            &source(&[
                (
                    "t",
                    "CREATE TABLE t (id INT PRIMARY KEY, w TEXT);\nCREATE INDEX t_w ON t (w);",
                    Some("-- migrate:archive\nDROP TABLE t;"),
                ),
                (
                    "drop",
                    "-- migrate:archive\nALTER TABLE t DROP COLUMN w;",
                    Some("ALTER TABLE t ADD COLUMN w TEXT;"),
                ),
            ]),
        );
        assert!(m.contains("index t_w is gone"), "{m}");
    }

    #[test]
    fn err_leftovers_and_changed_columns() {
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "i",
                    "CREATE INDEX t_v ON t (v);\nCREATE INDEX t_id ON t (id);",
                    Some("DROP INDEX t_v;"),
                ),
            ]),
        );
        assert!(m.contains("index t_id is left over"), "{m}");
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "d",
                    "-- migrate:archive\nALTER TABLE t DROP COLUMN v;",
                    Some("ALTER TABLE t ADD COLUMN v VARCHAR(20) NOT NULL DEFAULT '';"),
                ),
            ]),
        );
        assert!(
            m.contains("column t.v was TEXT and is now VARCHAR(20)"),
            "{m}"
        );
        assert!(m.contains("nullable and is now NOT NULL"), "{m}");
        // A down that drops an index under a wrong name: the real one is left over.
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "i",
                    "CREATE INDEX t_v_idx ON t (v);",
                    Some("DROP INDEX IF EXISTS t_v;"),
                ),
            ]),
        );
        assert!(m.contains("index t_v_idx is left over"), "{m}");
    }

    #[test]
    fn ok_postgres_forms_sqlparser_cannot_read_and_renames_that_carry() {
        let src = source(&[
            (
                "p",
                "CREATE TABLE p (id INT PRIMARY KEY);",
                Some("-- migrate:archive\nDROP TABLE p;"),
            ),
            // PostgreSQL 18's named NOT NULL, and an inline REFERENCES
            // whose implicit constraint the down names.
            (
                "t",
                "CREATE TABLE t (id INT, p_id INT REFERENCES p, u TEXT UNIQUE, \
                     CONSTRAINT t_id_not_null NOT NULL id);",
                Some("-- migrate:archive\nDROP TABLE t;"),
            ),
            (
                "fk",
                "ALTER TABLE t DROP CONSTRAINT t_p_id_fkey;",
                Some("ALTER TABLE t ADD CONSTRAINT t_p_id_fkey FOREIGN KEY (p_id) REFERENCES p;"),
            ),
            // ALTER INDEX renames the constraint the index backs.
            (
                "ri",
                "ALTER INDEX IF EXISTS t_u_key RENAME TO t_u_uniq;",
                Some("ALTER INDEX t_u_uniq RENAME TO t_u_key;"),
            ),
            (
                "types",
                "ALTER TABLE t ALTER COLUMN u TYPE public.citext;",
                Some("ALTER TABLE t ALTER COLUMN u TYPE pg_catalog.text;"),
            ),
        ]);
        ok(super::ID, &src);
        ok(super::super::down_would_fail::ID, &src);
        ok(super::super::unparsed_statement::ID, &src);
    }

    #[test]
    fn err_an_inline_foreign_key_not_put_back() {
        let m = err(
            super::ID,
            &source(&[
                (
                    "p",
                    "CREATE TABLE p (id INT PRIMARY KEY);",
                    Some("-- migrate:archive\nDROP TABLE p;"),
                ),
                (
                    "t",
                    "CREATE TABLE t (id INT PRIMARY KEY, p_id INT REFERENCES p);",
                    Some("-- migrate:archive\nDROP TABLE t;"),
                ),
                (
                    "drop",
                    "-- migrate:archive\nALTER TABLE t DROP COLUMN p_id;",
                    Some("ALTER TABLE t ADD COLUMN p_id INT;"),
                ),
            ]),
        );
        assert!(m.contains("t_p_id_fkey"), "{m}");
    }

    #[test]
    fn err_a_renamed_column_keeps_its_index_so_dropping_it_drops_the_index() {
        let m = err(
            super::ID,
            &source(&[
                (
                    "t",
                    "CREATE TABLE t (id INT PRIMARY KEY, a TEXT);\nCREATE INDEX t_a ON t (a);",
                    Some("-- migrate:archive\nDROP TABLE t;"),
                ),
                (
                    "rename",
                    "ALTER TABLE t RENAME COLUMN a TO b;",
                    Some(
                        "-- migrate:archive\nALTER TABLE t DROP COLUMN b;\nALTER TABLE t ADD COLUMN a TEXT;",
                    ),
                ),
            ]),
        );
        assert!(m.contains("index t_a is gone"), "{m}");
    }

    #[test]
    fn ok_index_expressions_by_meaning_and_renamed_types() {
        let src = source(&[
            (
                "t",
                "CREATE TYPE mood AS ENUM ('a', 'b');\n\
                 CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20), published TIMESTAMP, m mood DEFAULT 'a');\n\
                 CREATE INDEX t_lower ON t (LOWER(name));\nCREATE INDEX t_abs ON t (abs(id));\nCREATE INDEX t_pub ON t (date_trunc('day', published) DESC);\n\
                 ALTER TABLE t RENAME COLUMN published TO published_at;",
                Some("-- migrate:archive\nDROP TABLE t;\nDROP TYPE mood;"),
            ),
            // pg_dump's spelling of the same index.
            (
                "dump",
                "DROP INDEX t_lower;",
                Some("CREATE INDEX t_lower ON t USING btree (lower((name)::text));"),
            ),
            // A partial index goes with the column its WHERE names.
            (
                "partial",
                "ALTER TABLE t ADD COLUMN gone_at TIMESTAMP;\n\
                 CREATE INDEX t_gone ON t (id) WHERE gone_at IS NOT NULL;\n\
                 CREATE INDEX t_len ON t (length(name || gone_at::text));",
                Some("-- migrate:archive\nALTER TABLE t DROP COLUMN gone_at;"),
            ),
            // A table made by AS SELECT has columns the checker does not know.
            (
                "as",
                "CREATE TABLE s AS SELECT 1 AS a;",
                Some("-- migrate:archive\nDROP TABLE s;"),
            ),
            (
                "redo",
                "-- migrate:archive\nDROP TABLE s;",
                Some("CREATE TABLE s (a INT NOT NULL, b INT);"),
            ),
            // The rename in the first migration took the index expression along.
            (
                "after",
                "DROP INDEX t_pub;",
                Some("CREATE INDEX t_pub ON t (date_trunc('day', published_at) DESC);"),
            ),
            // A renamed label takes the defaults naming it along.
            (
                "label",
                "ALTER TYPE mood RENAME VALUE 'a' TO 'A';",
                Some("ALTER TYPE mood RENAME VALUE 'A' TO 'a';"),
            ),
            (
                "readd",
                "-- migrate:archive\nALTER TABLE t DROP COLUMN m;",
                Some("ALTER TABLE t ADD COLUMN m mood DEFAULT 'A';"),
            ),
            // PostgreSQL's own cast on a function argument, as pg_dump prints it.
            (
                "cast",
                "DROP INDEX t_abs;",
                Some("CREATE INDEX t_abs ON t (abs((id)::integer));"),
            ),
            // The enum rebuild-and-swap: the column ends on a type named as before.
            (
                "enum",
                "ALTER TYPE mood RENAME TO mood_old;\nCREATE TYPE mood AS ENUM ('a', 'b', 'c');\n\
                 ALTER TABLE t ALTER COLUMN m TYPE mood USING m::text::mood;\nDROP TYPE mood_old;",
                Some(
                    "ALTER TYPE mood RENAME TO mood_old;\nCREATE TYPE mood AS ENUM ('a', 'b');\n\
                      ALTER TABLE t ALTER COLUMN m TYPE mood USING m::text::mood;\nDROP TYPE mood_old;",
                ),
            ),
        ]);
        ok(super::ID, &src);
    }

    #[test]
    fn err_a_column_left_on_the_renamed_old_type() {
        let m = err(
            super::ID,
            &source(&[
                (
                    "t",
                    "CREATE TYPE mood AS ENUM ('a');\nCREATE TABLE t (id INT PRIMARY KEY, m mood);",
                    Some("-- migrate:archive\nDROP TABLE t;\nDROP TYPE mood;"),
                ),
                (
                    "enum",
                    "ALTER TYPE mood RENAME TO mood_old;\nCREATE TYPE mood AS ENUM ('a', 'b');\n\
                     ALTER TABLE t ALTER COLUMN m TYPE mood USING m::text::mood;",
                    Some("ALTER TYPE mood RENAME TO mood_new;\nCREATE TYPE mood AS ENUM ('a');"),
                ),
            ]),
        );
        assert!(m.contains("column t.m was MOOD and is now MOOD_NEW"), "{m}");
    }

    const F1: &str = "CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$\n\
        BEGIN\n  NEW.updated_at = now(); -- keep it fresh\n  RETURN NEW;\nEND $$;";

    #[test]
    fn ok_function_bodies_restored_in_another_spelling() {
        ok(
            super::ID,
            &source(&[
                ("f", F1, Some("DROP FUNCTION bump();")),
                (
                    "g",
                    "CREATE OR REPLACE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$\n\
                     BEGIN NEW.updated_at = clock_timestamp(); RETURN NEW; END $$;",
                    Some(
                        "CREATE OR REPLACE FUNCTION bump()\nRETURNS TRIGGER\nLANGUAGE PLPGSQL\nAS $body$\n\
                          begin\n    new.updated_at = NOW();\n    return new;\nend\n$body$;",
                    ),
                ),
                // Options in another order, type aliases.
                (
                    "h",
                    "CREATE FUNCTION rank(n numeric) RETURNS float AS $$ SELECT n * 2 $$ LANGUAGE sql IMMUTABLE;",
                    Some("DROP FUNCTION rank(numeric);"),
                ),
                (
                    "h2",
                    "CREATE OR REPLACE FUNCTION rank(n numeric) RETURNS float LANGUAGE sql AS $$ SELECT n * 3 $$;",
                    Some(
                        "CREATE OR REPLACE FUNCTION rank(n decimal) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$ SELECT n*2 $$;",
                    ),
                ),
                (
                    "args",
                    "CREATE FUNCTION add(a INT, b INTEGER, OUT c int4) LANGUAGE sql AS $$ SELECT a + b $$;",
                    Some("DROP FUNCTION add(int4, int);"),
                ),
            ]),
        );
    }

    #[test]
    fn err_function_body_not_restored_or_left_over() {
        let m = err(
            super::ID,
            &source(&[
                ("f", F1, Some("DROP FUNCTION bump();")),
                (
                    "g",
                    "CREATE OR REPLACE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$\n\
                     BEGIN NEW.updated_at = clock_timestamp(); RETURN NEW; END $$;",
                    Some("SELECT 1;"),
                ),
            ]),
        );
        assert!(
            m.contains("function bump() is not as it was") && m.contains("clock_timestamp"),
            "{m}"
        );
        let m = err(
            super::ID,
            &source(&[(
                "f",
                "CREATE TABLE t (id INT PRIMARY KEY);\n\
                 CREATE FUNCTION t_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM t $$;",
                Some("-- migrate:archive\nDROP TABLE t;"),
            )]),
        );
        assert!(m.contains("function t_count() is left over"), "{m}");
    }

    const USERS: (&str, &str, Option<&str>) = (
        "users",
        "CREATE TABLE users (id INT PRIMARY KEY, name TEXT);\n\
         CREATE VIEW user_names AS SELECT id, name FROM users;\n\
         CREATE VIEW user_alias AS SELECT * FROM users;",
        Some("DROP VIEW user_alias, user_names;\n-- migrate:archive\nDROP TABLE users;"),
    );

    #[test]
    fn ok_views_put_back_as_they_were_in_any_spelling() {
        ok(
            super::ID,
            &source(&[
                USERS,
                (
                    "widen",
                    "CREATE OR REPLACE VIEW user_names AS SELECT id, name, 1 AS one FROM users;",
                    // pg_dump's spelling of the first definition.
                    Some(
                        "DROP VIEW user_names;\nCREATE VIEW user_names AS\n SELECT users.id,\n    \
                         (users.name)::text AS name\n   FROM public.users;",
                    ),
                ),
                (
                    "mat",
                    "CREATE MATERIALIZED VIEW counts AS SELECT COUNT(*) AS n FROM users WHERE id <> 0;",
                    Some("DROP MATERIALIZED VIEW counts;"),
                ),
                // A stage that leaves the view's table alone.
                (
                    "other",
                    "DROP VIEW user_alias;\nCREATE VIEW user_alias AS SELECT * FROM users WHERE id > 0;",
                    Some("DROP VIEW user_alias;\nCREATE VIEW user_alias AS SELECT * FROM users;"),
                ),
            ]),
        );
    }

    #[test]
    fn err_a_view_put_back_with_another_query() {
        let m = err(
            super::ID,
            &source(&[
                USERS,
                (
                    "v2",
                    "CREATE OR REPLACE VIEW user_names AS SELECT id, name, 1 AS one FROM users;",
                    Some("DROP VIEW user_names;\nCREATE VIEW user_names AS SELECT id FROM users;"),
                ),
            ]),
        );
        assert!(m.contains("view user_names is not as it was"), "{m}");
        let m = err(
            super::ID,
            &source(&[
                USERS,
                (
                    "gone",
                    "DROP VIEW user_names;",
                    Some("CREATE VIEW user_name AS SELECT id, name FROM users;"),
                ),
            ]),
        );
        assert!(m.contains("view user_names is gone"), "{m}");
        assert!(m.contains("view user_name is left over"), "{m}");
    }

    #[test]
    fn err_a_star_view_recreated_over_changed_columns() {
        // PostgreSQL expands `*` when the view is created: the same text
        // over a table whose columns changed since is another view (a real
        // history's rename-and-split down did this).
        let m = err(
            super::ID,
            &source(&[
                USERS,
                (
                    "email",
                    "ALTER TABLE users ADD COLUMN email TEXT;",
                    Some("-- migrate:archive\nALTER TABLE users DROP COLUMN email;"),
                ),
                (
                    "rename",
                    "DROP VIEW user_alias;\nALTER TABLE users RENAME TO person;",
                    Some(
                        "ALTER TABLE person RENAME TO users;\nCREATE VIEW user_alias AS SELECT * FROM users;",
                    ),
                ),
            ]),
        );
        assert!(
            m.contains("its `*` over users stood for 2 columns and now for 3; column 3 was nothing and is now email"),
            "{m}"
        );
        // A column dropped and re-added: same columns, another order.
        let m = err(
            super::ID,
            &source(&[
                USERS,
                (
                    "move",
                    "DROP VIEW user_alias;\n-- migrate:archive\nALTER TABLE users DROP COLUMN id;",
                    Some(
                        "ALTER TABLE users ADD COLUMN id INT PRIMARY KEY;\n\
                         CREATE VIEW user_alias AS SELECT * FROM users;",
                    ),
                ),
            ]),
        );
        assert!(m.contains("column 1 was id and is now name"), "{m}");
    }

    #[test]
    fn triggers_and_row_security_do_not_hide_a_non_inverse_down() {
        // `ALTER TABLE ... DISABLE TRIGGER` (a backfill's habit) changes
        // nothing the checker compares, so the stage is still judged.
        let m = err(
            super::ID,
            &source(&[
                T,
                (
                    "i",
                    "ALTER TABLE t DISABLE TRIGGER ALL;\nCREATE INDEX t_v ON t (v);\n\
                     ALTER TABLE t ENABLE TRIGGER ALL;\nALTER TABLE t ENABLE ROW LEVEL SECURITY;",
                    Some("ALTER TABLE t DISABLE ROW LEVEL SECURITY;"),
                ),
            ]),
        );
        assert!(m.contains("index t_v is left over"), "{m}");
    }

    #[test]
    fn err_a_constraint_put_back_with_other_columns() {
        // A real history's down re-added a UNIQUE with its columns in
        // another order: another index, another constraint.
        let m = err(
            super::ID,
            &source(&[
                (
                    "o",
                    "CREATE TABLE owners (crate_id INT, owner_id INT, kind INT, \
                     CONSTRAINT owners_unique UNIQUE (owner_id, crate_id, kind));",
                    Some("-- migrate:archive\nDROP TABLE owners;"),
                ),
                (
                    "pk",
                    "ALTER TABLE owners DROP CONSTRAINT owners_unique;\n\
                     ALTER TABLE owners ADD PRIMARY KEY (crate_id, owner_id, kind);",
                    Some(
                        "ALTER TABLE owners DROP CONSTRAINT owners_pkey;\n\
                         ALTER TABLE owners ADD CONSTRAINT owners_unique UNIQUE (crate_id, owner_id, kind);",
                    ),
                ),
            ]),
        );
        assert!(
            m.contains(
                "constraint owners_unique on owners was UNIQUE (owner_id, crate_id, kind) \
                 and is now UNIQUE (crate_id, owner_id, kind)"
            ),
            "{m}"
        );
    }

    #[test]
    fn ok_constraints_follow_renamed_tables_and_columns() {
        ok(
            super::ID,
            &source(&[
                (
                    "u",
                    "CREATE TABLE user_ (id INT PRIMARY KEY);\n\
                     CREATE TABLE site (id INT PRIMARY KEY, creator_id INT REFERENCES user_, \
                     mod_id INT, CONSTRAINT one_of CHECK (num_nonnulls(creator_id, mod_id) = 1));",
                    Some(
                        "-- migrate:archive\nDROP TABLE site;\n-- migrate:archive\nDROP TABLE user_;",
                    ),
                ),
                // The foreign key of another table follows the rename, and
                // the CHECK follows its column's.
                (
                    "person",
                    "ALTER TABLE user_ RENAME TO person;\nALTER TABLE site RENAME COLUMN mod_id TO admin_id;",
                    Some(
                        "ALTER TABLE site RENAME COLUMN admin_id TO mod_id;\nALTER TABLE person RENAME TO user_;",
                    ),
                ),
                (
                    "creator",
                    "-- migrate:archive\nALTER TABLE site DROP COLUMN creator_id;",
                    Some("ALTER TABLE site ADD COLUMN creator_id INT REFERENCES person;"),
                ),
            ]),
        );
    }

    #[test]
    fn an_index_on_a_cast_to_the_columns_new_type_becomes_an_index_on_the_column() {
        // PostgreSQL rebuilds `(date(day))` over a column that becomes a
        // date as `(day)`; a down that turns it back into a timestamp does
        // not bring the cast back.
        let base = (
            "d",
            "CREATE TABLE downloads (id INT PRIMARY KEY, day TIMESTAMP);\n\
             CREATE INDEX downloads_day ON downloads (date(day));",
            Some("-- migrate:archive\nDROP TABLE downloads;"),
        );
        let m = err(
            super::ID,
            &source(&[
                base,
                (
                    "to_date",
                    "ALTER TABLE downloads ALTER COLUMN day TYPE date;",
                    Some("ALTER TABLE downloads ALTER COLUMN day TYPE timestamp;"),
                ),
            ]),
        );
        assert!(m.contains("index downloads_day changed"), "{m}");
        // Later, a stage that re-creates it on the column is inverse.
        ok(
            super::ID,
            &source(&[
                base,
                (
                    "to_date",
                    "ALTER TABLE downloads ALTER COLUMN day TYPE date;",
                    Some(
                        "ALTER TABLE downloads ALTER COLUMN day TYPE timestamp;\n\
                         DROP INDEX downloads_day;\nCREATE INDEX downloads_day ON downloads (date(day));",
                    ),
                ),
                (
                    "unused",
                    "DROP INDEX downloads_day;",
                    Some("CREATE INDEX downloads_day ON downloads (date(day));"),
                ),
            ]),
        );
    }
}
