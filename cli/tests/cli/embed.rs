//! The embedding API: many instances starting at once, the start-up policy,
//! and a failed start that must not wedge the next one.

use std::sync::Arc;

use migrate::{Migrator, StartupPolicy, UnknownApplied};

use crate::support::{Kind, TestDb, copy_dir, fixture, root};

fn example_binary() -> std::path::PathBuf {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_migrate"));
    let path = bin.parent().unwrap().join("examples").join("startup");
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds examples",
        path.display()
    );
    path
}

fn example_dir(kind: Kind) -> std::path::PathBuf {
    root().join("migrations-example").join(match kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgres",
        Kind::Mysql => "mysql",
    })
}

#[test]
fn ten_tasks_and_eight_processes_start_at_once() {
    for db in TestDb::all() {
        // Ten tasks in one process.
        let migrator = Arc::new(Migrator::from_dir(example_dir(db.kind)).unwrap());
        let url = db.url.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        let applied: usize = rt.block_on(async {
            let tasks: Vec<_> = (0..10)
                .map(|_| {
                    let m = migrator.clone();
                    let url = url.clone();
                    tokio::spawn(async move { m.run(&url).await })
                })
                .collect();
            let mut total = 0;
            for t in tasks {
                total += t
                    .await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("{:?}: {e}", db.kind))
                    .applied
                    .len();
            }
            total
        });
        assert_eq!(
            applied, 9,
            "{:?}: every stage but the contract, exactly once",
            db.kind
        );
        assert_eq!(db.history().len(), 9);

        // Eight processes of the example application, on a fresh database.
        let fresh = match db.kind {
            Kind::Sqlite => TestDb::sqlite(),
            k => TestDb::server(k).unwrap(),
        };
        let children: Vec<_> = (0..8)
            .map(|_| {
                std::process::Command::new(example_binary())
                    .args([fresh.url.as_str(), example_dir(db.kind).to_str().unwrap()])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut applied_now = 0;
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{:?}: {}",
                db.kind,
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            let n: usize = stdout
                .strip_prefix("database ready: ")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected output: {stdout}"));
            applied_now += n;
        }
        assert_eq!(
            applied_now, 9,
            "{:?}: each stage applied by exactly one process",
            db.kind
        );
        assert_eq!(fresh.history().len(), 9);
    }
}

#[test]
fn a_failed_start_releases_the_lock() {
    for db in TestDb::all() {
        let dir = db.dir.path().join("m");
        copy_dir(&fixture("runner/failing"), &dir);
        let rt = crate::support::rt();
        let m = Migrator::from_dir(&dir)
            .unwrap()
            .lock_wait(std::time::Duration::from_secs(5));
        let err = rt.block_on(m.run(&db.url)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("0002_second (main) failed"), "{text}");
        assert!(
            text.contains("completed before the failure (1): 0001_first (main)"),
            "{text}"
        );
        if db.kind == Kind::Mysql {
            // MySQL keeps the failed row: the next start must say so, not hang.
            db.execute("DROP TABLE second");
            db.migrate(&[
                "--source",
                dir.to_str().unwrap(),
                "resolve",
                "2",
                "--as",
                "reverted",
                "--reason",
                "test",
            ])
            .ok();
        }
        std::fs::write(
            dir.join("0002_second.up.sql"),
            "CREATE TABLE second (id INTEGER PRIMARY KEY);\n",
        )
        .unwrap();
        let m = Migrator::from_dir(&dir)
            .unwrap()
            .lock_wait(std::time::Duration::from_secs(5));
        let report = rt
            .block_on(m.run(&db.url))
            .unwrap_or_else(|e| panic!("{:?}: the next start must proceed: {e}", db.kind));
        assert_eq!(report.applied.len(), 1);
    }
}

