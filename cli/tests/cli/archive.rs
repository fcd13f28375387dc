//! `-- migrate:archive`: dropped data comes back, with its types, on every backend.

use crate::support::{Kind, TestDb, copy_dir, fixture, root};

fn dialect(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgres",
        Kind::Mysql => "mysql",
    }
}

/// Every row of `typed`, every column rendered exactly, in key order.
fn dump(db: &TestDb, with_nickname: bool) -> String {
    let nick = if with_nickname { ", nickname" } else { "" };
    let sql = match db.kind {
        Kind::Sqlite => format!(
            "SELECT coalesce(group_concat(r, '|'), '') FROM (SELECT id || ':' || quote(t) || ',' || quote(i) || ',' || quote(n) || ',' || quote(b) || ',' || quote(ts) || ',' || quote(tstz) || ',' || quote(j) || ',' || quote(bin){} AS r FROM typed ORDER BY id)",
            if with_nickname {
                " || ',' || quote(nickname)"
            } else {
                ""
            }
        ),
        Kind::Postgres => format!(
            "SELECT coalesce(string_agg(concat_ws(',', id, quote_nullable(t), quote_nullable(i), quote_nullable(n), quote_nullable(b), quote_nullable(ts), quote_nullable(tstz), quote_nullable(j), quote_nullable(bin){}), '|' ORDER BY id), '') FROM typed",
            if with_nickname {
                ", quote_nullable(nickname)"
            } else {
                ""
            }
        ),
        Kind::Mysql => format!(
            "SELECT CAST(COALESCE(GROUP_CONCAT(CONCAT_WS(',', id, QUOTE(t), QUOTE(i), QUOTE(n), QUOTE(b), QUOTE(ts), QUOTE(tstz), QUOTE(j), QUOTE(HEX(bin)){}) ORDER BY id SEPARATOR '|'), '') AS CHAR) FROM typed",
            if with_nickname {
                ", QUOTE(nickname)"
            } else {
                ""
            }
        ),
    };
    let _ = nick;
    db.strings(&sql).remove(0)
}

#[test]
fn archived_column_and_table_come_back_with_every_type() {
    for db in TestDb::all() {
        let d = dialect(db.kind);
        let src = db.dir.path().join("m");
        copy_dir(&fixture(&format!("archive/{d}")), &src);
        let s = src.to_str().unwrap();
        db.migrate(&["--source", s, "up"]).ok();
        db.execute(&std::fs::read_to_string(src.join("seed.sql.txt")).unwrap());
        db.execute("UPDATE typed SET nickname = 'Ada' WHERE id = 1");
        let before = dump(&db, true);
        assert!(before.contains("Ada"), "{before}");

        // The plan says what will be kept.
        let dry = db.migrate(&["--source", s, "down", "--dry-run"]).ok();
        assert!(
            dry.stdout
                .contains("archive typed.nickname before statement 1"),
            "{}",
            dry.stdout
        );

        // Column: down drops nickname (archived), up re-adds it and restores.
        let run = db.migrate(&["--source", s, "down", "--yes"]).ok();
        assert!(
            run.stderr.contains("archived typed.nickname (2 rows)"),
            "{:?}: {}",
            db.kind,
            run.stderr
        );
        // A row deleted meanwhile is skipped and counted.
        db.execute("DELETE FROM typed WHERE id = 2");
        let dry = db.migrate(&["--source", s, "up", "--dry-run"]).ok();
        assert!(
            dry.stdout
                .contains("restore typed.nickname (2 rows kept in"),
            "{}",
            dry.stdout
        );
        let run = db.migrate(&["--source", s, "up"]).ok();
        assert!(
            run.stderr.contains("restored 1 rows of typed.nickname"),
            "{:?}: {}",
            db.kind,
            run.stderr
        );
        assert!(
            run.stderr
                .contains("(1 archived rows no longer exist and were skipped)"),
            "{:?}: {}",
            db.kind,
            run.stderr
        );
        // Row 2 was all NULLs: put it back as it was.
        db.execute("INSERT INTO typed (id) VALUES (2)");
        assert_eq!(dump(&db, true), before, "{:?}: column round trip", db.kind);

        // Whole table, with every type and NULLs.
        db.migrate(&["--source", s, "down", "--yes", "--to", "0"])
            .ok();
        assert!(
            !db.schema().iter().any(|l| l.contains("typed")),
            "{:?}",
            db.kind
        );
        db.migrate(&["--source", s, "up"]).ok();
        assert_eq!(dump(&db, true), before, "{:?}: table round trip", db.kind);

        // The key sequence continues after the restored rows.
        db.execute("INSERT INTO typed (t) VALUES ('new row')");

        // Archives are listed, and purged only when asked.
        let list = db
            .migrate(&["--source", s, "archive", "list", "--format", "json"])
            .ok();
        let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
        let n = v["archives"].as_array().unwrap().len();
        assert_eq!(
            n, 3,
            "{:?}: nickname, typed, nickname again: {}",
            db.kind, list.stdout
        );
        let purged = db
            .migrate(&["--source", s, "archive", "purge", "--restored-only"])
            .ok();
        assert!(
            purged.stdout.contains("dropped 3 archives"),
            "{}",
            purged.stdout
        );
        db.migrate(&["--source", s, "down", "--yes"]).ok();
        db.migrate(&["--source", s, "archive", "purge", "--restored-only"])
            .ok();
        db.migrate(&["--source", s, "archive", "purge", "--older-than", "1h"])
            .ok();
        let list = db
            .migrate(&["--source", s, "archive", "list", "--format", "json"])
            .ok();
        let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
        let left = v["archives"].as_array().unwrap();
        assert_eq!(
            left.len(),
            1,
            "{:?}: the unrestored, recent archive stays: {}",
            db.kind,
            list.stdout
        );
        assert!(left[0]["restored_at"].is_null());
        assert_eq!(left[0]["row_count"], 3);
        let archives = db.migrate(&["--source", s, "log"]).ok();
        assert!(
            archives.stdout.contains("restored 2 rows of typed"),
            "{}",
            archives.stdout
        );
    }
}

