//! `migrate drill`: verdicts on every backend, and the scratch database is
//! always dropped.

use crate::support::{Kind, TestDb, fixture, migrate_in, root};

/// The drill's server URL for a backend (the server, not a test database).
fn server(kind: Kind) -> Option<String> {
    match kind {
        Kind::Sqlite => None,
        Kind::Postgres => std::env::var("MIGRATE_TEST_POSTGRES_URL").ok(),
        Kind::Mysql => std::env::var("MIGRATE_TEST_MYSQL_URL").ok(),
    }
}

fn kinds() -> Vec<Kind> {
    let mut k = vec![Kind::Sqlite];
    for (kind, var) in [
        (Kind::Postgres, "MIGRATE_TEST_POSTGRES_URL"),
        (Kind::Mysql, "MIGRATE_TEST_MYSQL_URL"),
    ] {
        if std::env::var(var).is_ok() {
            k.push(kind);
        } else {
            eprintln!("skipped {kind:?}: {var} is not set");
        }
    }
    k
}

/// Each stage's verdict, in order.
fn verdicts(report: &serde_json::Value) -> Vec<&str> {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["verdict"].as_str().unwrap())
        .collect()
}

fn drill(kind: Kind, source: &std::path::Path) -> (crate::support::Run, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--source".to_string(),
        source.display().to_string(),
        "drill".into(),
        "--format".into(),
        "json".into(),
    ];
    if let Some(url) = server(kind) {
        args.extend(["--database-url".into(), url]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = migrate_in(tmp.path(), &args);
    let v = serde_json::from_str(&run.stdout).unwrap_or_else(|_| panic!("{kind:?}: {}", run.all()));
    (run, v)
}

#[test]
fn example_history_drills_clean_everywhere() {
    for kind in kinds() {
        let dialect = match kind {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
        };
        let (run, v) = drill(kind, &root().join("migrations-example").join(dialect));
        assert_eq!(run.code, 0, "{kind:?}: {}", run.stdout);
        let stages = v["stages"].as_array().unwrap();
        assert_eq!(stages.len(), 10);
        assert!(
            stages.iter().all(|s| s["verdict"] == "ok"),
            "{kind:?}: {}",
            run.stdout
        );
        // Every table was seeded.
        assert!(
            stages
                .iter()
                .all(|s| s["unseeded"].as_array().unwrap().is_empty()),
            "{kind:?}: {}",
            run.stdout
        );
    }
}

#[test]
fn broken_downs_get_the_right_verdict() {
    for kind in kinds() {
        for (case, verdict) in [
            ("down_fails", "down-failed"),
            ("forgets_index", "schema-differs"),
            ("retyped_column", "schema-differs"),
            ("drops_without_archive", "data-lost"),
        ] {
            let (run, v) = drill(kind, &fixture(&format!("drill/{case}")));
            assert_eq!(run.code, 1, "{kind:?} {case}: {}", run.all());
            assert_eq!(v["stages"][0]["verdict"], "ok", "{kind:?} {case}");
            assert_eq!(
                v["stages"][1]["verdict"], verdict,
                "{kind:?} {case}: {}",
                run.stdout
            );
            let details = v["stages"][1]["details"].to_string();
            let expected = match case {
                "drops_without_archive" => "t.note",
                "forgets_index" => "was not there before the up and is left over after the down",
                "retyped_column" => "column t.v is not as it was before the up: was `",
                _ => "",
            };
            assert!(details.contains(expected), "{kind:?} {case}: {details}");
        }
    }
}

#[test]
fn the_scratch_database_is_gone_after_a_failed_drill() {
    for kind in kinds().into_iter().filter(|k| *k != Kind::Sqlite) {
        let (_, v) = drill(kind, &fixture("drill/down_fails"));
        let scratch = v["scratch"].as_str().unwrap();
        let name = scratch.rsplit('(').next().unwrap().trim_end_matches(')');
        assert!(name.starts_with("migrate_drill_"), "{scratch}");
        let db = TestDb::server(kind).unwrap();
        let sql = match kind {
            Kind::Postgres => {
                format!("SELECT datname::text FROM pg_database WHERE datname = '{name}'")
            }
            _ => format!(
                "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name = '{name}'"
            ),
        };
        assert!(db.strings(&sql).is_empty(), "{kind:?}: {name} still exists");
    }
}

#[test]
fn the_drill_refuses_a_server_whose_database_holds_a_history_unless_chosen() {
    let Some(db) = TestDb::server(Kind::Postgres) else {
        return;
    };
    let dir = db.write_migrations(&[
        ("0001_t.up.sql", "CREATE TABLE t (id INT PRIMARY KEY);\n"),
        ("0001_t.down.sql", "-- migrate:archive\nDROP TABLE t;\n"),
    ]);
    let s = dir.as_str();
    db.migrate(&["--source", s, "up"]).ok();
    // Refused before anything is made (other tests' drills come and go on
    // this server meanwhile, so the refusal's own words are what is checked).
    let run = db.migrate(&["--source", s, "drill"]).code(2);
    assert!(
        run.stderr.contains("holds a migrate history")
            && run.stderr.contains("--scratch-url")
            && !run.all().contains("migrate_drill_"),
        "{}",
        run.all()
    );
    let run = db
        .migrate(&["--source", s, "drill", "--scratch-url", &db.url])
        .ok();
    assert!(run.stdout.contains("ok"), "{}", run.all());
}

/// Functions, enum labels, views, triggers, sequences and extensions are
/// compared too, and each difference reads as what the down failed to put
/// back, in the database's own SQL.
#[test]
fn every_object_kind_is_compared_and_told_in_sql_terms() {
    for kind in kinds() {
        let (case, expected): (&str, &[(&str, &str)]) = match kind {
            Kind::Postgres => (
                "objects_postgres",
                &[
                    (
                        "0002_function",
                        "function answer() is not as it was before the up: line 4 was `AS $function$SELECT 1$function$`, is now `AS $function$SELECT 42$function$`",
                    ),
                    (
                        "0003_enum",
                        "enum type mood is not as it was before the up: was `'calm', 'busy'`, is now `'calm', 'busy', 'away'`",
                    ),
                    (
                        "0004_view",
                        "view tv is not as it was before the up: was `SELECT t.id FROM t;`, is now `SELECT t.id, t.v FROM t;`",
                    ),
                    (
                        "0005_trigger",
                        "trigger t_touch was not there before the up and is left over after the down: CREATE TRIGGER t_touch BEFORE UPDATE ON public.t",
                    ),
                    (
                        "0006_sequence",
                        "sequence tickets is not as it was before the up: was `bigint INCREMENT 1",
                    ),
                    (
                        "0007_extension",
                        "extension citext was not there before the up and is left over after the down",
                    ),
                ],
            ),
            Kind::Mysql => (
                "objects_mysql",
                &[
                    (
                        "0002_view",
                        "view tv is not as it was before the up: was `select `t`.`id` AS `id` from `t``, is now `select `t`.`id` AS `id`,`t`.`v` AS `v` from `t``",
                    ),
                    (
                        "0003_trigger",
                        "trigger t_touch was not there before the up and is left over after the down: BEFORE UPDATE SET NEW.v = NEW.v",
                    ),
                    (
                        "0004_function",
                        "function answer is not as it was before the up: was `int(11) RETURN 1`, is now `int(11) RETURN 42`",
                    ),
                ],
            ),
            Kind::Sqlite => (
                "objects_sqlite",
                &[
                    (
                        "0002_view",
                        "view tv is not as it was before the up: was `CREATE VIEW tv AS SELECT id FROM t`, is now `CREATE VIEW tv AS SELECT id, v FROM t`",
                    ),
                    (
                        "0003_trigger",
                        "trigger t_touch was not there before the up and is left over after the down: CREATE TRIGGER t_touch AFTER UPDATE ON t BEGIN SELECT 1; END",
                    ),
                ],
            ),
        };
        let (run, v) = drill(kind, &fixture(&format!("drill/{case}")));
        assert_eq!(run.code, 1, "{kind:?}: {}", run.all());
        let stages = v["stages"].as_array().unwrap();
        assert_eq!(stages[0]["verdict"], "ok", "{kind:?}: {}", run.stdout);
        for (migration, detail) in expected {
            let s = stages
                .iter()
                .find(|s| s["migration"].as_str().unwrap().starts_with(migration))
                .unwrap_or_else(|| panic!("{kind:?} {migration}: {}", run.stdout));
            assert_eq!(s["verdict"], "schema-differs", "{kind:?} {migration}: {s}");
            let details = s["details"].to_string();
            assert!(
                s["details"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|d| d.as_str().unwrap().starts_with(detail)),
                "{kind:?} {migration}: expected `{detail}` in {details}"
            );
        }
        if kind == Kind::Postgres {
            assert_eq!(stages[7]["verdict"], "ok", "a down that puts the body back");
        }
    }
}

/// An up that breaks on rows gets its own verdict and the drill goes on; an
/// up that fails on empty tables stops it, and every later stage still gets
/// a verdict that says why it was not drilled.
#[test]
fn every_stage_gets_a_verdict_and_data_failures_do_not_stop_the_drill() {
    for kind in kinds() {
        let (run, v) = drill(kind, &fixture("drill/data_dependent"));
        assert_eq!(run.code, 1, "{kind:?}: {}", run.all());
        let verdicts = verdicts(&v);
        assert_eq!(
            verdicts,
            ["ok", "up-fails-on-data", "ok", "up-failed", "not-reached"],
            "{kind:?}: {}",
            run.stdout
        );
        let on_data = v["stages"][1]["details"][0].as_str().unwrap();
        assert!(
            on_data.starts_with("the up fails once its tables hold rows")
                && on_data.contains("UPDATE t SET id = 1"),
            "{kind:?}: {on_data}"
        );
        assert!(
            v["stages"][4]["details"][0]
                .as_str()
                .unwrap()
                .contains("the drill stopped at 0004_broken (main)"),
            "{kind:?}: {}",
            run.stdout
        );
    }
    let human = migrate_in(
        &root(),
        &["--source", "tests/fixtures/drill/data_dependent", "drill"],
    );
    assert_eq!(human.code, 1, "{}", human.all());
    assert!(
        human
            .stdout
            .contains("4 stage(s) drilled, 2 failed, 1 not reached"),
        "{}",
        human.all()
    );
}

/// SQLite: a table may reference one created by a later migration; the
/// drill drills both, and says why the first could not be seeded meanwhile.
#[test]
fn a_reference_to_a_later_table_is_drilled_on_sqlite() {
    let (run, v) = drill(Kind::Sqlite, &fixture("drill/forward_reference"));
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(v["stages"][0]["verdict"], "ok", "{}", run.stdout);
    assert_eq!(v["stages"][1]["verdict"], "ok", "{}", run.stdout);
    assert!(
        v["stages"][0]["unseeded"].to_string().contains("authors"),
        "{}",
        run.stdout
    );
}

/// The drill applies migrations the way `up` does, init-sql included (a
/// project whose migrations need it would otherwise fail only in drills).
#[test]
fn the_drill_runs_init_sql_like_up() {
    let db = TestDb::sqlite();
    let dir = db.write_migrations(&[
        (
            "0001_t.up.sql",
            "CREATE INDEX setup_made_v ON setup_made (v);\n",
        ),
        ("0001_t.down.sql", "DROP INDEX setup_made_v;\n"),
    ]);
    let init = "CREATE TABLE IF NOT EXISTS setup_made (id INTEGER PRIMARY KEY, v TEXT)";
    let run = migrate_in(
        db.dir.path(),
        &["--source", &dir, "--init-sql", init, "drill"],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let without = migrate_in(db.dir.path(), &["--source", &dir, "drill"]);
    assert!(
        without.code == 1 && without.stdout.contains("up failed"),
        "{}",
        without.all()
    );
}

/// `--from` takes a version as its file name writes it, diesel's dashes too.
#[test]
fn drill_from_takes_the_version_as_written() {
    let dir = tempfile::tempdir().unwrap();
    for (name, table) in [("2024-01-01-000001_a", "a"), ("2024-02-01-000001_b", "b")] {
        let m = dir.path().join(name);
        std::fs::create_dir(&m).unwrap();
        std::fs::write(
            m.join("up.sql"),
            format!("CREATE TABLE {table} (id INT);\n"),
        )
        .unwrap();
        std::fs::write(m.join("down.sql"), format!("DROP TABLE {table};\n")).unwrap();
    }
    let s = dir.path().to_str().unwrap();
    let args = [
        "--source",
        s,
        "drill",
        "--from",
        "2024-02-01-000001",
        "--format",
        "json",
    ];
    let run = migrate_in(dir.path(), &args);
    let v: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|_| panic!("{}", run.all()));
    let drilled: Vec<&str> = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["migration"].as_str().unwrap())
        .collect();
    assert_eq!(drilled, ["2024-02-01-000001_b"], "{}", run.all());
    let bad = migrate_in(dir.path(), &["--source", s, "drill", "--from", "b"]).code(2);
    assert!(bad.stderr.contains("`b` is not a version"), "{}", bad.all());
}

