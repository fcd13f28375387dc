//! Histories as real projects have them: diesel's and Flyway's naming and
//! order, files beside the migrations, `metadata.toml`, sqlx's
//! `-- no-transaction`, comment-only ups, version 0.

use serde_json::Value;

use crate::support::{Kind, TestDb, copy_dir, fixture, migrate_in, root};

fn list_json(dir: &str) -> Value {
    let run = migrate_in(&root(), &["--source", dir, "--format", "json", "list"]).ok();
    serde_json::from_str(&run.stdout).unwrap()
}

fn names(v: &Value) -> Vec<String> {
    v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}_{}",
                m["version_text"].as_str().unwrap(),
                m["name"].as_str().unwrap()
            )
        })
        .collect()
}

/// A copy of `tests/fixtures/histories/<name>` in the database's temp dir.
fn history(db: &TestDb, name: &str) -> String {
    let to = db.dir.path().join(name);
    if !to.exists() {
        copy_dir(&fixture(&format!("histories/{name}")), &to);
    }
    to.to_str().unwrap().to_string()
}

#[test]
fn diesel_versions_run_in_diesels_order() {
    let v = list_json(fixture("histories/diesel_order").to_str().unwrap());
    assert_eq!(
        names(&v),
        [
            "00000000000000_diesel_initial_setup",
            "2023-12-01-000000_create_users",
            "2023-12-15-000000-0000_add_email",
            "2024-01-01-000000_rename_email",
            "2024-03-13_170000_rename_contact",
        ]
    );
    for db in TestDb::all() {
        let s = history(&db, "diesel_order");
        // A database at a December state moves forward to January and on.
        db.migrate(&["--source", &s, "up", "--to", "2023-12-15-000000-0000"])
            .ok();
        assert_eq!(
            db.history(),
            [
                "0:main:applied",
                "20231201000000:main:applied",
                "202312150000000000:main:applied"
            ],
            "{:?}",
            db.kind
        );
        let run = db.migrate(&["--source", &s, "up"]).ok();
        assert!(
            run.stdout.contains("applied 2 stages"),
            "{:?}: {}",
            db.kind,
            run.all()
        );
        assert!(
            db.schema().iter().any(|l| l.contains("users.contact")),
            "{:?}: {:?}",
            db.kind,
            db.schema()
        );
        // `down --to 0` reverts everything, version 0 included.
        db.migrate(&["--source", &s, "down", "--to", "0", "--yes"])
            .ok();
        assert!(db.history().is_empty(), "{:?}: {:?}", db.kind, db.history());
        assert!(db.schema().is_empty(), "{:?}: {:?}", db.kind, db.schema());
        // `up --to 0` applies version 0 alone.
        db.migrate(&["--source", &s, "up", "--to", "0"]).ok();
        assert_eq!(db.history(), ["0:main:applied"], "{:?}", db.kind);
        // And a fresh up applies the whole history in that order.
        db.migrate(&["--source", &s, "up"]).ok();
        assert_eq!(db.history().len(), 5);
    }
}

#[test]
fn the_drill_drills_version_0_as_its_own_stage() {
    // Before, the drill's `up` to version 0 applied nothing, so version 0
    // was reported ok untried and applied with the next stage, whose down
    // then "left over" what version 0 made.
    let dir = fixture("histories/diesel_order");
    let run = migrate_in(
        &root(),
        &[
            "--source",
            dir.to_str().unwrap(),
            "--database-url",
            "sqlite::memory:",
            "drill",
            "--format",
            "json",
        ],
    );
    let v: Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.all()));
    let stages = v["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 5, "{v}");
    assert_eq!(
        stages[0]["migration"],
        "00000000000000_diesel_initial_setup"
    );
    for later in &stages[1..] {
        assert!(
            !later["details"].to_string().contains("setup_log"),
            "the drill blamed another stage for version 0's table: {v}"
        );
    }
    // Version 0 itself was applied, seeded, reverted and applied again: its
    // down drops its table, a loss accepted with a written reason.
    assert_eq!(stages[0]["verdict"], "ok", "{v}");
    assert!(
        stages[0]["details"]
            .to_string()
            .contains("setup_log: 2 of 2 rows lost after down and up again"),
        "{v}"
    );
}

