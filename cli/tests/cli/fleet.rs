//! `--targets`: one command over many databases.

use std::path::Path;

use crate::support::*;

const V1_UP: &str = "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50));\nINSERT INTO items (id, name) VALUES (1, 'kept');\n";
const V1_DOWN: &str = "-- migrate:archive\nDROP TABLE items;\n";
const V2_UP: &str = "-- migrate:archive\nALTER TABLE items DROP COLUMN name;\n";
const V2_DOWN: &str = "ALTER TABLE items ADD COLUMN name VARCHAR(50);\n";
const V3_UP: &str = "CREATE TABLE tags (id INTEGER PRIMARY KEY);\n";
const V3_DOWN: &str = "-- migrate:archive\nDROP TABLE tags;\n";

fn write(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

fn first_migration(dir: &Path) {
    write(
        dir,
        &[
            ("0001_items.up.sql", V1_UP),
            ("0001_items.down.sql", V1_DOWN),
        ],
    );
}

fn later_migrations(dir: &Path) {
    write(
        dir,
        &[
            ("0002_drop_name.up.sql", V2_UP),
            ("0002_drop_name.down.sql", V2_DOWN),
            ("0003_tags.up.sql", V3_UP),
            ("0003_tags.down.sql", V3_DOWN),
        ],
    );
}

/// `count` SQLite targets `t001`... in `dir`: the targets file's text.
fn sqlite_targets(dir: &Path, count: usize) -> String {
    (1..=count)
        .map(|i| {
            format!(
                "t{i:03} sqlite://{}\n",
                dir.join(format!("t{i:03}.db")).display()
            )
        })
        .collect()
}

fn fleet(cwd: &Path, args: &[&str]) -> Run {
    migrate_in(cwd, args)
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.all()))
}

fn sqlite_at(path: &Path, sql: &str) -> Vec<String> {
    TestDb::sqlite_file(path).strings(sql)
}