/// PostgreSQL: a column's collation and type change between the drill's
/// snapshots; introspection never reuses a prepared statement whose result
/// type that invalidates ("cached plan must not change result type").
#[test]
fn collation_and_type_changes_do_not_break_introspection() {
    if !kinds().contains(&Kind::Postgres) {
        return;
    }
    let (run, v) = drill(Kind::Postgres, &fixture("drill/collation_postgres"));
    assert_eq!(run.code, 0, "{}", run.all());
    let verdicts = verdicts(&v);
    assert_eq!(verdicts, ["ok", "ok", "ok"], "{}", run.stdout);
}

/// Enum columns (quotes and all) and columns whose CHECK lists their values
/// (`IN (...)`, `= ... OR = ...`) are seeded with one of those values, so
/// the table gets rows and its later stages are drilled with data.
#[test]
fn enum_and_check_listed_values_are_seeded() {
    for kind in kinds() {
        let cases: &[&str] = match kind {
            Kind::Sqlite => &["drill/check_domain"],
            Kind::Postgres => &["drill/enum_postgres", "drill/check_domain"],
            Kind::Mysql => &["drill/enum_mysql", "drill/check_domain"],
        };
        for case in cases {
            let (run, v) = drill(kind, &fixture(case));
            assert_eq!(run.code, 0, "{kind:?} {case}: {}", run.all());
            for s in v["stages"].as_array().unwrap() {
                assert_eq!(s["unseeded"], serde_json::json!([]), "{kind:?} {case}: {s}");
            }
            // The rows were there: the column the second stage drops had values.
            assert!(
                v["stages"][1]["details"].to_string().contains("t.note"),
                "{kind:?} {case}: {}",
                run.stdout
            );
        }
    }
}

