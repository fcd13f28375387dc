//! The library's errors as an application embedding it meets them: one
//! variant per condition it can act on, each with the driver's error behind
//! it reachable through `source()`. SQLite only (no server needed), except
//! the connection failure, which needs no server either.

#![cfg(all(feature = "sqlite", feature = "postgres"))]

use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use migrate::error::BlockerKind;
use migrate::{Error, Migrator, StartupPolicy, UnknownApplied};

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// A directory with one pair, and a SQLite URL in the same temp dir.
fn project() -> (tempfile::TempDir, PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    std::fs::create_dir(&dir).unwrap();
    write(
        &dir,
        "0001_users.up.sql",
        "CREATE TABLE users (id INTEGER PRIMARY KEY);\n",
    );
    write(
        &dir,
        "0001_users.down.sql",
        "-- migrate:allow lossy-down: a test table\nDROP TABLE users;\n",
    );
    let url = format!("sqlite://{}", tmp.path().join("app.db").display());
    (tmp, dir, url)
}

/// A second pair, 0002_posts.
fn add_posts(dir: &Path) {
    write(
        dir,
        "0002_posts.up.sql",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY);\n",
    );
    write(
        dir,
        "0002_posts.down.sql",
        "-- migrate:allow lossy-down: a test table\nDROP TABLE posts;\n",
    );
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn an_unreachable_server_is_connect_with_the_drivers_error_as_source() {
    let (_tmp, dir, _) = project();
    let m = Migrator::from_dir(&dir).unwrap();
    // Port 1: nothing listens there, the connection is refused at once.
    let err = rt()
        .block_on(m.run("postgres://app:s3cret@127.0.0.1:1/app"))
        .unwrap_err();
    match &err {
        Error::Connect { url, bad_url, .. } => {
            assert!(!url.contains("s3cret"), "{url}");
            assert!(!bad_url);
        }
        other => panic!("expected Connect, got {other:?}"),
    }
    assert!(!err.to_string().contains("s3cret"), "{err}");
    assert!(!err.is_input());
    let source = err.source().expect("a source");
    assert!(
        source.downcast_ref::<sqlx::Error>().is_some(),
        "the source is not sqlx's error: {source:?}"
    );
}

#[test]
fn a_failing_statement_is_stage_failed_with_the_databases_error_as_source() {
    let (_tmp, dir, url) = project();
    write(
        &dir,
        "0002_bad.up.sql",
        "INSERT INTO missing_table VALUES (1);\n",
    );
    write(&dir, "0002_bad.down.sql", "SELECT 1;\n");
    let m = Migrator::from_dir(&dir).unwrap();
    let err = rt().block_on(m.run(url.as_str())).unwrap_err();
    let Error::StageFailed(failure) = &err else {
        panic!("expected StageFailed, got {err:?}");
    };
    assert_eq!(failure.version, 2);
    assert!(failure.rolled_back);
    assert_eq!(failure.completed.len(), 1, "0001 was applied before it");
    let sqlx_error = err
        .source()
        .and_then(|s| s.downcast_ref::<sqlx::Error>())
        .expect("the source chain reaches sqlx's error");
    assert!(
        matches!(sqlx_error, sqlx::Error::Database(d) if d.message().contains("missing_table")),
        "{sqlx_error:?}"
    );
}

#[test]
fn a_check_only_start_with_stages_to_apply_is_pending_with_the_stages() {
    let (_tmp, dir, url) = project();
    add_posts(&dir);
    let m = Migrator::from_dir(&dir)
        .unwrap()
        .policy(StartupPolicy::CheckOnly);
    let err = rt().block_on(m.run(url.as_str())).unwrap_err();
    let Error::Pending { stages } = &err else {
        panic!("expected Pending, got {err:?}");
    };
    let names: Vec<&str> = stages.iter().map(|s| s.migration.as_str()).collect();
    assert_eq!(names, ["0001_users", "0002_posts"]);
    assert!(
        !err.is_input(),
        "a pending stage is a refusal, not bad input"
    );
    // Once applied, the same check-only start passes.
    rt().block_on(Migrator::from_dir(&dir).unwrap().run(url.as_str()))
        .unwrap();
    rt().block_on(m.run(url.as_str())).unwrap();
}

#[test]
fn an_edited_applied_migration_is_refused_with_a_drift_blocker() {
    let (_tmp, dir, url) = project();
    rt().block_on(Migrator::from_dir(&dir).unwrap().run(url.as_str()))
        .unwrap();
    write(
        &dir,
        "0001_users.up.sql",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n",
    );
    let err = rt()
        .block_on(Migrator::from_dir(&dir).unwrap().run(url.as_str()))
        .unwrap_err();
    let Error::Refused { blockers } = &err else {
        panic!("expected Refused, got {err:?}");
    };
    assert_eq!(blockers.len(), 1, "{blockers:?}");
    assert_eq!(blockers[0].kind, BlockerKind::Drift);
    assert_eq!(blockers[0].version, Some(1));
    assert!(
        blockers[0].message.contains("0001_users.up.sql"),
        "{}",
        blockers[0]
    );
}

#[test]
fn stages_this_build_does_not_know_are_unknown_applied_when_refused() {
    let (_tmp, dir, url) = project();
    add_posts(&dir);
    rt().block_on(Migrator::from_dir(&dir).unwrap().run(url.as_str()))
        .unwrap();
    // An older build, without 0002.
    std::fs::remove_file(dir.join("0002_posts.up.sql")).unwrap();
    std::fs::remove_file(dir.join("0002_posts.down.sql")).unwrap();
    let older = Migrator::from_dir(&dir).unwrap();
    rt().block_on(older.run(url.as_str())).unwrap();
    let strict = older.unknown_applied(UnknownApplied::Error);
    let err = rt().block_on(strict.run(url.as_str())).unwrap_err();
    let Error::UnknownApplied { stages } = &err else {
        panic!("expected UnknownApplied, got {err:?}");
    };
    assert_eq!(stages.len(), 1);
    assert_eq!(stages[0].0, 2);
}

#[test]
fn a_lock_held_longer_than_the_wait_is_locked() {
    let (_tmp, dir, url) = project();
    let rt = rt();
    rt.block_on(async {
        let mut holder = migrate::driver::Driver::connect(&url, &Default::default())
            .await
            .unwrap();
        holder.lock(Duration::ZERO).await.unwrap();
        let m = Migrator::from_dir(&dir)
            .unwrap()
            .lock_wait(Duration::from_millis(200));
        let err = m.run(url.as_str()).await.unwrap_err();
        assert!(
            matches!(err, Error::Locked { .. }),
            "expected Locked, got {err:?}"
        );
        assert!(!err.is_input());
        holder.unlock().await;
        m.run(url.as_str()).await.unwrap();
    });
}

#[test]
fn a_malformed_file_is_load_naming_the_file() {
    let (_tmp, dir, _) = project();
    write(&dir, "0002 posts.up.sql", "SELECT 1;\n");
    let err = Migrator::from_dir(&dir).unwrap_err();
    let Error::Load(load) = &err else {
        panic!("expected Load, got {err:?}");
    };
    assert_eq!(load.problems.len(), 1, "{load}");
    assert!(load.to_string().contains("0002 posts.up.sql"), "{load}");
    assert!(err.is_input());
}
