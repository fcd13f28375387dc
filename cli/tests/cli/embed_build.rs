//! `migrate::build` + `migrate::embed!` in a real crate built by cargo: an
//! added or edited migration is embedded by the next build, and a migration
//! the checker or the loader refuses fails the build (trybuild-style).

use std::path::Path;
use std::process::Command;

use crate::support::{Run, copy_dir, fixture, root};

/// Cargo on the fixture crate, with a target directory of its own under
/// `target/` (the outer cargo holds the lock on the main one) that persists
/// between runs, so only the first build compiles the dependencies.
fn cargo(app: &Path, args: &[&str]) -> Run {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .arg("--manifest-path")
        .arg(app.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", root().join("target/embed-app"))
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .expect("run cargo");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Builds the fixture and runs it on a fresh SQLite database.
fn build_and_run(app: &Path, n: usize) -> Run {
    cargo(app, &["build", "--quiet"]).ok();
    let db = app.join(format!("run{n}.db"));
    let out = Command::new(root().join("target/embed-app/debug/embed-app"))
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .expect("run the fixture");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
    .ok()
}

/// A copy of the fixture crate in `dir`, its manifest pointing at this
/// repository (then passed through `edit`), with the repository's lock file:
/// the same dependency versions, already downloaded.
fn app_copy(dir: &Path, edit: impl FnOnce(String) -> String) -> std::path::PathBuf {
    let app = dir.join("app");
    copy_dir(&fixture("embed-app"), &app);
    let root_text = root().to_string_lossy().replace('\\', "/");
    let manifest = std::fs::read_to_string(app.join("Cargo.toml.in"))
        .unwrap()
        .replace("@ROOT@", &root_text);
    std::fs::write(app.join("Cargo.toml"), edit(manifest)).unwrap();
    std::fs::copy(root().join("Cargo.lock"), app.join("Cargo.lock")).unwrap();
    app
}

fn allow_drop(table: &str) -> String {
    format!("-- migrate:allow lossy-down: a test table, no data\nDROP TABLE {table};\n")
}

fn write(app: &Path, name: &str, text: &str) {
    std::fs::write(app.join("migrations").join(name), text).unwrap();
}

#[test]
fn embedded_migrations_follow_the_files_and_the_checker_fails_the_build() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app_copy(tmp.path(), |m| m);
    std::fs::create_dir_all(app.join("migrations")).unwrap();
    let users = "CREATE TABLE users (id INTEGER PRIMARY KEY);\n";
    write(&app, "0001_users.up.sql", users);
    write(&app, "0001_users.down.sql", &allow_drop("users"));

    let run = build_and_run(&app, 1);
    assert!(
        run.stdout.contains(&format!(
            "embedded migrations/0001_users.up.sql {}",
            users.len()
        )),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("applied 1"), "{}", run.all());

    // A new file is embedded by the next plain `cargo build`.
    write(
        &app,
        "0002_posts.up.sql",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY);\n",
    );
    write(&app, "0002_posts.down.sql", &allow_drop("posts"));
    let run = build_and_run(&app, 2);
    assert!(
        run.stdout.contains("embedded migrations/0002_posts.up.sql"),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("applied 2"), "{}", run.all());

    // An edited file too.
    let users = "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n";
    write(&app, "0001_users.up.sql", users);
    let run = build_and_run(&app, 3);
    assert!(
        run.stdout.contains(&format!(
            "embedded migrations/0001_users.up.sql {}",
            users.len()
        )),
        "{}",
        run.all()
    );

    // An up that destroys data its down cannot bring back: the build fails
    // with the checker's finding, naming the file.
    write(&app, "0003_drop_posts.up.sql", "DROP TABLE posts;\n");
    write(
        &app,
        "0003_drop_posts.down.sql",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY);\n",
    );
    let failed = cargo(&app, &["build", "--quiet"]);
    assert_ne!(failed.code, 0, "the build should fail:\n{}", failed.all());
    assert!(
        failed
            .stderr
            .contains("migrations/0003_drop_posts.up.sql:1:1: error["),
        "{}",
        failed.all()
    );
    assert!(
        failed
            .stderr
            .contains("`migrate check` fails on migrations"),
        "{}",
        failed.all()
    );

    // A malformed file name: the loader's error, naming the file.
    std::fs::remove_file(app.join("migrations/0003_drop_posts.up.sql")).unwrap();
    std::fs::remove_file(app.join("migrations/0003_drop_posts.down.sql")).unwrap();
    write(&app, "0003 posts.up.sql", "SELECT 1;\n");
    let failed = cargo(&app, &["build", "--quiet"]);
    assert_ne!(failed.code, 0, "the build should fail:\n{}", failed.all());
    assert!(
        failed.stderr.contains("migrations/0003 posts.up.sql"),
        "{}",
        failed.all()
    );

    // Fixed: it builds again, with the two good migrations.
    std::fs::remove_file(app.join("migrations/0003 posts.up.sql")).unwrap();
    let run = build_and_run(&app, 4);
    assert!(run.stdout.contains("applied 2"), "{}", run.all());
}

/// An application that adds the library with its default features (every
/// driver, TLS) compiles no part of the command line: the CLI is its own
/// crate. Read from `cargo tree` of a crate depending on the library.
#[test]
fn the_library_with_default_features_pulls_no_cli_dependency() {
    let tmp = tempfile::tempdir().unwrap();
    let root_text = root().to_string_lossy().replace('\\', "/");
    let app = app_copy(tmp.path(), |manifest| {
        let manifest = manifest.replace(
            ", default-features = false, features = [\"sqlite\"] }",
            " }",
        );
        assert!(
            manifest.contains(&format!("migrate-back = {{ path = \"{root_text}\" }}")),
            "the fixture's dependency line changed:\n{manifest}"
        );
        manifest
    });
    let tree = cargo(
        &app,
        &[
            "tree",
            "--edges",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ],
    )
    .ok();
    let crates: Vec<&str> = tree
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    // The drivers are there (the default features took effect) ...
    for wanted in ["migrate-back", "sqlx-postgres", "sqlx-mysql", "sqlx-sqlite"] {
        assert!(
            crates.contains(&wanted),
            "{wanted} missing:\n{}",
            tree.stdout
        );
    }
    // ... and nothing only the command line needs (dotenvy is not in this
    // list: sqlx's drivers depend on it themselves).
    for cli_only in [
        "migrate-cli",
        "clap",
        "clap_complete",
        "anyhow",
        "annotate-snippets",
        "tracing-subscriber",
    ] {
        assert!(
            !crates.contains(&cli_only),
            "{cli_only} is compiled into an embedding application:\n{}",
            tree.stdout
        );
    }
}