#[test]
fn wide_tables_are_compared_across_several_fingerprint_queries() {
    // A data snapshot fingerprints its tables in SELECTs of at most 500
    // values: two tables of 300 columns take two. A value lost in the
    // second one must still be seen.
    let dir = tempfile::tempdir().unwrap();
    let cols = |p: &str| {
        (1..=300)
            .map(|i| format!("{p}{i} INT"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    std::fs::write(
        dir.path().join("0001_wide.up.sql"),
        format!(
            "CREATE TABLE wa (id INT PRIMARY KEY, {});\nCREATE TABLE wb (id INT PRIMARY KEY, {});\n",
            cols("a"),
            cols("b")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("0001_wide.down.sql"),
        "-- migrate:archive\nDROP TABLE wb;\n-- migrate:archive\nDROP TABLE wa;\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("0002_note.up.sql"),
        "ALTER TABLE wb ADD COLUMN note VARCHAR(20);\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("0002_note.down.sql"),
        "-- migrate:allow lossy-down: a test of what the drill sees\nALTER TABLE wb DROP COLUMN note;\n",
    )
    .unwrap();
    for kind in kinds() {
        let (_, v) = drill(kind, dir.path());
        assert_eq!(verdicts(&v), ["ok", "ok"], "{kind:?}: {v}");
        let details = v["stages"][1]["details"].to_string();
        assert!(
            details.contains("wb.note: values lost or changed after down and up again"),
            "{kind:?}: {details}"
        );
    }
}