#[test]
fn flyway_and_refinery_names_load_with_undo_files_as_downs() {
    let dir = fixture("histories/flyway");
    let v = list_json(dir.to_str().unwrap());
    assert_eq!(
        names(&v),
        ["1_create_items", "2_add_label", "10_rename_label"]
    );
    let m = &v["migrations"][2];
    assert_eq!(m["layout"], "flyway");
    assert!(
        m["stages"][0]["down"]["path"]
            .as_str()
            .unwrap()
            .ends_with("U10__rename_label.sql")
    );
    assert!(
        v["warnings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("repeatable"),
        "{v}"
    );
    for db in TestDb::all() {
        let s = history(&db, "flyway");
        db.migrate(&["--source", &s, "up"]).ok();
        assert!(
            db.schema().iter().any(|l| l.contains("items.title")),
            "{:?}",
            db.kind
        );
        db.migrate(&["--source", &s, "down", "--to", "1", "--yes"])
            .ok();
        assert_eq!(db.history(), ["1:main:applied"], "{:?}", db.kind);
    }
    // Flyway's dotted versions are refused with the file named.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("V2_1__x.sql"), "SELECT 1;\n").unwrap();
    let run = migrate_in(&root(), &["--source", tmp.path().to_str().unwrap(), "list"]).code(2);
    assert!(
        run.stderr.contains("V2_1__x.sql") && run.stderr.contains("whole-number"),
        "{}",
        run.stderr
    );
}

#[test]
fn files_beside_the_migrations_are_passed_over_with_a_warning() {
    let dir = fixture("histories/as_they_are");
    let d = dir.to_str().unwrap();
    let v = list_json(d);
    assert_eq!(v["migrations"].as_array().unwrap().len(), 4, "{v}");
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("data_seed.sql"), "{warnings}");
    assert!(warnings.contains("`owner` is not a setting"), "{warnings}");
    assert!(
        !warnings.contains("notes.txt"),
        "text files in a migration directory are notes: {warnings}"
    );
    let human = migrate_in(&root(), &["--source", d, "list"]).ok();
    assert!(
        human.stdout.contains("warning: ") && human.stdout.contains("data_seed.sql"),
        "{}",
        human.stdout
    );
    let check = migrate_in(
        &root(),
        &[
            "--source",
            d,
            "--format",
            "json",
            "check",
            "--dialect",
            "sqlite",
        ],
    )
    .ok();
    let report: Value = serde_json::from_str(&check.stdout).unwrap();
    let rules: Vec<&str> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"ignored-file"), "{rules:?}");
    assert_eq!(report["errors"], 0, "{report}");
    // diesel's metadata.toml and sqlx's first-line `-- no-transaction`.
    let no_tx = |m: &Value| {
        m["stages"][0]["up"]["directives"]
            .to_string()
            .contains("no-transaction")
    };
    assert!(no_tx(&v["migrations"][2]), "{}", v["migrations"][2]);
    assert!(no_tx(&v["migrations"][3]), "{}", v["migrations"][3]);
    assert!(!no_tx(&v["migrations"][0]));
}

