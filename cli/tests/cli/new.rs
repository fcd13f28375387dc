//! `migrate new` names and layouts.

use std::fs;

use crate::support::migrate_in;

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn empty_directory_gets_a_utc_timestamp_flat_pair() {
    let tmp = tempfile::tempdir().unwrap();
    migrate_in(tmp.path(), &["new", "Add", "users"]).ok();
    let files = names(&tmp.path().join("migrations"));
    assert_eq!(files.len(), 2, "{files:?}");
    let (version, rest) = files[0].split_once('_').unwrap();
    assert_eq!(version.len(), 14);
    assert!(version.starts_with("20"));
    assert_eq!(rest, "add_users.down.sql");
    assert_eq!(files[1], format!("{version}_add_users.up.sql"));
    // The new pair loads.
    migrate_in(tmp.path(), &["list"]).ok();
}

#[test]
fn sequential_directory_gets_the_next_padded_number() {
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("migrations");
    fs::create_dir(&m).unwrap();
    fs::write(m.join("0001_a.up.sql"), "SELECT 1;").unwrap();
    fs::write(m.join("0002_b.up.sql"), "SELECT 1;").unwrap();
    migrate_in(tmp.path(), &["new", "c"]).ok();
    assert!(
        m.join("0003_c.up.sql").exists() && m.join("0003_c.down.sql").exists(),
        "{:?}",
        names(&m)
    );
}

#[test]
fn diesel_directory_gets_a_dashed_timestamp_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("migrations");
    fs::create_dir_all(m.join("2019-02-26-002946_create_user")).unwrap();
    fs::write(m.join("2019-02-26-002946_create_user/up.sql"), "SELECT 1;").unwrap();
    migrate_in(tmp.path(), &["new", "add_email"]).ok();
    let dirs = names(&m);
    let new = dirs
        .iter()
        .find(|d| d.ends_with("_add_email"))
        .expect("new directory");
    let version = new.trim_end_matches("_add_email");
    assert_eq!(version.len(), 17, "{version}");
    assert_eq!(&version[4..5], "-");
    assert!(m.join(new).join("up.sql").exists() && m.join(new).join("down.sql").exists());
}

#[test]
fn staged_and_single_layouts() {
    let tmp = tempfile::tempdir().unwrap();
    migrate_in(tmp.path(), &["new", "split_name", "--staged"]).ok();
    migrate_in(tmp.path(), &["new", "index_t", "--layout", "single"]).ok();
    let run = migrate_in(tmp.path(), &["list", "--format", "json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["migrations"][0]["layout"], "staged");
    assert_eq!(v["migrations"][0]["stages"].as_array().unwrap().len(), 2);
    assert_eq!(v["migrations"][1]["layout"], "single");
    assert_eq!(v["migrations"][1]["stages"][0]["down_state"], "present");
    migrate_in(tmp.path(), &["new", "x", "--staged", "--layout", "single"]).code(2);
}
