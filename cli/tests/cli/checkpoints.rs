//! Expand/contract at run time, checkpoints, `down --to`, confirmation, `--verify`.

use crate::support::TestDb;

#[test]
fn staged_lifecycle_keeps_the_old_application_working() {
    for db in TestDb::all() {
        let s = db.source_copy("basic");
        db.migrate(&["--source", &s, "up", "--to", "4"]).ok();
        let original = db.schema();
        db.execute("INSERT INTO accounts (id, email, name) VALUES (1, 'ada@example.com', 'Ada')");

        // Contract before expand is refused.
        let run = db.migrate(&["--source", &s, "contract"]).code(1);
        assert!(
            run.stderr.contains("cannot run before its expand stage"),
            "{}",
            run.stderr
        );

        db.migrate(&["--source", &s, "expand"]).ok();
        let status = db.migrate(&["--source", &s, "status"]).ok();
        assert!(
            status.stdout.contains("expand: applied  contract: pending"),
            "{}",
            status.stdout
        );
        // The previous application's queries still work.
        db.execute("INSERT INTO accounts (id, email, name) VALUES (2, 'alan@example.com', 'Alan')");
        assert_eq!(
            db.strings("SELECT name FROM accounts ORDER BY id"),
            vec!["Ada", "Alan"]
        );

        db.migrate(&["--source", &s, "contract"]).ok();
        db.migrate(&["--source", &s, "down", "--yes"]).ok(); // contract
        db.migrate(&["--source", &s, "down", "--yes"]).ok(); // expand
        assert_eq!(db.schema(), original, "{:?}", db.kind);
        assert_eq!(
            db.strings("SELECT name FROM accounts ORDER BY id"),
            vec!["Ada", "Alan"]
        );
    }
}