#[test]
fn real_looking_histories_apply_revert_and_reapply() {
    for db in TestDb::all() {
        if db.kind == Kind::Mysql {
            continue; // `DROP INDEX name` is PostgreSQL and SQLite syntax
        }
        let s = history(&db, "as_they_are");
        let run = db.migrate(&["--source", &s, "up"]).ok();
        assert!(
            run.stdout.contains("applied 4 stages"),
            "{:?}: {}",
            db.kind,
            run.all()
        );
        assert_eq!(db.history().len(), 4);
        // The sqlx simple migration has no down: the way back is refused
        // before anything runs, naming it.
        let run = db
            .migrate(&["--source", &s, "down", "--to", "20240101000000", "--yes"])
            .code(1);
        assert!(
            run.stderr
                .contains("20240104000000_sqlx_simple (main) has no down"),
            "{}",
            run.all()
        );
        assert_eq!(db.history().len(), 4);
        db.execute("DROP INDEX notes_id2");
        db.migrate(&[
            "--source",
            &s,
            "resolve",
            "20240104000000",
            "--as",
            "reverted",
            "--reason",
            "dropped by hand",
        ])
        .ok();
        db.migrate(&["--source", &s, "down", "--to", "20240101000000", "--yes"])
            .ok();
        assert_eq!(
            db.history(),
            ["20240101000000:main:applied"],
            "{:?}",
            db.kind
        );
    }
}

#[test]
fn a_comment_only_up_is_a_no_op_and_an_untouched_template_is_refused_by_check_and_up() {
    let db = TestDb::sqlite();
    let s = db.dir.path().join("m");
    std::fs::create_dir_all(&s).unwrap();
    let s = s.to_str().unwrap();
    std::fs::write(
        format!("{s}/0001_noop.up.sql"),
        "-- nothing to do on this engine\n",
    )
    .unwrap();
    std::fs::write(format!("{s}/0001_noop.down.sql"), "-- nothing to undo\n").unwrap();
    let check = db.migrate(&["--source", s, "check"]).ok();
    assert!(
        check.stdout.contains("empty-stage") && check.stdout.contains("no-op"),
        "{}",
        check.all()
    );
    db.migrate(&["--source", s, "up"]).ok();
    assert_eq!(db.history(), ["1:main:applied"]);
    db.migrate(&["--source", s, "new", "add users"]).ok();
    let check = db.migrate(&["--source", s, "check"]).code(1);
    assert!(
        check.stdout.contains("template not filled in"),
        "{}",
        check.all()
    );
    let up = db.migrate(&["--source", s, "up"]).code(1);
    assert!(up.stderr.contains("template not filled in"), "{}", up.all());
    let up = db
        .migrate(&["--source", s, "up", "--no-check", "--reason", "try"])
        .code(1);
    assert!(up.stderr.contains("template not filled in"), "{}", up.all());
    assert_eq!(db.history(), ["1:main:applied"]);
}

#[test]
fn a_metadata_toml_no_transaction_down_reverts_from_the_stored_copy() {
    let Some(db) = TestDb::server(Kind::Postgres) else {
        return;
    };
    let s = db.dir.path().join("m");
    let write = |path: &str, text: &str| {
        let p = s.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "2024-01-01-000000_t/up.sql",
        "CREATE TABLE t (id INT PRIMARY KEY, a INT);\n",
    );
    write(
        "2024-01-01-000000_t/down.sql",
        "-- migrate:allow lossy-down: a fixture\nDROP TABLE t;\n",
    );
    write(
        "2024-01-02-000000-0000_index_a/up.sql",
        "CREATE INDEX CONCURRENTLY t_a ON t (a);\n",
    );
    write(
        "2024-01-02-000000-0000_index_a/down.sql",
        "DROP INDEX CONCURRENTLY t_a;\n",
    );
    write(
        "2024-01-02-000000-0000_index_a/metadata.toml",
        "run_in_transaction = false\n",
    );
    let s = s.to_str().unwrap();
    db.migrate(&["--source", s, "up"]).ok();
    // The revert runs from the stored down, outside a transaction, as the
    // file says through metadata.toml; errors would name the file's lines.
    let run = db.migrate(&["--source", s, "down", "--yes"]).ok();
    assert!(run.stdout.contains("reverted 1 stage"), "{}", run.all());
    assert_eq!(db.history(), ["20240101000000:main:applied"]);
    // And from a checkout that lacks the file.
    db.migrate(&["--source", s, "up"]).ok();
    std::fs::remove_dir_all(format!("{s}/2024-01-02-000000-0000_index_a")).unwrap();
    db.migrate(&["--source", s, "down", "--yes"]).ok();
    assert_eq!(db.history(), ["20240101000000:main:applied"]);
}