#[test]
fn table_without_key_is_refused_before_anything_runs() {
    for db in TestDb::all() {
        let s = fixture("archive/nokey");
        let s = s.to_str().unwrap();
        // The checker refuses the migration on the way up already.
        let run = db.migrate(&["--source", s, "up"]).code(1);
        assert!(
            run.stderr.contains("[archive-needs-key]")
                && run.stderr.contains("--no-check --reason"),
            "{}",
            run.stderr
        );
        assert!(db.schema().is_empty());
        db.migrate(&[
            "--source",
            s,
            "up",
            "--no-check",
            "--reason",
            "testing the runner's own refusal",
        ])
        .ok();
        db.execute("INSERT INTO nokey (a) VALUES (1)");
        let history = db.history();
        let run = db.migrate(&["--source", s, "down", "--yes"]).code(1);
        assert!(run.stderr.contains("no primary key"), "{}", run.stderr);
        // Forcing past the checker does not force past the runner: it cannot archive without a key.
        let run = db
            .migrate(&[
                "--source", s, "down", "--yes", "--force", "--reason", "test",
            ])
            .code(1);
        assert!(
            run.stderr.contains("cannot archive nokey") && run.stderr.contains("no primary key"),
            "{}",
            run.stderr
        );
        let log = db.migrate(&["--source", s, "log"]).ok();
        assert!(
            log.stdout.contains("testing the runner's own refusal"),
            "{}",
            log.stdout
        );
        assert_eq!(db.history(), history);
        assert_eq!(
            db.strings("SELECT 'row' FROM nokey").len(),
            1,
            "the table and its row are still there"
        );
        let dry = db.migrate(&["--source", s, "down", "--dry-run"]).code(1);
        assert!(dry.stderr.contains("no primary key"), "{}", dry.stderr);
    }
}