#[test]
fn checkpoint_round_trip_and_previous() {
    for db in TestDb::all() {
        let s = db.source_copy("basic");
        db.migrate(&["--source", &s, "up", "--to", "2"]).ok();
        db.migrate(&[
            "--source",
            &s,
            "checkpoint",
            "create",
            "v1",
            "--note",
            "before notes",
        ])
        .ok();
        db.migrate(&["--source", &s, "up"]).ok();
        assert_eq!(db.history().len(), 6);
        let run = db
            .migrate(&["--source", &s, "down", "--to", "v1", "--yes"])
            .ok();
        assert!(run.stdout.contains("reverted 4 stages"), "{}", run.stdout);
        assert_eq!(db.history(), vec!["1:main:applied", "2:main:applied"]);

        // @previous undoes exactly the last up run.
        db.migrate(&["--source", &s, "up", "--to", "3"]).ok();
        db.migrate(&["--source", &s, "up"]).ok();
        db.migrate(&["--source", &s, "down", "--to", "@previous", "--yes"])
            .ok();
        assert_eq!(
            db.history(),
            vec!["1:main:applied", "2:main:applied", "3:main:applied"]
        );

        let list = db
            .migrate(&["--source", &s, "checkpoint", "list", "--format", "json"])
            .ok();
        let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
        assert_eq!(v["checkpoints"][0]["name"], "v1");
        assert_eq!(v["checkpoints"][0]["note"], "before notes");
        assert_eq!(v["declared"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn down_to_a_checkpoint_from_an_older_checkout() {
    for db in TestDb::all() {
        let s = db.source_copy("basic");
        db.migrate(&["--source", &s, "up", "--to", "1"]).ok();
        db.migrate(&["--source", &s, "checkpoint", "create", "release-1"])
            .ok();
        db.migrate(&["--source", &s, "up"]).ok();
        let dir = std::path::Path::new(&s);
        std::fs::remove_dir_all(dir.join("0005_rename_name")).unwrap();
        std::fs::remove_file(dir.join("0004_create_tags.sql")).unwrap();
        std::fs::remove_file(dir.join("checkpoints.toml")).unwrap();
        db.migrate(&["--source", &s, "down", "--to", "release-1", "--yes"])
            .ok();
        assert_eq!(db.history(), vec!["1:main:applied"], "{:?}", db.kind);
    }
}

#[test]
fn declared_checkpoints_work_on_a_fresh_database() {
    let db = TestDb::sqlite();
    let s = db.source_copy("basic");
    db.migrate(&["--source", &s, "up", "--to", "before-contract"])
        .ok();
    assert_eq!(db.history().last().unwrap(), "5:expand:applied");
    assert_eq!(db.history().len(), 5);
    db.migrate(&["--source", &s, "down", "--to", "accounts-ready", "--yes"])
        .ok();
    assert_eq!(db.history().len(), 2);
}

#[test]
fn every_blocker_is_listed_and_nothing_runs() {
    for db in TestDb::all() {
        let s = db.source_copy("blocked");
        let run = db.migrate(&["--source", &s, "up"]).code(1);
        assert!(
            run.stderr.contains("[lossy-down]"),
            "the checker guards the way up: {}",
            run.stderr
        );
        db.migrate(&["--source", &s, "up", "--no-check", "--reason", "fixture"])
            .ok();
        let (schema, history) = (db.schema(), db.history());
        let run = db
            .migrate(&["--source", &s, "down", "--to", "0", "--yes"])
            .code(1);
        assert!(
            run.stderr
                .contains("0002_b (main) is declared irreversible: b feeds the billing export"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("0003_c (main): checker error [lossy-down]"),
            "{}",
            run.stderr
        );
        assert_eq!(
            (db.schema(), db.history()),
            (schema, history),
            "{:?}: nothing may run",
            db.kind
        );
        let dry = db
            .migrate(&["--source", &s, "down", "--to", "0", "--dry-run"])
            .code(1);
        assert!(
            dry.stderr.contains("declared irreversible"),
            "{}",
            dry.stderr
        );
    }
}

#[test]
fn down_without_terminal_needs_yes() {
    let db = TestDb::sqlite();
    let s = db.source_copy("basic");
    db.migrate(&["--source", &s, "up"]).ok();
    let history = db.history();
    let run = db.migrate(&["--source", &s, "down", "--to", "0"]).code(1);
    assert!(
        run.stderr.contains("pass --yes") && run.stderr.contains("Nothing was changed"),
        "{}",
        run.stderr
    );
    assert_eq!(db.history(), history);
}

#[test]
fn verify_reverts_a_bad_release_and_keeps_a_good_one() {
    for db in TestDb::all() {
        let s = db.source_copy("basic");
        db.migrate(&["--source", &s, "up", "--to", "2"]).ok();
        let run = db
            .migrate(&["--source", &s, "up", "--verify", "exit 3"])
            .code(1);
        assert!(
            run.stderr
                .contains("verification `exit 3` failed (exit code 3)"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("reverted the 4 stage(s) this run applied"),
            "{}",
            run.stderr
        );
        assert_eq!(db.history().len(), 2, "{:?}", db.kind);
        // A failed verification records no checkpoint: the fixed re-deploy
        // under the same name goes through.
        db.migrate(&[
            "--source",
            &s,
            "up",
            "--verify",
            "exit 4",
            "--checkpoint",
            "release-2",
        ])
        .code(1);
        let list = db.migrate(&["--source", &s, "checkpoint", "list"]).ok();
        assert!(!list.stdout.contains("release-2"), "{}", list.stdout);
        let run = db
            .migrate(&[
                "--source",
                &s,
                "up",
                "--verify",
                "true",
                "--checkpoint",
                "release-2",
            ])
            .ok();
        assert!(
            run.stdout.contains("verification passed: `true`")
                && run
                    .stdout
                    .contains("checkpoint `release-2` names this state"),
            "{}",
            run.all()
        );
        assert_eq!(db.history().len(), 6);
        // Nothing to apply and a failing check: nothing to revert either.
        let run = db
            .migrate(&["--source", &s, "up", "--verify", "exit 5"])
            .code(1);
        assert!(
            run.stderr
                .contains("this run applied nothing, so nothing was reverted"),
            "{}",
            run.all()
        );
        assert_eq!(db.history().len(), 6);
        // Re-running the same deploy: its checkpoint already names this state.
        db.migrate(&["--source", &s, "up", "--checkpoint", "release-2"])
            .ok();
        let log = db.migrate(&["--source", &s, "log"]).ok();
        assert!(log.stdout.contains("verify   failed"), "{}", log.stdout);
        assert!(log.stdout.contains("verify   ok"), "{}", log.stdout);
        assert!(log.stdout.contains("release-2"), "{}", log.stdout);
        db.migrate(&["--source", &s, "down", "--to", "release-2", "--yes"])
            .ok();
    }
}

#[test]
fn checkpoint_name_errors_are_bad_input() {
    let db = TestDb::sqlite();
    let s = db.source_copy("basic");
    db.migrate(&["--source", &s, "up", "--to", "1"]).ok();
    let run = db
        .migrate(&["--source", &s, "down", "--to", "nope", "--yes"])
        .code(2);
    assert!(
        run.stderr.contains("unknown checkpoint `nope`"),
        "{}",
        run.stderr
    );
    let run = db
        .migrate(&["--source", &s, "checkpoint", "create", "bad name"])
        .code(2);
    assert!(run.stderr.contains("may hold only"), "{}", run.stderr);
    let run = db
        .migrate(&["--source", &s, "checkpoint", "create", "2024"])
        .code(2);
    assert!(run.stderr.contains("all digits"), "{}", run.stderr);
    db.migrate(&["--source", &s, "checkpoint", "create", "v1"])
        .ok();
    let run = db
        .migrate(&["--source", &s, "checkpoint", "create", "v1"])
        .code(2);
    assert!(run.stderr.contains("exists already"), "{}", run.stderr);
    db.migrate(&["--source", &s, "checkpoint", "create", "v1", "--replace"])
        .ok();
    let run = db
        .migrate(&["--source", &s, "checkpoint", "delete", "v2"])
        .code(2);
    assert!(
        run.stderr.contains("unknown checkpoint `v2`"),
        "{}",
        run.stderr
    );
    db.migrate(&["--source", &s, "checkpoint", "delete", "v1"])
        .ok();
    let run = db
        .migrate(&["--source", &s, "up", "--to", "@previous"])
        .code(2);
    assert!(run.stderr.contains("target for `down`"), "{}", run.stderr);
}

#[test]
fn down_on_a_terminal_shows_the_plan_and_asks() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "skipped: `script` (util-linux) is not installed, so no terminal can be simulated"
        );
        return;
    }
    let db = TestDb::sqlite();
    let s = db.source_copy("basic");
    db.migrate(&["--source", &s, "up"]).ok();
    let history = db.history();
    let answer = |reply: &str| {
        use std::io::Write;
        let cmd = format!(
            "{} --database-url {} --source {} down --to 0",
            env!("CARGO_BIN_EXE_migrate"),
            db.url,
            s
        );
        let mut child = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(reply.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = answer("n\n");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("this reverts 6 stage(s)")
            && out.contains("revert? [y/N]")
            && out.contains("nothing was changed"),
        "{out}"
    );
    assert_eq!(db.history(), history);
    let (code, out) = answer("y\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(db.history().is_empty());
}

#[test]
fn resolve_refuses_states_that_cannot_exist() {
    let db = TestDb::sqlite();
    let s = db.source_copy("basic");
    db.migrate(&["--source", &s, "up", "--to", "4"]).ok();
    // A healthy stage with a down is `down`'s work, unless undone by hand.
    let run = db
        .migrate(&[
            "--source", &s, "resolve", "1", "--as", "reverted", "--reason", "x",
        ])
        .code(2);
    assert!(run.stderr.contains("migrate down"), "{}", run.all());
    assert_eq!(db.history().len(), 4);
    // A contract cannot be applied before its expand.
    let run = db
        .migrate(&[
            "--source",
            &s,
            "resolve",
            "5:contract",
            "--as",
            "applied",
            "--reason",
            "x",
        ])
        .code(2);
    assert!(
        run.stderr.contains("resolve the expand first"),
        "{}",
        run.all()
    );
    db.migrate(&["--source", &s, "up"]).ok();
    // An expand cannot be reverted under its applied contract.
    let run = db
        .migrate(&[
            "--source", &s, "resolve", "5:expand", "--as", "reverted", "--reason", "x",
        ])
        .code(2);
    assert!(
        run.stderr.contains("resolve the contract first"),
        "{}",
        run.all()
    );
    assert_eq!(db.history().len(), 6);
    // Said plainly, with --force: recorded.
    db.migrate(&[
        "--source",
        &s,
        "resolve",
        "5:contract",
        "--as",
        "reverted",
        "--reason",
        "undone by hand",
        "--force",
    ])
    .ok();
    assert_eq!(db.history().len(), 5);
}