#[test]
fn check_only_and_unknown_versions() {
    let db = TestDb::sqlite();
    let rt = crate::support::rt();
    let m = Migrator::from_dir(example_dir(Kind::Sqlite))
        .unwrap()
        .policy(StartupPolicy::CheckOnly);
    let err = rt.block_on(m.run(&db.url)).unwrap_err().to_string();
    assert!(
        err.contains("check-only") && err.contains("0001_create_users (main)"),
        "{err}"
    );
    assert!(
        db.migrate(&[
            "--source",
            example_dir(Kind::Sqlite).to_str().unwrap(),
            "up"
        ])
        .code
            == 0
    );
    rt.block_on(m.run(&db.url)).unwrap();

    // An older build that lacks the newest migration.
    let old = db.dir.path().join("old");
    copy_dir(&example_dir(Kind::Sqlite), &old);
    std::fs::remove_file(old.join("0009_add_orders_currency.up.sql")).unwrap();
    std::fs::remove_file(old.join("0009_add_orders_currency.down.sql")).unwrap();
    let report = rt
        .block_on(Migrator::from_dir(&old).unwrap().run(&db.url))
        .unwrap();
    assert_eq!(report.unknown_applied.len(), 1);
    let err = rt
        .block_on(
            Migrator::from_dir(&old)
                .unwrap()
                .unknown_applied(UnknownApplied::Error)
                .run(&db.url),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not know: 9 (main)"), "{err}");
    // pending() takes no lock and reports the contract the policy leaves.
    let pending = rt
        .block_on(
            Migrator::from_dir(example_dir(Kind::Sqlite))
                .unwrap()
                .pending(&db.url),
        )
        .unwrap();
    assert!(pending.is_empty(), "{pending:?}");
}

/// Counts applied stages through the application's own pool.
async fn applied_through<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> i64
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    for<'a> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query_scalar::<DB, i64>("SELECT COUNT(*) FROM _migrate_applied")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

#[test]
fn runs_on_the_applications_sqlx_pool() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // An in-memory SQLite pool: migrate joins the pool's shared
        // database, and ten tasks of one process take turns on it.
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(4)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let migrator = Arc::new(Migrator::from_dir(example_dir(Kind::Sqlite)).unwrap());
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (m, pool) = (migrator.clone(), pool.clone());
                tokio::spawn(async move { m.run(&pool).await.map(|r| r.applied.len()) })
            })
            .collect();
        let mut applied = 0;
        for t in tasks {
            applied += t.await.unwrap().unwrap();
        }
        assert_eq!(applied, 9, "each stage exactly once");
        assert_eq!(applied_through(&pool).await, 9);
        assert!(migrator.pending(&pool).await.unwrap().len() == 1);
    });

    // A SQLite file, given as connect options.
    let db = TestDb::sqlite();
    let options: sqlx::sqlite::SqliteConnectOptions = db.url.parse().unwrap();
    let migrator = Migrator::from_dir(example_dir(Kind::Sqlite)).unwrap();
    rt.block_on(migrator.run(&options.create_if_missing(true)))
        .unwrap();
    assert_eq!(db.history().len(), 9);

    // PostgreSQL and MariaDB pools.
    for kind in [Kind::Postgres, Kind::Mysql] {
        let Some(db) = TestDb::server(kind) else {
            continue;
        };
        let m = Migrator::from_dir(example_dir(kind)).unwrap();
        rt.block_on(async {
            if kind == Kind::Postgres {
                let pool = sqlx::postgres::PgPool::connect(&db.url).await.unwrap();
                assert_eq!(m.run(&pool).await.unwrap().applied.len(), 9);
                assert_eq!(applied_through(&pool).await, 9);
                assert_eq!(m.run(&pool).await.unwrap().applied.len(), 0);
                pool.close().await;
            } else {
                let pool = sqlx::mysql::MySqlPool::connect(&db.url).await.unwrap();
                assert_eq!(m.run(&pool).await.unwrap().applied.len(), 9);
                assert_eq!(applied_through(&pool).await, 9);
                assert_eq!(m.run(&pool).await.unwrap().applied.len(), 0);
                pool.close().await;
            }
        });
        assert_eq!(db.history().len(), 9, "{kind:?}");
    }
}

#[test]
fn pending_reports_a_stage_another_instance_is_applying() {
    for db in TestDb::all() {
        let (src, mut child) = db.start_slow_up();
        let migrator = Migrator::from_dir(&src).unwrap();
        let rt = crate::support::rt();
        let mut seen_running = false;
        while child.try_wait().unwrap().is_none() {
            // A readiness probe during another instance's migration: never an error.
            let pending = rt
                .block_on(migrator.pending(&db.url))
                .unwrap_or_else(|e| panic!("{:?}: pending failed mid-migration: {e}", db.kind));
            if let [p] = pending.as_slice() {
                seen_running |= p.running;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(child.wait().unwrap().success());
        assert!(seen_running, "{:?}: never saw the stage running", db.kind);
        assert!(rt.block_on(migrator.pending(&db.url)).unwrap().is_empty());
        // A failed row nobody is working on (what a crash leaves): refused.
        db.execute("UPDATE _migrate_applied SET state = 'failed'");
        let err = rt.block_on(migrator.pending(&db.url)).unwrap_err();
        assert!(err.to_string().contains("migrate resolve 1:main"), "{err}");
    }
}

#[test]
fn a_migrator_refuses_what_check_config_makes_an_error_and_nothing_else() {
    let db = TestDb::sqlite();
    let rt = crate::support::rt();
    let dir = db.write_migrations(&[
        ("0001_t.up.sql", "CREATE TABLE t (id INT PRIMARY KEY);\n"),
        ("0001_t.down.sql", "DROP TABLE t;\n"),
    ]);
    let err = rt
        .block_on(Migrator::from_dir(&dir).unwrap().run(&db.url))
        .unwrap_err()
        .to_string();
    assert!(err.contains("lossy-down"), "{err}");
    let config = migrate::check::config::CheckConfig::from_migrate_toml(
        "[check.rules]\nlossy-down = \"off\"\n",
    )
    .unwrap()
    .unwrap();
    let m = Migrator::from_dir(&dir)
        .unwrap()
        .check_config(&config)
        .unwrap();
    rt.block_on(m.run(&db.url)).unwrap();
    assert_eq!(db.history(), ["1:main:applied"]);
}
