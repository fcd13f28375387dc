//! Loading every layout, `list`, and the load errors.

use crate::support::{fixture, migrate_in, root};

fn list_json(dir: &std::path::Path) -> serde_json::Value {
    let run = migrate_in(
        &root(),
        &[
            "--source",
            dir.to_str().unwrap(),
            "list",
            "--format",
            "json",
        ],
    )
    .ok();
    serde_json::from_str(&run.stdout).unwrap()
}

fn versions(v: &serde_json::Value) -> Vec<i64> {
    v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .collect()
}

#[test]
fn example_list_is_pinned() {
    let run = migrate_in(
        &root(),
        &[
            "--source",
            "migrations-example/sqlite",
            "list",
            "--format",
            "json",
        ],
    )
    .ok();
    insta::assert_snapshot!("example_list_json", run.stdout);
}

#[test]
fn every_layout_loads() {
    let flat = list_json(&fixture("layouts/flat"));
    assert_eq!(versions(&flat), vec![1, 2]);
    assert_eq!(
        flat["migrations"][1]["stages"][0]["down_state"],
        "irreversible"
    );
    assert_eq!(
        flat["migrations"][1]["stages"][0]["irreversible_reason"],
        "b was never used"
    );

    let dir = list_json(&fixture("layouts/dir"));
    assert_eq!(versions(&dir), vec![20190226002946, 20190301101010]);
    assert_eq!(dir["migrations"][0]["version_text"], "2019-02-26-002946");
    assert_eq!(dir["migrations"][0]["layout"], "dir");
    assert_eq!(dir["migrations"][1]["stages"][0]["down_state"], "missing");

    let single = list_json(&fixture("layouts/single"));
    assert_eq!(single["migrations"][0]["layout"], "single");
    // dbmate's transaction:false is understood as no-transaction.
    assert_eq!(
        single["migrations"][1]["stages"][0]["up"]["directives"][0]["directive"],
        "no-transaction"
    );
    // Section line numbers are the file's.
    let down = &single["migrations"][0]["stages"][0]["down"];
    assert_eq!(down["line_offset"], 4);

    let staged = list_json(&fixture("layouts/staged"));
    let stages: Vec<&str> = staged["migrations"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, vec!["expand", "contract"]);
    assert_eq!(
        staged["migrations"][0]["stages"][1]["up"]["directives"][0]["directive"],
        "archive"
    );
}

#[test]
fn mixed_directory_loads_in_numeric_order() {
    let mixed = list_json(&fixture("layouts/mixed"));
    assert_eq!(versions(&mixed), vec![2, 3, 4, 10]);
    let layouts: Vec<&str> = mixed["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["layout"].as_str().unwrap())
        .collect();
    assert_eq!(layouts, vec!["dir", "single", "staged", "flat"]);
}

#[test]
fn load_errors_name_the_file_and_exit_2() {
    let cases: &[(&str, &str, &str)] = &[
        ("no_version", "create_users.up.sql", "has no version"),
        ("duplicate_version", "1_b.up.sql", "is also used by"),
        ("down_without_up", "0001_a.down.sql", "this down has no up"),
        ("staged_without_expand", "0001_s", "needs expand.up.sql"),
        ("single_without_up", "0001_a.sql", "-- migrate:up"),
        ("not_utf8", "0001_a.up.sql:2", "not UTF-8"),
        (
            "version_too_large",
            "99999999999999999999_a.up.sql",
            "too large",
        ),
        (
            "unknown_file_in_dir",
            "upp.sql",
            "unknown file in a migration directory",
        ),
        (
            "unknown_directive",
            "0001_a.up.sql:3",
            "unknown directive `-- migrate:no-transacton`",
        ),
    ];
    for (case, file, message) in cases {
        let dir = fixture(&format!("bad/{case}"));
        let run = migrate_in(&root(), &["--source", dir.to_str().unwrap(), "list"]);
        assert_eq!(run.code, 2, "{case}: {}", run.all());
        assert!(
            run.stderr.contains(file),
            "{case}: error should name {file}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(message),
            "{case}: error should say `{message}`: {}",
            run.stderr
        );
    }
}

#[test]
fn missing_source_directory_says_what_to_do() {
    let run = migrate_in(&root(), &["--source", "no/such/dir", "list"]).code(2);
    assert!(
        run.stderr.contains("no/such/dir") && run.stderr.contains("does not exist"),
        "{}",
        run.stderr
    );
}

#[test]
fn crlf_and_bom_give_one_checksum() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, text) in [
        (
            "0001_lf.up.sql",
            "CREATE TABLE a (id INT);\nDROP TABLE b;\n",
        ),
        (
            "0002_crlf.up.sql",
            "CREATE TABLE a (id INT);\r\nDROP TABLE b;\r\n",
        ),
        (
            "0003_bom.up.sql",
            "\u{feff}CREATE TABLE a (id INT);\r\nDROP TABLE b;\n",
        ),
    ] {
        std::fs::write(tmp.path().join(name), text).unwrap();
    }
    let v = list_json(tmp.path());
    let sums: Vec<&str> = v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["stages"][0]["up"]["checksum"].as_str().unwrap())
        .collect();
    assert!(sums[0].starts_with("sha256-v1:"));
    assert_eq!(sums[0], sums[1]);
    assert_eq!(sums[0], sums[2]);
}