#[test]
fn example_history_keeps_every_value_through_a_full_revert() {
    for db in TestDb::all() {
        let example = root().join("migrations-example").join(dialect(db.kind));
        let s = example.to_str().unwrap();
        db.migrate(&["--source", s, "up", "--to", "6"]).ok();
        db.execute("INSERT INTO users (id, email, name, locale) VALUES (1, 'ada@example.com', 'Ada Lovelace', 'en'), (2, 'alan@example.com', 'Alan', 'fr')");
        db.execute("INSERT INTO organisations (id, name) VALUES (1, 'Analytical Engines')");
        db.execute(
            "INSERT INTO memberships (user_id, organisation_id, role) VALUES (1, 1, 'owner')",
        );
        db.execute(
            "INSERT INTO orders (id, organisation_id, user_id, total_cents) VALUES (1, 1, 1, 4200)",
        );
        // Expand: the new columns are backfilled; the new application writes through them.
        db.migrate(&["--source", s, "up"]).ok();
        db.execute("INSERT INTO users (id, email, first_name, last_name) VALUES (3, 'grace@example.com', 'Grace', 'Hopper')");
        let users = "SELECT CONCAT(id, ' ', email, ' ', COALESCE(first_name, '-'), ' ', COALESCE(last_name, '-'), ' ', COALESCE(locale, '-')) FROM users ORDER BY id";
        let users = if db.kind == Kind::Mysql {
            users.to_string()
        } else {
            users.replace("CONCAT(", "concat(")
        };
        let before = db.strings(&users);
        assert_eq!(before[0], "1 ada@example.com Ada Lovelace en");
        let others = "SELECT CONCAT(user_id, ':', organisation_id, ':', role) FROM memberships";
        let members = db.strings(others);

        db.migrate(&["--source", s, "down", "--yes", "--to", "0"])
            .ok();
        assert!(db.schema().is_empty(), "{:?}", db.kind);
        db.migrate(&["--source", s, "up"]).ok();
        assert_eq!(db.strings(&users), before, "{:?}", db.kind);
        assert_eq!(db.strings(others), members, "{:?}", db.kind);

        // Reverting the contract brings users.name back: archived names for the
        // rows that had one, rebuilt from the new columns for the others.
        db.migrate(&["--source", s, "down", "--yes", "--to", "7", "--steps", "1"])
            .code(2);
        db.migrate(&["--source", s, "down", "--yes", "--steps", "3"])
            .ok();
        let names = db.strings("SELECT name FROM users ORDER BY id");
        assert_eq!(
            names,
            vec!["Ada Lovelace", "Alan", "Grace Hopper"],
            "{:?}",
            db.kind
        );
    }
}

#[test]
fn generated_columns_are_recomputed_on_restore() {
    for db in TestDb::all() {
        let src = db.dir.path().join("g");
        std::fs::create_dir_all(&src).unwrap();
        let create = "CREATE TABLE g (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2) STORED);\n";
        std::fs::write(src.join("0001_g.up.sql"), create).unwrap();
        std::fs::write(
            src.join("0001_g.down.sql"),
            "-- migrate:allow lossy-down: test table\nDROP TABLE g;\n",
        )
        .unwrap();
        std::fs::write(
            src.join("0002_drop_g.up.sql"),
            "-- migrate:archive\nDROP TABLE g;\n",
        )
        .unwrap();
        std::fs::write(src.join("0002_drop_g.down.sql"), create).unwrap();
        let s = src.to_str().unwrap();
        db.migrate(&["--source", s, "up", "--to", "1"]).ok();
        db.execute("INSERT INTO g (id, a) VALUES (1, 10), (2, 20)");
        db.migrate(&["--source", s, "up"]).ok();
        let run = db
            .migrate(&["--source", s, "down", "--yes", "--to", "1"])
            .ok();
        assert!(
            run.stderr.contains("restored 2 rows of g"),
            "{:?}: {}",
            db.kind,
            run.stderr
        );
        let text = if db.kind == Kind::Mysql {
            "CHAR"
        } else {
            "TEXT"
        };
        let rows = db.strings(&format!(
            "SELECT CAST(id AS {text}) FROM g WHERE b = a * 2 ORDER BY id"
        ));
        assert_eq!(rows, ["1", "2"], "{:?}", db.kind);
    }
}

#[test]
fn rows_whose_key_exists_again_stay_in_the_archive() {
    let db = TestDb::sqlite();
    let src = db.dir.path().join("k");
    std::fs::create_dir_all(&src).unwrap();
    let create = "CREATE TABLE k (id INTEGER PRIMARY KEY, v TEXT);\n";
    std::fs::write(src.join("0001_k.up.sql"), create).unwrap();
    std::fs::write(
        src.join("0001_k.down.sql"),
        "-- migrate:allow lossy-down: test table\nDROP TABLE k;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("0002_drop_k.up.sql"),
        "-- migrate:archive\nDROP TABLE k;\n",
    )
    .unwrap();
    // The down seeds a row whose key an archived row also has.
    std::fs::write(
        src.join("0002_drop_k.down.sql"),
        format!("{create}INSERT INTO k (id, v) VALUES (1, 'seed');\n"),
    )
    .unwrap();
    let s = src.to_str().unwrap();
    db.migrate(&["--source", s, "up", "--to", "1"]).ok();
    db.execute("INSERT INTO k (id, v) VALUES (1, 'one'), (2, 'two')");
    db.migrate(&["--source", s, "up"]).ok();
    let run = db
        .migrate(&["--source", s, "down", "--yes", "--to", "1"])
        .ok();
    assert!(
        run.stderr.contains("restored 1 rows of k")
            && run.stderr.contains(
                "1 archived rows were not restored because a row with the same key exists again"
            ),
        "{}",
        run.stderr
    );
    assert_eq!(db.strings("SELECT v FROM k ORDER BY id"), ["seed", "two"]);
    let list = db.migrate(&["--source", s, "archive", "list"]).ok();
    assert!(list.stdout.contains("1 rows only here"), "{}", list.stdout);
    // `--restored-only` keeps it: row 1's archived value exists nowhere else.
    let purge = db
        .migrate(&["--source", s, "archive", "purge", "--restored-only"])
        .ok();
    assert!(
        !purge.stdout.contains("dropped 1 archive"),
        "{}",
        purge.stdout
    );
    assert_eq!(
        db.strings("SELECT v FROM _migrate_archive_1 ORDER BY id"),
        ["one", "two"]
    );
}

