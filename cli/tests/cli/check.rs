//! `migrate check`: output formats, exit codes, settings.

use crate::support::{fixture, migrate_in, root};

fn check(args: &[&str]) -> crate::support::Run {
    let mut all = vec!["--source", "tests/fixtures/check/findings", "check"];
    all.extend_from_slice(args);
    migrate_in(&root(), &all)
}

#[test]
fn human_report_is_pinned() {
    let run = check(&[]).code(1);
    insta::assert_snapshot!("check_human", run.stdout);
}

#[test]
fn json_report_is_pinned_and_exact() {
    let run = check(&["--format", "json"]).code(1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["diagnostics", "errors", "warnings"]);
    let d = v["diagnostics"][0].as_object().unwrap();
    assert_eq!(d.len(), 9);
    // Keys in the documented order.
    let first = &run.stdout[..run.stdout.find('}').unwrap()];
    let at: Vec<usize> = [
        "rule",
        "severity",
        "file",
        "line",
        "column",
        "end_line",
        "end_column",
        "message",
        "help",
    ]
    .iter()
    .map(|k| {
        first
            .find(&format!("\"{k}\":"))
            .unwrap_or_else(|| panic!("{k} missing"))
    })
    .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{first}");
    assert_eq!(v["errors"], 6);
    assert_eq!(v["warnings"], 1);
    insta::assert_snapshot!("check_json", run.stdout);
}

#[test]
fn github_annotations() {
    let run = check(&["--format", "github"]).code(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 7);
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("::error file=") || l.starts_with("::warning file=")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("::error file=tests/fixtures/check/findings/0004_index_nickname.up.sql,line=1,col=1,endLine=1,endColumn=60,title=needs-no-transaction::"));
}

#[test]
fn sarif_is_valid_sarif_2_1_0() {
    let run = check(&["--format", "sarif"]).code(1);
    let sarif: serde_sarif::sarif::Sarif = serde_json::from_str(&run.stdout).expect("valid SARIF");
    let results = sarif.runs[0].results.as_ref().unwrap();
    assert_eq!(results.len(), 7);
    let rules = sarif.runs[0].tool.driver.rules.as_ref().unwrap();
    assert_eq!(rules.len(), migrate::check::registry::RULES.len());
}