#[test]
fn a_baseline_accepts_existing_findings_and_fails_new_and_changed_ones() {
    let db = TestDb::sqlite();
    let dir = db.dir.path().join("m");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 1..=100 {
        std::fs::write(
            dir.join(format!("{i:04}_t{i}.up.sql")),
            format!("CREATE TABLE t{i} (id INT PRIMARY KEY);\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{i:04}_t{i}.down.sql")),
            format!("DROP TABLE t{i};\n"),
        )
        .unwrap();
    }
    let s = dir.to_str().unwrap();
    let check = db.migrate(&["--source", s, "check"]).code(1);
    assert!(check.stdout.contains("100 errors"), "{}", check.all());
    db.migrate(&["--source", s, "up"]).code(1);
    // An empty reason is bad input.
    db.migrate(&["--source", s, "baseline", "--reason", " "])
        .code(2);
    let run = db
        .migrate(&[
            "--source",
            s,
            "baseline",
            "--reason",
            "adopted; these downs were always lossy",
        ])
        .ok();
    assert!(
        run.stdout.contains("accepted 100 findings"),
        "{}",
        run.all()
    );
    let text = std::fs::read_to_string(dir.join("migrate-baseline.toml")).unwrap();
    assert_eq!(text.matches("[[accepted]]").count(), 100);
    let check = db.migrate(&["--source", s, "check"]).ok();
    assert!(
        check.stdout.contains("accepted (baseline)"),
        "{}",
        check.all()
    );
    // Plans and reports say what the baseline accepted: never silently.
    let plan = db.migrate(&["--source", s, "up", "--dry-run"]).ok();
    assert!(
        plan.all()
            .contains("0001_t1 (main): checker findings accepted (baseline): lossy-down"),
        "{}",
        plan.all()
    );
    db.migrate(&["--source", s, "up"]).ok();
    assert_eq!(db.history().len(), 100);
    db.migrate(&["--source", s, "down", "--steps", "2", "--yes"])
        .ok();
    db.migrate(&["--source", s, "up"]).ok();
    // A new finding fails check and up.
    std::fs::write(
        dir.join("0101_t101.up.sql"),
        "CREATE TABLE t101 (id INT PRIMARY KEY);\n",
    )
    .unwrap();
    std::fs::write(dir.join("0101_t101.down.sql"), "DROP TABLE t101;\n").unwrap();
    let check = db.migrate(&["--source", s, "check"]).code(1);
    assert!(
        check.stdout.contains("1 error") && check.stdout.contains("0101_t101.down.sql"),
        "{}",
        check.all()
    );
    db.migrate(&["--source", s, "up"]).code(1);
    std::fs::remove_file(dir.join("0101_t101.up.sql")).unwrap();
    std::fs::remove_file(dir.join("0101_t101.down.sql")).unwrap();
    // A baselined finding whose statement changed fails again, and says so;
    // the baseline entry it had is reported as no longer found.
    std::fs::write(dir.join("0050_t50.down.sql"), "DROP TABLE t50 CASCADE;\n").unwrap();
    let check = db
        .migrate(&["--source", s, "check", "--format", "json"])
        .code(1);
    let report: Value = serde_json::from_str(&check.stdout).unwrap();
    let errors: Vec<&Value> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert!(
        errors
            .iter()
            .any(|d| d["file"].as_str().unwrap().ends_with("0050_t50.down.sql")),
        "{report}"
    );
    assert!(report.to_string().contains("has changed since"), "{report}");
    // Re-indenting or commenting a statement changes nothing.
    std::fs::write(
        dir.join("0050_t50.down.sql"),
        "-- the old table goes\nDROP   TABLE\n  t50;\n",
    )
    .unwrap();
    db.migrate(&["--source", s, "check"]).ok();
}