#[test]
fn a_restore_changes_only_the_restored_column() {
    for db in TestDb::all() {
        let (table, trigger) = match db.kind {
            Kind::Postgres => (
                "CREATE TABLE t (id INT PRIMARY KEY, note TEXT, updated_at TIMESTAMPTZ NOT NULL DEFAULT '2020-01-01');\n\
                 CREATE TABLE audit (n INT);\n\
                 CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); INSERT INTO audit VALUES (1); RETURN NEW; END $$;\n\
                 CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch();\n",
                "-- migrate:allow lossy-down: test tables\n\nDROP TABLE t;\nDROP TABLE audit;\nDROP FUNCTION touch();\n",
            ),
            Kind::Mysql => (
                "CREATE TABLE t (id INT PRIMARY KEY, note TEXT, updated_at TIMESTAMP NOT NULL DEFAULT '2020-01-01 00:00:00' ON UPDATE CURRENT_TIMESTAMP);\n\
                 CREATE TABLE audit (n INT);\n",
                "-- migrate:allow lossy-down: test tables\n\nDROP TABLE t;\nDROP TABLE audit;\n",
            ),
            Kind::Sqlite => continue,
        };
        let dir = db.write_migrations(&[
            ("0001_t.up.sql", table),
            ("0001_t.down.sql", trigger),
            (
                "0002_drop_note.up.sql",
                "-- migrate:archive\nALTER TABLE t DROP COLUMN note;\n",
            ),
            (
                "0002_drop_note.down.sql",
                "ALTER TABLE t ADD COLUMN note TEXT;\n",
            ),
        ]);
        let s = dir.as_str();
        db.migrate(&["--source", s, "up", "--to", "1"]).ok();
        db.execute("INSERT INTO t (id, note) VALUES (1, 'kept'), (2, NULL)");
        db.migrate(&["--source", s, "up"]).ok();
        db.migrate(&["--source", s, "down", "--yes"]).ok();
        let rows = match db.kind {
            Kind::Postgres => db.strings(
                "SELECT id || ':' || coalesce(note, 'NULL') || ':' || to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM t ORDER BY id",
            ),
            _ => db.strings(
                "SELECT CONCAT(id, ':', COALESCE(note, 'NULL'), ':', DATE_FORMAT(updated_at, '%Y-%m-%d')) FROM t ORDER BY id",
            ),
        };
        assert_eq!(
            rows,
            ["1:kept:2020-01-01", "2:NULL:2020-01-01"],
            "{:?}",
            db.kind
        );
        assert_eq!(
            db.strings("SELECT CONCAT(COUNT(*), '') FROM audit"),
            ["0"],
            "{:?}: a user trigger fired on the restore",
            db.kind
        );
        if db.kind == Kind::Postgres {
            // The trigger is back on afterwards.
            db.execute("UPDATE t SET id = id WHERE id = 1");
            assert_eq!(
                db.strings("SELECT CAST(COUNT(*) AS TEXT) FROM audit"),
                ["1"]
            );
        }
    }
}

