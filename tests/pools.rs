//! An application's sqlx pool is used as it was built: migrate connects
//! with the pool's own options, so what no URL can express reaches its
//! connections too.

#![cfg(feature = "sqlite")]

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

#[test]
fn an_in_memory_sqlite_pool_with_a_custom_collation_is_migrated_as_given() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    std::fs::create_dir(&dir).unwrap();
    // A collation is a Rust function registered on each connection: no URL
    // can carry it, and SQLite refuses a column that names one it lacks.
    std::fs::write(
        dir.join("0001_names.up.sql"),
        "CREATE TABLE names (name TEXT COLLATE reverse);\nINSERT INTO names VALUES ('a'), ('c'), ('b');\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("0001_names.down.sql"),
        "-- migrate:allow lossy-down: a test table\nDROP TABLE names;\n",
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .unwrap()
            .collation("reverse", |a: &str, b: &str| b.cmp(a));
        let pool = SqlitePoolOptions::new()
            .min_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        let report = migrate::Migrator::from_dir(&dir)
            .unwrap()
            .run(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.applied.len(), 1);
        // The pool's own in-memory database holds the table, sorted by
        // the pool's collation.
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM names ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(names, ["c", "b", "a"]);
        // A second start-up on the same pool has nothing to do.
        let again = migrate::Migrator::from_dir(&dir)
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        assert!(again.applied.is_empty());
    });
}