#[test]
fn a_mixed_fleet_goes_to_r1_and_back_with_its_archived_data() {
    let work = tempfile::tempdir().unwrap();
    let m = work.path().join("m");
    first_migration(&m);
    let mut targets = sqlite_targets(work.path(), 200);
    let pg_dbs: Vec<TestDb> = (0..20)
        .filter_map(|_| TestDb::server(Kind::Postgres))
        .collect();
    let pg_schemas = TestDb::server(Kind::Postgres);
    let my_dbs: Vec<TestDb> = (0..10)
        .filter_map(|_| TestDb::server(Kind::Mysql))
        .collect();
    for (i, db) in pg_dbs.iter().enumerate() {
        targets.push_str(&format!("pg{i} {}\n", db.url));
    }
    if let Some(db) = &pg_schemas {
        let sep = if db.url.contains('?') { '&' } else { '?' };
        for i in 0..20 {
            targets.push_str(&format!("schema{i} {}{sep}schema=tenant_{i}\n", db.url));
        }
    }
    for (i, db) in my_dbs.iter().enumerate() {
        targets.push_str(&format!("my{i} {}\n", db.url));
    }
    let n = targets.lines().count();
    let file = work.path().join("targets.txt");
    std::fs::write(&file, &targets).unwrap();
    let base = [
        "--source",
        m.to_str().unwrap(),
        "--targets",
        file.to_str().unwrap(),
        "--parallel",
        "8",
        "--format",
        "json",
    ];
    let with =
        |more: &[&str]| -> Vec<String> { base.iter().chain(more).map(|s| s.to_string()).collect() };
    let run = |more: &[&str]| {
        let args = with(more);
        fleet(
            work.path(),
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };

    let r1 = json(&run(&["up", "--checkpoint", "r1"]).ok());
    assert_eq!(r1["targets"].as_array().unwrap().len(), n);
    for t in r1["targets"].as_array().unwrap() {
        assert_eq!(t["outcome"], "done", "{t}");
        assert_eq!(t["state"], "0001", "{t}");
        assert_eq!(t["checkpoints"], serde_json::json!(["r1"]), "{t}");
    }

    later_migrations(&m);
    let r2 = json(&run(&["up", "--checkpoint", "r2"]).ok());
    for t in r2["targets"].as_array().unwrap() {
        assert_eq!(t["outcome"], "done", "{t}");
        assert_eq!(t["steps_run"], 2, "{t}");
        assert_eq!(t["state"], "0003", "{t}");
    }
    // One shared plan for the whole fleet, in the plan phase's report.
    assert_eq!(r2["plans"].as_array().unwrap().len(), 1, "{r2}");
    assert_eq!(r2["plans"][0]["targets"], n);
    // The name column is gone everywhere (archived).
    assert!(
        sqlite_at(
            &work.path().join("t007.db"),
            "SELECT name FROM pragma_table_info('items')"
        ) == ["id"]
    );

    // Without --yes and without a terminal: refused, nothing changed.
    let refused = run(&["down", "--to", "r1"]).code(1);
    assert!(
        refused.stderr.contains("without confirmation"),
        "{}",
        refused.all()
    );
    assert_eq!(
        sqlite_at(
            &work.path().join("t001.db"),
            "SELECT name FROM pragma_table_info('items')"
        ),
        ["id"]
    );

    let back = json(&run(&["down", "--to", "r1", "--yes"]).ok());
    for t in back["targets"].as_array().unwrap() {
        assert_eq!(t["outcome"], "done", "{t}");
        assert_eq!(t["state"], "0001", "{t}");
        assert_eq!(t["checkpoints"], serde_json::json!(["r1"]), "{t}");
    }
    // Every target's archived data is back.
    for i in [1, 100, 200] {
        assert_eq!(
            sqlite_at(
                &work.path().join(format!("t{i:03}.db")),
                "SELECT name FROM items"
            ),
            ["kept"]
        );
    }
    for db in pg_dbs.iter().chain(&my_dbs) {
        assert_eq!(db.strings("SELECT name FROM items"), ["kept"]);
        assert_eq!(db.history(), ["1:main:applied"]);
    }
    if let Some(db) = &pg_schemas {
        for i in 0..20 {
            assert_eq!(
                db.strings(&format!("SELECT name FROM tenant_{i}.items")),
                ["kept"]
            );
            assert_eq!(
                db.strings(&format!(
                    "SELECT CAST(version AS TEXT) || ':' || state FROM tenant_{i}._migrate_applied"
                )),
                ["1:applied"]
            );
        }
        // Nothing landed in the database's own schema.
        assert!(
            db.strings("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'")
                .is_empty()
        );
    }

    // Status over the fleet, human: grouped by state.
    let args = [
        "--source",
        m.to_str().unwrap(),
        "--targets",
        file.to_str().unwrap(),
        "status",
    ];
    let status = fleet(work.path(), &args).ok();
    assert!(
        status.stdout.contains(&format!("{n:>6}  at 0001 (r1)")),
        "{}",
        status.all()
    );
}

#[test]
fn a_canary_failure_touches_nothing_past_the_canaries_and_a_rerun_finishes_the_fleet() {
    let work = tempfile::tempdir().unwrap();
    let m = work.path().join("m");
    first_migration(&m);
    let file = work.path().join("targets.txt");
    std::fs::write(&file, sqlite_targets(work.path(), 50)).unwrap();
    let args = |more: &[&str]| -> Vec<String> {
        let mut all = vec![
            "--source".to_string(),
            m.to_str().unwrap().into(),
            "--targets".into(),
            file.to_str().unwrap().into(),
        ];
        all.extend(more.iter().map(|s| s.to_string()));
        all
    };
    let go = |more: &[&str]| {
        let a = args(more);
        fleet(
            work.path(),
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    go(&["up"]).ok();
    // 0002 adds a unique index: t003 and t030 hold duplicates.
    write(
        &m,
        &[
            (
                "0002_unique.up.sql",
                "CREATE UNIQUE INDEX items_name ON items (name);\n",
            ),
            ("0002_unique.down.sql", "DROP INDEX items_name;\n"),
        ],
    );
    for bad in ["t003", "t030"] {
        TestDb::sqlite_file(&work.path().join(format!("{bad}.db")))
            .execute("INSERT INTO items (id, name) VALUES (2, 'kept')");
    }
    let applied = |i: usize| {
        sqlite_at(
            &work.path().join(format!("t{i:03}.db")),
            "SELECT CAST(version AS TEXT) FROM _migrate_applied ORDER BY seq",
        )
    };

    let canaried = go(&["--canary", "5", "up"]).code(1);
    assert!(canaried.stdout.contains("t003"), "{}", canaried.all());
    assert!(
        canaried
            .stdout
            .contains("1 of 5 canary target(s) failed: no other target was touched"),
        "{}",
        canaried.all()
    );
    assert!(canaried.stdout.contains("UNIQUE"), "{}", canaried.all());
    for i in 6..=50 {
        assert_eq!(applied(i), ["1"], "t{i:03} was touched");
    }

    // t003 fixed; without canaries, the run stops launching at t030's
    // failure.
    TestDb::sqlite_file(&work.path().join("t003.db")).execute("DELETE FROM items WHERE id = 2");
    let stopped = go(&["--parallel", "2", "--format", "json", "up"]).code(1);
    let report = json(&stopped);
    let outcome = |name: &str| {
        report["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["outcome"]
            .clone()
    };
    assert_eq!(outcome("t030"), "failed");
    assert_eq!(outcome("t003"), "done");
    assert_eq!(outcome("t050"), "not-reached", "{report}");
    assert!(
        report["stopped"]
            .as_str()
            .unwrap()
            .contains("no further target"),
        "{report}"
    );
    assert_eq!(applied(50), ["1"]);

    // Fixed, the same command finishes the fleet; nothing is applied twice.
    TestDb::sqlite_file(&work.path().join("t030.db")).execute("DELETE FROM items WHERE id = 2");
    go(&["up"]).ok();
    for i in 1..=50 {
        assert_eq!(applied(i), ["1", "2"], "t{i:03}");
    }
    let again = go(&["up"]).ok();
    assert!(
        again.stdout.contains("up-to-date       50  at 0002"),
        "{}",
        again.all()
    );
}

#[test]
fn a_down_blocked_on_three_targets_changes_none_and_lists_their_blockers() {
    let work = tempfile::tempdir().unwrap();
    let m = work.path().join("m");
    first_migration(&m);
    later_migrations(&m);
    let file = work.path().join("targets.txt");
    std::fs::write(&file, sqlite_targets(work.path(), 10)).unwrap();
    let src = m.to_str().unwrap();
    let targets = file.to_str().unwrap();
    fleet(work.path(), &["--source", src, "--targets", targets, "up"]).ok();
    // Three targets drift: their applied 0003 is not what the file says.
    for bad in ["t002", "t005", "t009"] {
        TestDb::sqlite_file(&work.path().join(format!("{bad}.db")))
            .execute("UPDATE _migrate_applied SET up_checksum = 'edited' WHERE version = 3");
    }
    let before: Vec<Vec<String>> = (1..=10)
        .map(|i| {
            sqlite_at(
                &work.path().join(format!("t{i:03}.db")),
                "SELECT CAST(version AS TEXT) FROM _migrate_applied ORDER BY seq",
            )
        })
        .collect();
    let run = fleet(
        work.path(),
        &[
            "--source",
            src,
            "--targets",
            targets,
            "down",
            "--to",
            "0",
            "--yes",
        ],
    )
    .code(1);
    for bad in ["t002", "t005", "t009"] {
        assert!(run.stdout.contains(bad), "{}", run.all());
    }
    assert!(run.stdout.contains("blocked           3"), "{}", run.all());
    assert!(
        run.stderr
            .contains("3 of 10 target(s) cannot run their plan: nothing was changed"),
        "{}",
        run.all()
    );
    let after: Vec<Vec<String>> = (1..=10)
        .map(|i| {
            sqlite_at(
                &work.path().join(format!("t{i:03}.db")),
                "SELECT CAST(version AS TEXT) FROM _migrate_applied ORDER BY seq",
            )
        })
        .collect();
    assert_eq!(before, after);
    // JSON names each blocker's kind.
    let json_run = fleet(
        work.path(),
        &[
            "--source",
            src,
            "--targets",
            targets,
            "--format",
            "json",
            "down",
            "--to",
            "0",
            "--yes",
        ],
    )
    .code(1);
    let report = json(&json_run);
    let blocked: Vec<_> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["outcome"] == "blocked")
        .collect();
    assert_eq!(blocked.len(), 3);
    assert_eq!(blocked[0]["blockers"][0]["kind"], "drift", "{}", blocked[0]);
}

#[test]
fn a_killed_fleet_run_rerun_applies_every_stage_exactly_once() {
    let work = tempfile::tempdir().unwrap();
    let m = work.path().join("m");
    first_migration(&m);
    later_migrations(&m);
    let file = work.path().join("targets.txt");
    std::fs::write(&file, sqlite_targets(work.path(), 60)).unwrap();
    let args = [
        "--source",
        m.to_str().unwrap(),
        "--targets",
        file.to_str().unwrap(),
        "--parallel",
        "2",
        "up",
    ];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(args)
        .current_dir(work.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    fleet(work.path(), &args).ok();
    for i in 1..=60 {
        let db = work.path().join(format!("t{i:03}.db"));
        assert_eq!(
            sqlite_at(
                &db,
                "SELECT CAST(version AS TEXT) || ':' || state FROM _migrate_applied ORDER BY seq"
            ),
            ["1:applied", "2:applied", "3:applied"],
            "t{i:03}"
        );
        assert_eq!(
            sqlite_at(&db, "SELECT CAST(count(*) AS TEXT) FROM items"),
            ["1"]
        );
    }
}

#[test]
fn bad_targets_and_single_database_commands_are_usage_errors() {
    let work = tempfile::tempdir().unwrap();
    let m = work.path().join("m");
    first_migration(&m);
    let file = work.path().join("targets.txt");
    std::fs::write(
        &file,
        "a sqlite://a.db\nb postgres://app:s3cret@localhost/x extra\n",
    )
    .unwrap();
    let src = m.to_str().unwrap();
    let targets = file.to_str().unwrap();
    let run = fleet(work.path(), &["--source", src, "--targets", targets, "up"]).code(2);
    assert!(
        run.stderr.contains("targets.txt:2: expected `NAME URL`"),
        "{}",
        run.all()
    );
    assert!(!run.all().contains("s3cret"), "{}", run.all());
    assert!(!work.path().join("a.db").exists());

    std::fs::write(&file, "a sqlite://a.db\n").unwrap();
    for cmd in [&["log"][..], &["checkpoint", "list"], &["redo"]] {
        let args: Vec<&str> = ["--source", src, "--targets", targets]
            .iter()
            .chain(cmd)
            .copied()
            .collect();
        let run = fleet(work.path(), &args).code(2);
        assert!(
            run.stderr.contains(
                "--targets takes up, expand, contract, down, status, check, checkpoint create and drill"
            ),
            "{}",
            run.all()
        );
    }
    for (cmd, says) in [
        (&["check", "--deny-warnings"][..], "lints nothing"),
        (&["drill", "--from", "1"], "leave --from out"),
        (
            &["status", "--exit-code"],
            "--exit-code is for one database",
        ),
    ] {
        let args: Vec<&str> = ["--source", src, "--targets", targets]
            .iter()
            .chain(cmd)
            .copied()
            .collect();
        let run = fleet(work.path(), &args).code(2);
        assert!(run.stderr.contains(says), "{}", run.all());
    }
    let run = fleet(work.path(), &["--source", src, "--canary", "2", "up"]).code(2);
    assert!(run.stderr.contains("--targets"), "{}", run.all());
    let missing = work.path().join("nope.txt");
    let run = fleet(
        work.path(),
        &[
            "--source",
            src,
            "--targets",
            missing.to_str().unwrap(),
            "status",
        ],
    )
    .code(2);
    assert!(
        run.stderr.contains("cannot read the targets file"),
        "{}",
        run.all()
    );
    // A target that cannot be reached blocks the plan: nothing runs anywhere.
    std::fs::write(
        &file,
        "a sqlite://a.db\nb postgres://app:s3cret@127.0.0.1:1/x\n",
    )
    .unwrap();
    let run = fleet(work.path(), &["--source", src, "--targets", targets, "up"]).code(1);
    assert!(run.stdout.contains("blocked"), "{}", run.all());
    assert!(!run.all().contains("s3cret"), "{}", run.all());
    assert!(
        !work.path().join("a.db").exists()
            || sqlite_at(
                &work.path().join("a.db"),
                "SELECT name FROM sqlite_master WHERE name = 'items'"
            )
            .is_empty()
    );
}

#[test]
fn checkpoint_create_over_a_fleet_is_all_or_nothing() {
    let work = tempfile::tempdir().unwrap();
    let m = work.path().join("m");
    first_migration(&m);
    let mut targets = sqlite_targets(work.path(), 6);
    let pg = TestDb::server(Kind::Postgres);
    if let Some(db) = &pg {
        targets.push_str(&format!("pg {}\n", db.url));
    }
    let file = work.path().join("targets.txt");
    std::fs::write(&file, &targets).unwrap();
    let src = m.to_str().unwrap();
    let tf = file.to_str().unwrap();
    fleet(work.path(), &["--source", src, "--targets", tf, "up"]).ok();
    let made = json(
        &fleet(
            work.path(),
            &[
                "--source",
                src,
                "--targets",
                tf,
                "--format",
                "json",
                "checkpoint",
                "create",
                "r1",
                "--note",
                "before 2.5",
            ],
        )
        .ok(),
    );
    for t in made["targets"].as_array().unwrap() {
        assert_eq!(t["outcome"], "done", "{t}");
        assert_eq!(t["checkpoints"], serde_json::json!(["r1"]), "{t}");
    }
    // A new target joins; the name exists on the others, so it is refused
    // everywhere, the new target included.
    let mut more = targets.clone();
    more.push_str(&format!(
        "t007 sqlite://{}\n",
        work.path().join("t007.db").display()
    ));
    std::fs::write(&file, &more).unwrap();
    fleet(
        work.path(),
        &[
            "--source",
            src,
            "--targets",
            tf,
            "up",
            "--to",
            "0",
            "--dry-run",
        ],
    )
    .ok();
    let run = fleet(
        work.path(),
        &[
            "--source",
            src,
            "--targets",
            tf,
            "checkpoint",
            "create",
            "r1",
        ],
    )
    .code(1);
    assert!(run.stdout.contains("exists already"), "{}", run.all());
    assert!(
        run.stderr
            .contains("cannot run their plan: nothing was changed"),
        "{}",
        run.all()
    );
    assert!(
        sqlite_at(
            &work.path().join("t007.db"),
            "SELECT name FROM sqlite_master WHERE name = '_migrate_checkpoints'"
        )
        .is_empty()
            || sqlite_at(
                &work.path().join("t007.db"),
                "SELECT name FROM _migrate_checkpoints WHERE name = 'r1'"
            )
            .is_empty()
    );
    // --replace moves it on every target, the new one included.
    fleet(work.path(), &["--source", src, "--targets", tf, "up"]).ok();
    let moved = json(
        &fleet(
            work.path(),
            &[
                "--source",
                src,
                "--targets",
                tf,
                "--format",
                "json",
                "checkpoint",
                "create",
                "r1",
                "--replace",
            ],
        )
        .ok(),
    );
    assert_eq!(
        moved["targets"].as_array().unwrap().len(),
        more.lines().count()
    );
    for t in moved["targets"].as_array().unwrap() {
        assert_eq!(t["outcome"], "done", "{t}");
        assert_eq!(t["state"], "0001", "{t}");
        assert_eq!(t["checkpoints"], serde_json::json!(["r1"]), "{t}");
    }
}

#[test]
fn check_over_a_fleet_names_the_targets_that_drifted() {
    let work = tempfile::tempdir().unwrap();
    let m = work.path().join("m");
    first_migration(&m);
    let file = work.path().join("targets.txt");
    std::fs::write(&file, sqlite_targets(work.path(), 8)).unwrap();
    let src = m.to_str().unwrap();
    let tf = file.to_str().unwrap();
    fleet(work.path(), &["--source", src, "--targets", tf, "up"]).ok();
    let clean = fleet(work.path(), &["--source", src, "--targets", tf, "check"]).ok();
    assert!(
        clean.stdout.contains("read              8  at 0001"),
        "{}",
        clean.all()
    );
    // Two targets ran an up other than the file's; one holds a migration
    // the files do not have.
    for bad in ["t003", "t006"] {
        TestDb::sqlite_file(&work.path().join(format!("{bad}.db")))
            .execute("UPDATE _migrate_applied SET up_checksum = 'edited' WHERE version = 1");
    }
    later_migrations(&m);
    fleet(
        work.path(),
        &["--source", src, "--targets", tf, "up", "--to", "2"],
    )
    .code(1);
    let only_t008 = work.path().join("one.txt");
    std::fs::write(
        &only_t008,
        format!("t008 sqlite://{}\n", work.path().join("t008.db").display()),
    )
    .unwrap();
    fleet(
        work.path(),
        &[
            "--source",
            src,
            "--targets",
            only_t008.to_str().unwrap(),
            "up",
        ],
    )
    .ok();
    std::fs::remove_file(m.join("0003_tags.up.sql")).unwrap();
    std::fs::remove_file(m.join("0003_tags.down.sql")).unwrap();
    let before = sqlite_at(
        &work.path().join("t003.db"),
        "SELECT up_checksum FROM _migrate_applied ORDER BY seq",
    );
    let run = fleet(work.path(), &["--source", src, "--targets", tf, "check"]).code(1);
    assert!(
        run.stderr
            .contains("3 of 8 target(s) drifted from the migration files"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("t003, t006 (2 targets)")
            && run
                .stdout
                .contains("0001_items (main): its up was edited after it was applied"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("t008")
            && run
                .stdout
                .contains("3_tags: applied, but not in the source directory"),
        "{}",
        run.all()
    );
    let report = json(
        &fleet(
            work.path(),
            &[
                "--source",
                src,
                "--targets",
                tf,
                "--format",
                "json",
                "check",
            ],
        )
        .code(1),
    );
    let drifted: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["outcome"] == "drifted")
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(drifted, ["t003", "t006", "t008"]);
    assert_eq!(report["exit_code"], 1);
    // Read only: nothing was written.
    assert_eq!(
        before,
        sqlite_at(
            &work.path().join("t003.db"),
            "SELECT up_checksum FROM _migrate_applied ORDER BY seq"
        )
    );
}

#[test]
fn drill_over_a_fleet_drills_each_starting_point_once() {
    let work = tempfile::tempdir().unwrap();
    let m = work.path().join("m");
    first_migration(&m);
    let file = work.path().join("targets.txt");
    let mut targets = sqlite_targets(work.path(), 6);
    let pg = TestDb::server(Kind::Postgres);
    if let Some(db) = &pg {
        targets.push_str(&format!("pg {}\n", db.url));
    }
    std::fs::write(&file, &targets).unwrap();
    let src = m.to_str().unwrap();
    let tf = file.to_str().unwrap();
    // t001..t003 at 0001; the rest (and pg) are empty databases: tenants
    // created, not migrated yet.
    for i in 4..=6 {
        std::fs::write(work.path().join(format!("t{i:03}.db")), b"").unwrap();
    }
    let first = work.path().join("first.txt");
    std::fs::write(&first, sqlite_targets(work.path(), 3)).unwrap();
    fleet(
        work.path(),
        &["--source", src, "--targets", first.to_str().unwrap(), "up"],
    )
    .ok();
    later_migrations(&m);
    let scratch = std::env::var("MIGRATE_TEST_POSTGRES_URL").ok();
    let mut args = vec![
        "--source",
        src,
        "--targets",
        tf,
        "--format",
        "json",
        "drill",
    ];
    if let (Some(url), Some(_)) = (&scratch, &pg) {
        args.extend(["--scratch-url", url.as_str()]);
    }
    let report = json(&fleet(work.path(), &args).ok());
    let drills = report["drills"].as_array().unwrap();
    let summary: Vec<(String, String, usize)> = drills
        .iter()
        .map(|d| {
            (
                d["backend"].as_str().unwrap().to_string(),
                d["from"].as_str().unwrap().to_string(),
                d["targets"].as_array().unwrap().len(),
            )
        })
        .collect();
    let mut expected = vec![];
    if pg.is_some() {
        expected.push(("postgres".to_string(), "0001".to_string(), 1));
    }
    expected.push(("sqlite".to_string(), "0001".to_string(), 3));
    expected.push(("sqlite".to_string(), "0002".to_string(), 3));
    assert_eq!(summary, expected, "{report}");
    for d in drills {
        let stages = d["report"]["stages"].as_array().unwrap();
        let from = d["from"].as_str().unwrap();
        assert_eq!(stages.len(), if from == "0001" { 3 } else { 2 }, "{d}");
        assert!(stages.iter().all(|s| s["verdict"] == "ok"), "{d}");
    }
    // The targets were only read.
    assert!(
        sqlite_at(
            &work.path().join("t001.db"),
            "SELECT CAST(version AS TEXT) FROM _migrate_applied"
        ) == ["1"]
    );
    // A down that loses what its up made fails the drill, and the fleet.
    write(
        &m,
        &[(
            "0003_tags.down.sql",
            "DROP TABLE tags;\nCREATE TABLE tags (id INTEGER PRIMARY KEY, extra INTEGER);\n",
        )],
    );
    let run = fleet(work.path(), &["--source", src, "--targets", tf, "drill"]).code(1);
    assert!(run.stdout.contains("sqlite from 0002"), "{}", run.all());
    assert!(
        run.stderr.contains("drill(s) failed or could not run"),
        "{}",
        run.all()
    );
    // PostgreSQL targets without a PostgreSQL scratch server: said, exit 1.
    if pg.is_some() {
        write(&m, &[("0003_tags.down.sql", V3_DOWN)]);
        let run = fleet(work.path(), &["--source", src, "--targets", tf, "drill"]).code(1);
        assert!(
            run.stdout
                .contains("no scratch server for 1 postgres target(s): give a postgres server you can spare with --scratch-url URL"),
            "{}",
            run.all()
        );
    }
}