#[test]
fn a_drop_that_times_out_leaves_no_archive_behind() {
    let Some(db) = TestDb::server(Kind::Mysql) else {
        return;
    };
    let dir = db.write_migrations(&[
        (
            "0001_t.up.sql",
            "CREATE TABLE t (id INT PRIMARY KEY, note TEXT);\nINSERT INTO t VALUES (1, 'old');\n",
        ),
        (
            "0001_t.down.sql",
            "-- migrate:allow lossy-down: a test table\nDROP TABLE t;\n",
        ),
        (
            "0002_drop_note.up.sql",
            "-- migrate:archive\nALTER TABLE t DROP COLUMN note;\n",
        ),
        (
            "0002_drop_note.down.sql",
            "ALTER TABLE t ADD COLUMN note TEXT;\n",
        ),
    ]);
    std::fs::write(
        db.dir.path().join("migrate.toml"),
        "lock-timeout = \"1s\"\nlock-retries = 1\n",
    )
    .unwrap();
    let s = dir.as_str();
    db.migrate(&["--source", s, "up", "--to", "1"]).ok();
    let rt = crate::support::rt();
    let mut holder = rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql("LOCK TABLES t READ")
            .execute(&mut c)
            .await
            .unwrap();
        c
    });
    let run = db.migrate(&["--source", s, "up"]).code(1);
    assert!(run.stderr.contains("Lock wait timeout"), "{}", run.all());
    rt.block_on(async {
        sqlx::raw_sql("UNLOCK TABLES")
            .execute(&mut holder)
            .await
            .unwrap();
    });
    // The copy taken for the drop that did not happen is gone.
    let list = db
        .migrate(&["--source", s, "archive", "list", "--format", "json"])
        .ok();
    assert!(!list.stdout.contains("note"), "{}", list.stdout);
    // The application writes; the drop then happens and keeps that value.
    db.execute("UPDATE t SET note = 'new' WHERE id = 1");
    db.migrate(&["--source", s, "up"]).ok();
    db.migrate(&["--source", s, "down", "--yes"]).ok();
    assert_eq!(db.strings("SELECT note FROM t"), ["new"]);
}

/// Columns a stage archived from one table go back in one statement, with
/// every value (NULLs too), and in the order one-by-one restores would take:
/// a table whose rows come back first, its columns after.
#[test]
fn several_archived_columns_come_back_together_and_in_order() {
    for db in TestDb::all() {
        let dir = db.write_migrations(&[
            (
                "0001_t.up.sql",
                "CREATE TABLE t (id INT PRIMARY KEY, a TEXT, b INT, c TEXT);\nCREATE TABLE u (id INT PRIMARY KEY, x TEXT, y INT);\n",
            ),
            (
                "0001_t.down.sql",
                "-- migrate:allow lossy-down: test tables\nDROP TABLE t;\n-- migrate:allow lossy-down: test tables\nDROP TABLE u;\n",
            ),
            (
                "0002_drop.up.sql",
                "-- migrate:archive\nALTER TABLE t DROP COLUMN a;\n-- migrate:archive\nALTER TABLE t DROP COLUMN b;\n-- migrate:archive\nALTER TABLE t DROP COLUMN c;\n\
                 -- migrate:archive\nALTER TABLE u DROP COLUMN x;\n-- migrate:archive\nALTER TABLE u DROP COLUMN y;\n-- migrate:archive\nDROP TABLE u;\n",
            ),
            (
                "0002_drop.down.sql",
                "CREATE TABLE u (id INT PRIMARY KEY);\nALTER TABLE u ADD COLUMN x TEXT;\nALTER TABLE u ADD COLUMN y INT;\n\
                 ALTER TABLE t ADD COLUMN c TEXT;\nALTER TABLE t ADD COLUMN b INT;\nALTER TABLE t ADD COLUMN a TEXT;\n",
            ),
        ]);
        let s = dir.as_str();
        db.migrate(&["--source", s, "up", "--to", "1"]).ok();
        db.execute("INSERT INTO t (id, a, b, c) VALUES (1, 'one', 10, 'uno'), (2, NULL, 20, NULL), (3, 'three', NULL, 'tres')");
        db.execute("INSERT INTO u (id, x, y) VALUES (1, 'ex', 7), (2, NULL, NULL)");
        let dump = |db: &TestDb| {
            let (t, u) = match db.kind {
                Kind::Mysql => (
                    "SELECT CONCAT(id, ':', COALESCE(a, 'NULL'), ':', COALESCE(b, 'NULL'), ':', COALESCE(c, 'NULL')) FROM t ORDER BY id",
                    "SELECT CONCAT(id, ':', COALESCE(x, 'NULL'), ':', COALESCE(y, 'NULL')) FROM u ORDER BY id",
                ),
                _ => (
                    "SELECT CAST(id AS TEXT) || ':' || COALESCE(a, 'NULL') || ':' || COALESCE(CAST(b AS TEXT), 'NULL') || ':' || COALESCE(c, 'NULL') FROM t ORDER BY id",
                    "SELECT CAST(id AS TEXT) || ':' || COALESCE(x, 'NULL') || ':' || COALESCE(CAST(y AS TEXT), 'NULL') FROM u ORDER BY id",
                ),
            };
            (db.strings(t), db.strings(u))
        };
        let before = dump(&db);
        db.migrate(&["--source", s, "up"]).ok();
        let run = db.migrate(&["--source", s, "down", "--yes"]).ok();
        assert!(
            run.all().contains("restored 3 rows of t.a"),
            "{:?}: {}",
            db.kind,
            run.all()
        );
        assert_eq!(dump(&db), before, "{:?}", db.kind);
    }
}
