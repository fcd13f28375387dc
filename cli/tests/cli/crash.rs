//! Crash injection: the runner killed with SIGKILL at many points of `up`
//! and `down --to`. After every kill the history agrees with the schema, no
//! lock is left, and the next run completes (or, on MySQL, names the failed
//! stage and the way out).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::{Kind, TestDb};

const N: usize = 20;

fn tables(db: &TestDb) -> BTreeSet<i64> {
    let sql = match db.kind {
        Kind::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'crash%'"
        }
        Kind::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE 'crash%'"
        }
        Kind::Mysql => {
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'crash%'"
        }
    };
    db.strings(sql)
        .iter()
        .filter_map(|t| t.trim_start_matches("crash").parse().ok())
        .collect()
}

fn history(db: &TestDb) -> (BTreeSet<i64>, BTreeSet<i64>) {
    let (mut applied, mut failed) = (BTreeSet::new(), BTreeSet::new());
    let exists = match db.kind {
        Kind::Sqlite => !db.strings("SELECT name FROM sqlite_master WHERE name = '_migrate_applied'").is_empty(),
        Kind::Postgres => !db.strings("SELECT table_name::text FROM information_schema.tables WHERE table_name = '_migrate_applied' AND table_schema = 'public'").is_empty(),
        Kind::Mysql => !db.strings("SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '_migrate_applied'").is_empty(),
    };
    if !exists {
        return (applied, failed);
    }
    for row in db.history() {
        let mut parts = row.split(':');
        let v: i64 = parts.next().unwrap().parse().unwrap();
        if row.ends_with(":failed") {
            failed.insert(v);
        } else {
            applied.insert(v);
        }
    }
    (applied, failed)
}

#[test]
fn sigkill_at_many_points_loses_nothing() {
    for db in TestDb::all() {
        let src = db.dir.path().join("crash");
        std::fs::create_dir_all(&src).unwrap();
        for i in 1..=N {
            std::fs::write(
                src.join(format!("{i:04}_crash{i}.up.sql")),
                format!("CREATE TABLE crash{i} (id INTEGER PRIMARY KEY);\n"),
            )
            .unwrap();
            std::fs::write(
                src.join(format!("{i:04}_crash{i}.down.sql")),
                format!("-- migrate:archive\nDROP TABLE crash{i};\n"),
            )
            .unwrap();
        }
        let s = src.to_str().unwrap().to_string();
        let mut kills = 0;
        // The application's data: one row per table, written once, the first
        // time the table exists. Archives must carry it through every revert.
        let mut written = BTreeSet::new();
        // Bounded: stop once 60 kills landed mid-run, or after 200 rounds.
        for round in 0..200u64 {
            if kills >= 60 {
                break;
            }
            let args: Vec<&str> = if round % 3 == 2 {
                vec!["down", "--to", "0", "--yes", "--lock-wait", "10s"]
            } else {
                vec!["up", "--lock-wait", "10s"]
            };
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_migrate"))
                .args([
                    "--database-url",
                    db.url.as_str(),
                    "--source",
                    s.as_str(),
                    "-q",
                ])
                .args(&args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            // SQLite runs 20 migrations in a few milliseconds: kill it sooner.
            let wait = match db.kind {
                Kind::Sqlite => Duration::from_micros(300 + (round * 977) % 12_000),
                Kind::Mysql => Duration::from_millis(2 + (round * 7) % 45),
                Kind::Postgres => Duration::from_millis(5 + (round * 17) % 90),
            };
            std::thread::sleep(wait);
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
            }
            child.wait().unwrap();
            if db.kind == Kind::Mysql {
                // The server finishes a killed client's last statement before
                // it notices the disconnect and frees its lock: read the
                // history once that statement has landed, as the next run,
                // which waits for the lock, would.
                // The lock lives on a connection of its own: the killed
                // run's other connection may still be finishing its last
                // statement after the lock is freed, so wait for both.
                let free = "SELECT CASE WHEN IS_USED_LOCK(CONCAT('migrate:', DATABASE(), ':_migrate_')) IS NULL \
                            AND (SELECT COUNT(*) FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()) = 0 \
                            THEN 'free' ELSE 'busy' END";
                let started = std::time::Instant::now();
                while db.strings(free) != ["free"] {
                    assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "the lock outlived its process"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let (applied, failed) = history(&db);
            let present = tables(&db);
            if db.kind == Kind::Mysql {
                // DDL commits on its own there: a killed stage is visible as failed.
                for v in &failed {
                    let run = db.migrate(&["--source", &s, "up"]);
                    assert!(
                        run.code == 1 && run.stderr.contains(&format!("migrate resolve {v}:main")),
                        "{}",
                        run.all()
                    );
                    // Each stage makes one table: the table is what the
                    // database really holds, whichever way the stage was
                    // going when it was killed (a down killed before its
                    // DROP left the table, and the stage, applied).
                    let r#as = if present.contains(v) {
                        "applied"
                    } else {
                        "reverted"
                    };
                    db.migrate(&[
                        "--source",
                        &s,
                        "resolve",
                        &v.to_string(),
                        "--as",
                        r#as,
                        "--reason",
                        "crash test",
                    ])
                    .ok();
                }
                let (applied, failed) = history(&db);
                assert!(failed.is_empty());
                assert_eq!(
                    applied,
                    tables(&db),
                    "MySQL round {round}: history and schema disagree after resolving"
                );
            } else {
                assert!(failed.is_empty(), "{:?} round {round}: {failed:?}", db.kind);
                assert_eq!(
                    applied, present,
                    "{:?} round {round}: history and schema disagree",
                    db.kind
                );
                for v in &present {
                    let rows = db.strings(&format!("SELECT 'x' FROM crash{v}")).len();
                    if written.insert(*v) {
                        db.execute(&format!("INSERT INTO crash{v} (id) VALUES ({v})"));
                    } else {
                        assert_eq!(
                            rows, 1,
                            "{:?} round {round}: crash{v} lost the row written before a revert",
                            db.kind
                        );
                    }
                }
            }
        }
        // No lock is left behind, and a plain run completes.
        let run = db
            .migrate(&["--source", &s, "up", "--lock-wait", "5s"])
            .ok();
        let _ = run;
        assert_eq!(history(&db).0.len(), N);
        // Archived rows survived every interrupted revert: each table still has its row.
        if db.kind != Kind::Mysql {
            for v in &written {
                assert_eq!(
                    db.strings(&format!("SELECT 'x' FROM crash{v}")).len(),
                    1,
                    "{:?}: crash{v} lost its row",
                    db.kind
                );
            }
        }
        assert!(
            kills >= 50,
            "{:?}: only {kills} kills landed mid-run",
            db.kind
        );
        eprintln!("{:?}: {kills} kill points survived", db.kind);
    }
}
