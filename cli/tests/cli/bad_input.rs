//! Bad input: a clear message naming the problem, the right exit code, and a
//! database left byte for byte as it was.

use std::path::Path;

use crate::support::{TestDb, copy_dir, fixture, migrate_in};

struct Case {
    name: &'static str,
    /// Arguments after `--database-url URL`; `{src}` is a copy of runner/basic.
    args: Vec<String>,
    /// Prepares the copy of the source (and the work directory).
    setup: fn(&Path, &Path),
    code: i32,
    says: &'static str,
}

fn none(_: &Path, _: &Path) {}

fn case(
    name: &'static str,
    args: &[&str],
    setup: fn(&Path, &Path),
    code: i32,
    says: &'static str,
) -> Case {
    Case {
        name,
        args: args.iter().map(|a| a.to_string()).collect(),
        setup,
        code,
        says,
    }
}

#[test]
fn bad_input_is_refused_clearly_and_changes_nothing() {
    let mut cases = vec![];
    for (bad, says) in [
        ("no_version", "has no version"),
        ("duplicate_version", "is also used by"),
        ("down_without_up", "this down has no up"),
        ("staged_without_expand", "needs expand.up.sql"),
        ("single_without_up", "-- migrate:up"),
        ("not_utf8", "not UTF-8"),
        ("version_too_large", "too large"),
        ("unknown_file_in_dir", "unknown file"),
        ("unknown_directive", "unknown directive"),
    ] {
        for cmd in ["up", "down", "status", "check"] {
            let mut args = vec![
                "--source".to_string(),
                fixture(&format!("bad/{bad}")).display().to_string(),
                cmd.to_string(),
            ];
            if cmd == "down" {
                args.push("--yes".into());
            }
            cases.push(Case {
                name: bad,
                args,
                setup: none,
                code: 2,
                says,
            });
        }
    }
    cases.extend([
        case(
            "untouched template",
            &["--source", "{src}", "up"],
            |s, _| {
                std::fs::write(
                    s.join("0006_empty.up.sql"),
                    "-- empty: what this migration changes, and why.\n",
                )
                .unwrap()
            },
            1,
            "template not filled in",
        ),
        case(
            "symlink loop",
            &["--source", "{src}", "up"],
            |s, _| {
                std::os::unix::fs::symlink(s.join("0007_loop.sql"), s.join("0007_loop.sql"))
                    .unwrap()
            },
            2,
            "0007_loop.sql",
        ),
        case(
            "source is a file",
            &["--source", "{src}/0001_create_accounts.up.sql", "up"],
            none,
            2,
            "not a directory",
        ),
        case(
            "source missing",
            &["--source", "{src}/nope", "up"],
            none,
            2,
            "does not exist",
        ),
        case(
            "config is a directory",
            &["--config", "{src}", "--source", "{src}", "up"],
            none,
            2,
            "cannot read settings file",
        ),
        case(
            "bad migrate.toml",
            &["--source", "{src}", "up"],
            |_, w| std::fs::write(w.join("migrate.toml"), "lock-wait = \"soon\"\n").unwrap(),
            2,
            "is not a duration",
        ),
        case(
            "unknown key in migrate.toml",
            &["--source", "{src}", "up"],
            |_, w| std::fs::write(w.join("migrate.toml"), "sorce = \"m\"\n").unwrap(),
            2,
            "sorce",
        ),
        case(
            "unknown checkpoint",
            &["--source", "{src}", "down", "--to", "release-9", "--yes"],
            none,
            2,
            "unknown checkpoint `release-9`",
        ),
        case(
            "invalid checkpoint name",
            &["--source", "{src}", "checkpoint", "create", "a b"],
            none,
            2,
            "may hold only",
        ),
        case(
            "unknown version",
            &["--source", "{src}", "up", "--to", "77"],
            none,
            2,
            "no migration has version 77",
        ),
        case(
            "unknown stage",
            &[
                "--source", "{src}", "resolve", "1:middle", "--as", "applied", "--reason", "x",
            ],
            none,
            2,
            "unknown stage `middle`",
        ),
        case(
            "resolve without reason",
            &["--source", "{src}", "resolve", "1", "--as", "applied"],
            none,
            2,
            "--reason",
        ),
        case(
            "zero steps",
            &["--source", "{src}", "down", "--steps", "0", "--yes"],
            none,
            2,
            "steps",
        ),
        case(
            "steps and to",
            &[
                "--source", "{src}", "down", "--steps", "1", "--to", "0", "--yes",
            ],
            none,
            2,
            "cannot be used with",
        ),
        case(
            "no-check without reason",
            &["--source", "{src}", "up", "--no-check"],
            none,
            2,
            "--reason",
        ),
        case(
            "sarif outside check",
            &["--source", "{src}", "status", "--format", "sarif"],
            none,
            2,
            "for `migrate check`",
        ),
        case(
            "unknown rule",
            &["explain", "lossy-dwon"],
            none,
            2,
            "unknown rule",
        ),
        case(
            "down without yes",
            &["--source", "{src}", "down", "--to", "0"],
            none,
            1,
            "pass --yes",
        ),
        case(
            "edited applied migration",
            &["--source", "{src}", "up"],
            |s, _| {
                std::fs::write(
                    s.join("0001_create_accounts.up.sql"),
                    "CREATE TABLE accounts (id BIGINT PRIMARY KEY);\n",
                )
                .unwrap()
            },
            1,
            "changed after it was applied",
        ),
        case(
            "read-only database",
            &["--source", "{src}", "up"],
            |s, _| {
                std::fs::write(
                    s.join("0006_more.up.sql"),
                    "CREATE TABLE more (id INTEGER PRIMARY KEY);\n",
                )
                .unwrap();
                std::fs::write(
                    s.join("0006_more.down.sql"),
                    "-- migrate:archive\nDROP TABLE more;\n",
                )
                .unwrap();
            },
            1,
            "readonly",
        ),
        case(
            "new with no name",
            &["--source", "{src}", "new", "!!"],
            none,
            2,
            "no letters or digits",
        ),
        case("unknown subcommand", &["frobnicate"], none, 2, "frobnicate"),
    ]);
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for c in cases {
        let db = TestDb::sqlite();
        let src = db.dir.path().join("src");
        copy_dir(&fixture("runner/basic"), &src);
        db.migrate(&["--source", src.to_str().unwrap(), "up", "--to", "2"])
            .ok();
        let work = db.dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        (c.setup)(&src, &work);
        let file = db.url.trim_start_matches("sqlite://").to_string();
        let before = std::fs::read(&file).unwrap();
        let url = if c.name == "read-only database" {
            format!("{}?mode=ro", db.url)
        } else {
            db.url.clone()
        };
        let mut args = vec!["--database-url".to_string(), url];
        args.extend(
            c.args
                .iter()
                .map(|a| a.replace("{src}", src.to_str().unwrap())),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = migrate_in(&work, &args);
        assert_eq!(run.code, c.code, "{}: {}", c.name, run.all());
        assert!(
            run.stderr.contains(c.says),
            "{}: should say `{}`: {}",
            c.name,
            c.says,
            run.stderr
        );
        assert_eq!(
            std::fs::read(&file).unwrap(),
            before,
            "{}: the database changed",
            c.name
        );
    }
}

#[test]
fn passwords_never_appear_in_any_output() {
    let Some(db) = TestDb::server(crate::support::Kind::Postgres) else {
        return;
    };
    // Trust authentication accepts any password, so this URL works and carries a secret.
    let secret = "Sup3rS3cr3tPw";
    let url = db
        .url
        .replacen("postgres@", &format!("postgres:{secret}@"), 1);
    let src = db.dir.path().join("src");
    copy_dir(&fixture("runner/failing"), &src);
    let s = src.to_str().unwrap();
    let mut outputs = Vec::new();
    for args in [
        vec!["up"],
        vec!["up", "--format", "json"],
        vec!["status", "--format", "json"],
        vec!["log", "--format", "json"],
        vec!["down", "--to", "0", "--yes", "-vv"],
        vec!["drill", "--format", "json"],
        vec!["up", "--lock-wait", "1s", "-vv"],
    ] {
        let mut all = vec!["--database-url", url.as_str(), "--source", s];
        all.extend(args);
        outputs.push(migrate_in(db.dir.path(), &all).all());
    }
    let unreachable = url.replace("127.0.0.1:5432", "127.0.0.1:1");
    outputs.push(
        migrate_in(
            db.dir.path(),
            &["--database-url", &unreachable, "--source", s, "up"],
        )
        .all(),
    );
    let bad_port = url.replace("127.0.0.1:5432", "127.0.0.1:99999");
    outputs.push(
        migrate_in(
            db.dir.path(),
            &["--database-url", &bad_port, "--source", s, "status"],
        )
        .all(),
    );
    outputs.extend(db.strings("SELECT coalesce(detail, '') FROM _migrate_events"));
    for out in &outputs {
        assert!(!out.contains(secret), "the password was printed: {out}");
    }
    assert!(
        outputs.iter().any(|o| o.contains("***")),
        "the redacted URL should appear somewhere"
    );
}

#[test]
fn a_password_with_a_percent_sign_and_multibyte_text_is_never_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let s = fixture("runner/basic");
    let run = migrate_in(
        tmp.path(),
        &[
            "--database-url",
            "postgres://app:s3cret%aé@127.0.0.1:1/x",
            "--source",
            s.to_str().unwrap(),
            "status",
        ],
    );
    assert_ne!(run.code, 0);
    assert!(!run.all().contains("crashed"), "{}", run.all());
    assert!(!run.all().contains("s3cret"), "{}", run.all());
    assert!(
        run.stderr.contains("postgres://app:***@127.0.0.1:1/x"),
        "{}",
        run.all()
    );
}

