//! Every command in the documentation runs, so the documentation cannot rot.
//!
//! Each Markdown file of `docs/` and the README is a scenario played in a
//! sandbox of its own (a temporary directory holding a copy of
//! `migrations-example/`, with `migrations/` the SQLite example and
//! `DATABASE_URL` a SQLite file in it):
//!
//! - every `migrate ...` line of a `sh` block, and every `- run: migrate ...`
//!   line of a `yaml` block, runs in document order and must exit 0
//!   (`cargo run --release -- ARGS` is `migrate ARGS`; `cargo install`,
//!   `cargo test` and `export` lines are what CI itself does);
//! - every inline `` `migrate ...` `` span is checked by clap (`--help`
//!   appended): its subcommand and flags must exist;
//! - hidden lines `<!-- test: ... -->` set the scene: `migrate ARGS` runs a
//!   command, `expect N` expects exit code N from the next command, `write
//!   PATH TEXT` writes a file (`\n` for new lines; a `*` in PATH matches one
//!   existing file), `sql STATEMENTS` runs SQL on the sandbox's database,
//!   `sandbox empty` starts without migrations.
//!
//! A URL `postgres://...` in a command is replaced by a fresh database on the
//! server of `MIGRATE_TEST_POSTGRES_URL` (the command reads the PostgreSQL
//! example unless it names a `--source`), and is skipped without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{Kind, TestDb, copy_dir, root, rt};

#[derive(Debug)]
enum Step {
    /// Run `migrate` with these arguments.
    Run {
        line: usize,
        args: Vec<String>,
        expect: i32,
        stdout_to: Option<String>,
        syntax_only: bool,
    },
    Write {
        line: usize,
        path: String,
        text: String,
    },
    Sql {
        line: usize,
        sql: String,
    },
    EmptySandbox,
}

/// Splits a shell line into words: spaces separate, quotes group.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The line without a trailing `# comment` (outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') if prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = c;
    }
    line
}

/// The commands of one shell line: `a && b`, `cmd | tail`, `cmd > file`.
fn shell_line(file: &str, line: usize, text: &str, expect: &mut i32, steps: &mut Vec<Step>) {
    let text = strip_comment(text).trim();
    if text.is_empty() {
        return;
    }
    for part in text.split("&&") {
        let part = part.split(" | ").next().unwrap_or(part);
        let (part, stdout_to) = match part.split_once(" > ") {
            Some((cmd, file)) => (cmd, Some(file.trim().to_string())),
            None => (part, None),
        };
        let mut w = words(part);
        let args: Vec<String> = match w.first().map(String::as_str) {
            Some("migrate") => w.split_off(1),
            Some("cargo") if part.contains("cargo run --release --") => {
                let at = w.iter().position(|x| x == "--").unwrap();
                w.split_off(at + 1)
            }
            // What CI itself does: install, test, set the environment.
            Some("cargo" | "export") => continue,
            _ => {
                panic!("{file}:{line}: a shell line the docs test does not know how to run: {text}")
            }
        };
        steps.push(Step::Run {
            line,
            args,
            expect: std::mem::replace(expect, 0),
            stdout_to,
            syntax_only: false,
        });
    }
}

/// Reads a Markdown file into steps.
fn steps(file: &str, md: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut fence: Option<String> = None;
    let mut expect = 0;
    for (i, line) in md.lines().enumerate() {
        let n = i + 1;
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            fence = match fence {
                Some(_) => None,
                None => Some(lang.trim().to_string()),
            };
            continue;
        }
        match fence.as_deref() {
            Some("sh") => shell_line(file, n, line, &mut expect, &mut steps),
            Some("yaml") => {
                if let Some(cmd) = trimmed.strip_prefix("- run: ") {
                    shell_line(file, n, cmd, &mut expect, &mut steps);
                }
            }
            Some(_) => {}
            None => {
                if let Some(hidden) = trimmed
                    .strip_prefix("<!-- test: ")
                    .and_then(|h| h.strip_suffix(" -->"))
                {
                    if let Some(code) = hidden.strip_prefix("expect ") {
                        expect = code.parse().expect("expect N");
                    } else if let Some(rest) = hidden.strip_prefix("write ") {
                        let (path, text) = rest.split_once(' ').expect("write PATH TEXT");
                        steps.push(Step::Write {
                            line: n,
                            path: path.to_string(),
                            text: text.replace("\\n", "\n"),
                        });
                    } else if let Some(sql) = hidden.strip_prefix("sql ") {
                        steps.push(Step::Sql {
                            line: n,
                            sql: sql.to_string(),
                        });
                    } else if hidden == "sandbox empty" {
                        steps.push(Step::EmptySandbox);
                    } else {
                        shell_line(file, n, hidden, &mut expect, &mut steps);
                    }
                    continue;
                }
                // Inline `migrate ...` spans.
                let spans: Vec<&str> = line.split('`').collect();
                for (k, span) in spans.iter().enumerate() {
                    // A span that closes on a later line is not read.
                    if k % 2 == 1
                        && k + 1 < spans.len()
                        && let Some(rest) = span.strip_prefix("migrate ")
                    {
                        steps.push(Step::Run {
                            line: n,
                            args: words(rest),
                            expect: 0,
                            stdout_to: None,
                            syntax_only: true,
                        });
                    }
                }
            }
        }
    }
    steps
}