#[test]
fn global_options_work_before_and_after_the_subcommand() {
    let dir = fixture("layouts/flat");
    let d = dir.to_str().unwrap();
    let before = migrate_in(&root(), &["--source", d, "--format", "json", "list"]).ok();
    let after = migrate_in(&root(), &["list", "--source", d, "--format", "json"]).ok();
    assert_eq!(before.stdout, after.stdout);
}

#[test]
fn settings_come_from_migrate_toml_and_flags_win() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("migrate.toml"),
        format!("source = \"{}\"\n", fixture("layouts/flat").display()),
    )
    .unwrap();
    let run = migrate_in(tmp.path(), &["list", "--format", "json"]).ok();
    assert!(run.stdout.contains("0001_create_a"));
    let run = migrate_in(
        tmp.path(),
        &[
            "list",
            "--format",
            "json",
            "--source",
            fixture("layouts/single").to_str().unwrap(),
        ],
    )
    .ok();
    assert!(run.stdout.contains("create_t") && !run.stdout.contains("create_a"));
    std::fs::write(tmp.path().join("migrate.toml"), "sorce = \"x\"\n").unwrap();
    let run = migrate_in(tmp.path(), &["list"]).code(2);
    assert!(
        run.stderr.contains("migrate.toml") && run.stderr.contains("sorce"),
        "{}",
        run.stderr
    );
}

#[test]
fn help_shows_examples_and_completions_print() {
    let run = migrate_in(&root(), &["--help"]).ok();
    assert!(run.stdout.contains("Examples:"));
    let run = migrate_in(&root(), &["up", "--help"]).ok();
    assert!(run.stdout.contains("Examples:"));
    let run = migrate_in(&root(), &["completions", "bash"]).ok();
    assert!(run.stdout.contains("_migrate"));
    migrate_in(&root(), &["frobnicate"]).code(2);
}

#[test]
fn aliases_people_type_and_a_closed_pipe_are_quiet() {
    for (alias, says) in [
        ("revert", "Revert applied stages"),
        ("rollback", "Revert applied stages"),
        ("create", "Create a new migration"),
        ("add", "Create a new migration"),
        ("info", "Show every migration and stage"),
    ] {
        let run = migrate_in(&root(), &[alias, "--help"]).ok();
        assert!(run.stdout.contains(says), "{alias}: {}", run.stdout);
    }
    // `migrate completions bash | head -1`: no panic on the closed pipe.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("crashed"),
        "{stderr}"
    );
    assert!(out.status.success(), "{stderr}");
}

#[test]
fn every_failure_under_format_json_is_one_json_document_on_stdout() {
    // A directory that does not load.
    let run = migrate_in(
        &root(),
        &["--source", "no/such/dir", "--format", "json", "check"],
    )
    .code(2);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(v["exit_code"], 2);
    assert!(
        v["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{v}"
    );
    // A connection that fails.
    let tmp = tempfile::tempdir().unwrap();
    let run = migrate_in(
        tmp.path(),
        &[
            "--database-url",
            "sqlite://missing.db",
            "--source",
            fixture("runner/basic").to_str().unwrap(),
            "--format",
            "json",
            "status",
        ],
    )
    .code(2);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert!(
        v["error"].as_str().unwrap().contains("does not exist") && v["exit_code"] == 2,
        "{v}"
    );
}

#[test]
fn verbose_logs_into_a_pipe_have_no_colour_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let s = fixture("runner/basic");
    let run = migrate_in(
        tmp.path(),
        &[
            "-vv",
            "--database-url",
            "sqlite://v.db",
            "--source",
            s.to_str().unwrap(),
            "up",
        ],
    )
    .ok();
    assert!(run.stderr.contains("stage done"), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
}