#[test]
fn a_silent_server_is_an_error_within_the_connect_timeout() {
    // Accepts connections (the kernel does, into the backlog) and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tmp = tempfile::tempdir().unwrap();
    let s = fixture("runner/basic");
    for scheme in ["postgres", "mysql"] {
        let url = format!("{scheme}://app:pw@127.0.0.1:{port}/x");
        let started = std::time::Instant::now();
        let run = migrate_in(
            tmp.path(),
            &[
                "--database-url",
                &url,
                "--connect-timeout",
                "1s",
                "--source",
                s.to_str().unwrap(),
                "status",
            ],
        );
        assert_eq!(run.code, 1, "{}", run.all());
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        assert!(
            run.stderr.contains(&format!("127.0.0.1:{port}"))
                && run.stderr.contains("no answer within 1s"),
            "{}",
            run.all()
        );
        assert!(!run.all().contains(":pw@"), "{}", run.all());
    }
    drop(listener);
}

#[test]
fn a_bad_file_is_reported_at_once_even_while_the_server_is_silent() {
    // The migrations load while the connection is being made: a problem in
    // them is still the error, at once, not after the connect timeout; and
    // a SQLite file is not created for a source that does not load.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("m");
    std::fs::create_dir(&m).unwrap();
    std::fs::write(m.join("0001_a.up.sql"), "CREATE TABLE a (x INT);\n").unwrap();
    std::fs::write(m.join("0002_b.down.sql"), "DROP TABLE b;\n").unwrap();
    for url in [
        format!("postgres://app:pw@127.0.0.1:{port}/x"),
        "sqlite://fresh.db".to_string(),
    ] {
        let started = std::time::Instant::now();
        let run = migrate_in(
            tmp.path(),
            &[
                "--database-url",
                &url,
                "--connect-timeout",
                "30s",
                "--source",
                "m",
                "up",
            ],
        )
        .code(2);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "{url}: waited {:?} for the server before reporting the file",
            started.elapsed()
        );
        assert!(
            run.stderr.contains("0002_b.down.sql") && run.stderr.contains("has no up"),
            "{url}: {}",
            run.all()
        );
    }
    assert!(!tmp.path().join("fresh.db").exists());
    drop(listener);
}

#[test]
fn read_only_commands_never_create_a_mistyped_sqlite_file() {
    let tmp = tempfile::tempdir().unwrap();
    let s = fixture("runner/basic");
    for cmd in ["status", "log"] {
        let run = migrate_in(
            tmp.path(),
            &[
                "--database-url",
                "sqlite://typo.db",
                "--source",
                s.to_str().unwrap(),
                cmd,
            ],
        )
        .code(2);
        assert!(
            run.stderr.contains("typo.db does not exist"),
            "{cmd}: {}",
            run.all()
        );
        assert!(
            !tmp.path().join("typo.db").exists(),
            "{cmd} created the file"
        );
    }
}