/// The one file matching `pattern` (a `*` in its last component).
fn resolve(dir: &Path, pattern: &str) -> PathBuf {
    let path = dir.join(pattern);
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let Some((before, after)) = name.split_once('*') else {
        return path;
    };
    let parent = path.parent().unwrap();
    std::fs::create_dir_all(parent).unwrap();
    let found: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(before) && n.ends_with(after)
        })
        .collect();
    assert_eq!(found.len(), 1, "{pattern} should match one file: {found:?}");
    found.into_iter().next().unwrap()
}

fn play(file: &str) {
    let md = std::fs::read_to_string(root().join(file)).unwrap();
    let steps = steps(file, &md);
    let sandbox = tempfile::tempdir().unwrap();
    let dir = sandbox.path();
    copy_dir(
        &root().join("migrations-example"),
        &dir.join("migrations-example"),
    );
    copy_dir(
        &root().join("migrations-example/sqlite"),
        &dir.join("migrations"),
    );
    let database_url = format!("sqlite://{}", dir.join("app.db").display());
    let mut servers: Vec<TestDb> = Vec::new();
    for step in steps {
        match step {
            Step::EmptySandbox => std::fs::remove_dir_all(dir.join("migrations")).unwrap(),
            Step::Sql { line, sql } => rt().block_on(async {
                use sqlx::Connection;
                sqlx::any::install_default_drivers();
                let url = format!("{database_url}?mode=rwc");
                let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{file}:{line}: {e}"));
                conn.close().await.unwrap();
            }),
            Step::Write { line, path, text } => {
                let target = resolve(dir, &path);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::write(&target, text)
                    .unwrap_or_else(|e| panic!("{file}:{line}: write {path}: {e}"));
            }
            Step::Run {
                line,
                mut args,
                expect,
                stdout_to,
                syntax_only,
            } => {
                let shown = args.join(" ");
                let mut source = "migrations";
                if let Some(i) = args.iter().position(|a| a.starts_with("postgres://")) {
                    let Some(db) = TestDb::server(Kind::Postgres) else {
                        eprintln!(
                            "skipped {file}:{line} `{shown}`: MIGRATE_TEST_POSTGRES_URL is not set"
                        );
                        continue;
                    };
                    args[i] = db.url.clone();
                    servers.push(db);
                    source = "migrations-example/postgres";
                }
                if syntax_only {
                    args.push("--help".into());
                }
                let out = Command::new(env!("CARGO_BIN_EXE_migrate"))
                    .args(&args)
                    .current_dir(dir)
                    .env("DATABASE_URL", &database_url)
                    .env("MIGRATE_SOURCE", source)
                    .env("NO_COLOR", "1")
                    .stdin(Stdio::null())
                    .output()
                    .expect("run migrate");
                let code = out.status.code().unwrap_or(-1);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    code == expect && !stderr.contains("Usage:"),
                    "{file}:{line}: `migrate {shown}` exited {code}, the docs expect {expect}{}\n{}{stderr}",
                    if syntax_only {
                        " (--help: is the command still spelled this way?)"
                    } else {
                        ""
                    },
                    String::from_utf8_lossy(&out.stdout),
                );
                if let Some(to) = stdout_to {
                    std::fs::write(dir.join(to), &out.stdout).unwrap();
                }
            }
        }
    }
}

fn documents() -> Vec<String> {
    let mut files = vec!["README.md".to_string()];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            files.push(format!("docs/{name}"));
        }
    }
    files.sort();
    files
}

#[test]
fn every_command_in_the_docs_runs() {
    for file in documents() {
        play(&file);
    }
}

#[test]
fn the_docs_reader_finds_commands() {
    let md = "text `migrate status` and `migrate:archive`\n<!-- test: expect 1 -->\n```sh\nmigrate down --to x --reason \"a # b\"  # comment\nmigrate expand && migrate contract\nmigrate log | tail -5\n```\n```yaml\n      - run: migrate check --format sarif > out.sarif\n```\n";
    let s = steps("t.md", md);
    let runs: Vec<(String, i32, bool)> = s
        .iter()
        .filter_map(|st| match st {
            Step::Run {
                args,
                expect,
                syntax_only,
                ..
            } => Some((args.join("|"), *expect, *syntax_only)),
            _ => None,
        })
        .collect();
    assert_eq!(
        runs,
        [
            ("status".to_string(), 0, true),
            ("down|--to|x|--reason|a # b".to_string(), 1, false),
            ("expand".to_string(), 0, false),
            ("contract".to_string(), 0, false),
            ("log".to_string(), 0, false),
            ("check|--format|sarif".to_string(), 0, false),
        ]
    );
}