#[test]
fn clean_history_exits_0_and_warnings_fail_only_when_denied() {
    for d in ["sqlite", "postgres", "mysql"] {
        let run = migrate_in(
            &root(),
            &[
                "--source",
                &format!("migrations-example/{d}"),
                "check",
                "--dialect",
                d,
            ],
        )
        .ok();
        assert!(
            run.stdout.contains("0 errors, 0 warnings"),
            "{d}: {}",
            run.stdout
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("migrations");
    crate::support::copy_dir(&fixture("check/findings"), &m);
    for f in [
        "0002_add_locale.up.sql",
        "0002_add_locale.down.sql",
        "0004_index_nickname.up.sql",
        "0004_index_nickname.down.sql",
    ] {
        std::fs::remove_file(m.join(f)).unwrap();
    }
    std::fs::remove_dir_all(m.join("0003_split_name")).unwrap();
    std::fs::write(
        m.join("0002_idx.up.sql"),
        "CREATE INDEX users_name_idx ON users (name);\n",
    )
    .unwrap();
    std::fs::write(m.join("0002_idx.down.sql"), "DROP INDEX users_name_idx;\n").unwrap();
    let run = migrate_in(tmp.path(), &["check"]).ok();
    assert!(run.stdout.contains("0 errors, 1 warning"), "{}", run.stdout);
    migrate_in(tmp.path(), &["check", "--deny-warnings"]).code(1);
    // Severity set in migrate.toml.
    std::fs::write(
        tmp.path().join("migrate.toml"),
        "[check.rules]\nindex-not-concurrent = \"error\"\n",
    )
    .unwrap();
    let run = migrate_in(tmp.path(), &["check"]).code(1);
    assert!(
        run.stdout.contains("error[index-not-concurrent]"),
        "{}",
        run.stdout
    );
    std::fs::write(
        tmp.path().join("migrate.toml"),
        "[check.rules]\nindex-not-concurrent = \"off\"\n",
    )
    .unwrap();
    migrate_in(tmp.path(), &["check", "--deny-warnings"]).ok();
    std::fs::write(
        tmp.path().join("migrate.toml"),
        "[check.rules]\nindex-not-concurent = \"off\"\n",
    )
    .unwrap();
    let run = migrate_in(tmp.path(), &["check"]).code(2);
    assert!(
        run.stderr.contains("unknown rule `index-not-concurent`"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_input_exits_2() {
    let run = migrate_in(
        &root(),
        &["--source", "tests/fixtures/bad/unknown_directive", "check"],
    )
    .code(2);
    assert!(run.stderr.contains("0001_a.up.sql:3"), "{}", run.stderr);
    migrate_in(
        &root(),
        &[
            "--source",
            "tests/fixtures/check/findings",
            "status",
            "--format",
            "sarif",
        ],
    )
    .code(2);
}

#[test]
fn rules_are_listed_and_explained() {
    let run = migrate_in(&root(), &["check", "--list-rules"]).ok();
    for id in [
        "missing-down",
        "lossy-down",
        "irreversible-up",
        "down-not-inverse",
        "down-would-fail",
        "expand-breaks-old-app",
        "unstaged-breaking-change",
        "needs-no-transaction",
        "archive-needs-key",
        "suppression-without-reason",
        "unused-suppression",
        "unparsed-statement",
        "index-not-concurrent",
        "constraint-not-valid",
        "table-rewrite",
        "not-null-scan",
    ] {
        assert!(run.stdout.contains(id), "{id} missing from --list-rules");
        let e = migrate_in(&root(), &["explain", id]).ok();
        assert!(
            e.stdout.contains("What it flags")
                && e.stdout.contains(&format!("-- migrate:allow {id}:")),
            "{}",
            e.stdout
        );
    }
    let run = migrate_in(&root(), &["explain", "lossy-dwon"]).code(2);
    assert!(run.stderr.contains("unknown rule"), "{}", run.stderr);
}

#[test]
fn check_rules_in_migrate_toml_change_what_up_and_down_refuse_as_they_change_check() {
    let db = crate::support::TestDb::sqlite();
    let dir = db.write_migrations(&[
        ("0001_t.up.sql", "CREATE TABLE t (id INT PRIMARY KEY);\n"),
        ("0001_t.down.sql", "DROP TABLE t;\n"),
    ]);
    let s = dir.as_str();
    db.migrate(&["--source", s, "check"]).code(1);
    db.migrate(&["--source", s, "up"]).code(1);
    std::fs::write(
        db.dir.path().join("migrate.toml"),
        "[check.rules]\nlossy-down = \"off\"\n",
    )
    .unwrap();
    db.migrate(&["--source", s, "check"]).ok();
    db.migrate(&["--source", s, "up"]).ok();
    db.migrate(&["--source", s, "down", "--yes"]).ok();
    std::fs::write(
        db.dir.path().join("migrate.toml"),
        "[check.rules]\nlossy-down = \"warning\"\n",
    )
    .unwrap();
    db.migrate(&["--source", s, "up"]).ok();
    db.migrate(&["--source", s, "check", "--deny-warnings"])
        .code(1);
}

#[test]
fn the_dialect_is_never_silently_assumed() {
    // A directory named after its dialect is checked in that dialect.
    let run = migrate_in(&root(), &["--source", "migrations-example/mysql", "check"]).ok();
    assert!(run.stdout.contains("0 errors"), "{}", run.all());
    assert!(
        !run.stderr.contains("checking as PostgreSQL"),
        "{}",
        run.stderr
    );
    // Nothing says which: PostgreSQL, and a note says so.
    let run = check(&[]).code(1);
    assert!(
        run.stderr.contains("checking as PostgreSQL"),
        "{}",
        run.stderr
    );
    let run = check(&["--dialect", "postgres"]).code(1);
    assert!(
        !run.stderr.contains("checking as PostgreSQL"),
        "{}",
        run.stderr
    );
}

/// PostgreSQL statements `sqlparser` cannot read are read by PostgreSQL's
/// own grammar: no warning, and the runner applies and reverts them. A down
/// with a forgotten `;` is a certain syntax error: `check` fails naming the
/// line, and `up` refuses the stage whose rollback would fail.
#[test]
fn postgres_statements_sqlparser_cannot_read_and_a_forgotten_semicolon() {
    let Some(db) = crate::support::TestDb::server(crate::support::Kind::Postgres) else {
        return;
    };
    let dir = db.write_migrations(&[
        (
            "0001_p.up.sql",
            "CREATE TABLE p (id INT PRIMARY KEY);\nCREATE TABLE c (id INT PRIMARY KEY, p_id INT REFERENCES p);\n",
        ),
        (
            "0001_p.down.sql",
            "-- migrate:allow lossy-down: test tables\nDROP TABLE c;\n-- migrate:allow lossy-down: test tables\nDROP TABLE p;\n",
        ),
        (
            "0002_x.up.sql",
            "ALTER TABLE c ALTER CONSTRAINT c_p_id_fkey DEFERRABLE;\nCREATE STATISTICS c_stats (dependencies) ON id, p_id FROM c;\n",
        ),
        (
            "0002_x.down.sql",
            "DROP STATISTICS c_stats;\nALTER TABLE c ALTER CONSTRAINT c_p_id_fkey NOT DEFERRABLE;\n",
        ),
    ]);
    let s = dir.as_str();
    let run = db
        .migrate(&[
            "--source",
            s,
            "check",
            "--dialect",
            "postgres",
            "--deny-warnings",
        ])
        .ok();
    assert!(run.stdout.contains("0 errors, 0 warnings"), "{}", run.all());
    db.migrate(&["--source", s, "up"]).ok();
    db.migrate(&["--source", s, "down", "--to", "0", "--yes"])
        .ok();
    db.migrate(&["--source", s, "up"]).ok();

    std::fs::write(
        db.dir.path().join("m/0003_n.up.sql"),
        "ALTER TABLE c ADD COLUMN n INT;\n",
    )
    .unwrap();
    std::fs::write(
        db.dir.path().join("m/0003_n.down.sql"),
        "-- migrate:allow lossy-down: test column\nALTER TABLE c DROP COLUMN n\nALTER TABLE c DROP COLUMN IF EXISTS m;\n",
    )
    .unwrap();
    let run = db
        .migrate(&["--source", s, "check", "--dialect", "postgres"])
        .code(1);
    assert!(
        run.stdout.contains("syntax-error")
            && run
                .stdout
                .contains("a `;` is missing here (line 2, column 28)"),
        "{}",
        run.all()
    );
    let before = db.history();
    let run = db.migrate(&["--source", s, "up"]).code(1);
    assert!(run.all().contains("syntax-error"), "{}", run.all());
    assert_eq!(db.history(), before, "nothing applied");
}

#[test]
fn findings_span_their_statement_and_a_syntax_error_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path();
    std::fs::write(
        m.join("0001_t.up.sql"),
        "CREATE TABLE t (id INT PRIMARY KEY);\n",
    )
    .unwrap();
    std::fs::write(m.join("0001_t.down.sql"), "DROP TABLE\n  t;\n").unwrap();
    std::fs::write(m.join("0002_u.up.sql"), "ALTER TABLE t ADD COLUMN u INT;\n").unwrap();
    std::fs::write(
        m.join("0002_u.down.sql"),
        "ALTER TABLE t DROP CONSTRAINT t_pkey\nALTER TABLE t DROP COLUMN u;\n",
    )
    .unwrap();
    let src = m.to_str().unwrap();
    let args = ["--source", src, "check", "--dialect", "postgres"];
    let run = migrate_in(&root(), &args).code(1);
    // A two-line DROP is underlined from its first character to its last.
    assert!(
        run.stdout
            .contains("1 | / DROP TABLE\n2 | |   t;\n  | |___^"),
        "{}",
        run.stdout
    );
    // The caret of a syntax error is where the `;` is missing.
    assert!(
        run.stdout.contains("0002_u.down.sql:1:37\n  |\n1 | ALTER TABLE t DROP CONSTRAINT t_pkey\n  |                                     ^"),
        "{}",
        run.stdout
    );
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let run = migrate_in(&root(), &json_args).code(1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let drop = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            d["rule"] == "lossy-down" && d["file"].as_str().unwrap().ends_with("0001_t.down.sql")
        })
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(
        (
            &drop["line"],
            &drop["column"],
            &drop["end_line"],
            &drop["end_column"]
        ),
        (&1.into(), &1.into(), &2.into(), &3.into()),
        "{drop}"
    );
}
