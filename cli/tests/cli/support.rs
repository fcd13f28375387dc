//! Helpers: running the binary, and scratch databases on every backend.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{AnyConnection, AssertSqlSafe, Connection, Row};

/// What a run of the binary printed, and its exit code.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Everything printed, for messages and secret checks.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success:\n{}", self.all());
        self
    }

    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            code,
            "expected exit code {code}:\n{}",
            self.all()
        );
        self
    }
}

/// Runs `migrate` in `cwd` with a clean environment (no DATABASE_URL, no .env).
pub fn migrate_in(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(args)
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env_remove("MIGRATE_SOURCE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run migrate");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The repository root (the workspace; this crate is `cli/` in it).
pub fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .canonicalize()
        .expect("the repository root")
}

/// A fixture directory.
pub fn fixture(path: &str) -> PathBuf {
    root().join("tests/fixtures").join(path)
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    Mysql,
}

/// Says once per database, where the person running `cargo test` sees it,
/// that its cases are skipped: written to stderr directly, past the test
/// harness's capture, so a green run without the servers does not look
/// like one with them.
fn skipped_once(kind: Kind, var: &str) {
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
    let name = format!("{kind:?}");
    if said.contains(&name) {
        return;
    }
    said.push(name.clone());
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("\nskipped: the {name} cases of the database tests ({var} is not set; .ci/run sets it)\n").as_bytes(),
    );
}

/// A scratch database of its own, dropped at the end of the test.
pub struct TestDb {
    pub kind: Kind,
    pub url: String,
    admin_url: Option<String>,
    name: String,
    pub dir: tempfile::TempDir,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let slash = base.rfind('/').expect("URL with a database path");
    let mut out = format!("{}/{}", &base[..slash], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl TestDb {
    /// SQLite always; PostgreSQL and MySQL when their URLs are set.
    pub fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite()];
        for kind in [Kind::Postgres, Kind::Mysql] {
            if let Some(db) = TestDb::server(kind) {
                dbs.push(db);
            }
        }
        dbs
    }

    /// An existing (or to be created) SQLite file, for a test's own queries.
    pub fn sqlite_file(path: &Path) -> TestDb {
        TestDb {
            kind: Kind::Sqlite,
            url: format!("sqlite://{}", path.display()),
            admin_url: None,
            name: String::new(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        TestDb {
            kind: Kind::Sqlite,
            url,
            admin_url: None,
            name: String::new(),
            dir,
        }
    }

    /// A new database on the server named by MIGRATE_TEST_{POSTGRES,MYSQL}_URL.
    pub fn server(kind: Kind) -> Option<TestDb> {
        sqlx::any::install_default_drivers();
        let var = match kind {
            Kind::Postgres => "MIGRATE_TEST_POSTGRES_URL",
            Kind::Mysql => "MIGRATE_TEST_MYSQL_URL",
            Kind::Sqlite => return Some(TestDb::sqlite()),
        };
        let Ok(admin_url) = std::env::var(var) else {
            skipped_once(kind, var);
            return None;
        };
        let name = format!(
            "mt_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        rt().block_on(async {
            let mut conn = AnyConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("{var} is set but the server is unreachable: {e}"));
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.ok();
        });
        let url = with_database(&admin_url, &name);
        Some(TestDb {
            kind,
            url,
            admin_url: Some(admin_url),
            name,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    /// A copy of `tests/fixtures/runner/<name>` in this database's temp dir
    /// (made once), so a test may edit its files.
    pub fn source_copy(&self, name: &str) -> String {
        let to = self.dir.path().join(name);
        if !to.exists() {
            copy_dir(&fixture(&format!("runner/{name}")), &to);
        }
        to.to_str().unwrap().to_string()
    }

    /// Writes `files` (name, text) into the directory `m` of this database's
    /// temp dir; its path.
    pub fn write_migrations(&self, files: &[(&str, &str)]) -> String {
        let dir = self.dir.path().join("m");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir.to_str().unwrap().to_string()
    }

    /// Runs `migrate --database-url <this> <args>` in this database's temp dir.
    pub fn migrate(&self, args: &[&str]) -> Run {
        let mut all = vec!["--database-url", self.url.as_str()];
        all.extend_from_slice(args);
        migrate_in(self.dir.path(), &all)
    }

    /// The URL for the tests' own connections (a SQLite file is created if missing).
    fn own_url(&self) -> String {
        if self.kind == Kind::Sqlite && !self.url.contains('?') {
            format!("{}?mode=rwc", self.url)
        } else {
            self.url.clone()
        }
    }

    /// First column of every row, as text.
    pub fn strings(&self, sql: &str) -> Vec<String> {
        sqlx::any::install_default_drivers();
        rt().block_on(async {
            let mut conn = AnyConnection::connect(&self.own_url()).await.unwrap();
            let rows = sqlx::query(AssertSqlSafe(sql.to_string()))
                .fetch_all(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            conn.close().await.ok();
            rows.iter()
                .map(|r| r.try_get::<String, _>(0).unwrap())
                .collect()
        })
    }

    pub fn execute(&self, sql: &str) {
        sqlx::any::install_default_drivers();
        rt().block_on(async {
            let mut conn = AnyConnection::connect(&self.own_url()).await.unwrap();
            sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            conn.close().await.ok();
        })
    }

    /// Tables, columns, indexes and constraints of the application (history
    /// tables excluded), as sorted lines; column order ignored.
    pub fn schema(&self) -> Vec<String> {
        let queries: &[&str] = match self.kind {
            Kind::Sqlite => &[
                "SELECT m.name || '.' || p.name || ' ' || p.type || ' ' || p.\"notnull\" || ' ' || coalesce(p.dflt_value, '') || ' ' || p.pk \
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE '\\_migrate\\_%' ESCAPE '\\' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
                "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master WHERE type IN ('index', 'view', 'trigger') AND tbl_name NOT LIKE '\\_migrate\\_%' ESCAPE '\\'",
                "SELECT m.name || ' fk ' || f.\"from\" || ' -> ' || f.\"table\" || '.' || f.\"to\" FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table'",
            ],
            Kind::Postgres => &[
                "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') \
                 FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE '\\_migrate\\_%'",
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE '\\_migrate\\_%'",
                "SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE '\\_migrate\\_%'",
            ],
            Kind::Mysql => &[
                "SELECT CONCAT(table_name, '.', column_name, ' ', column_type, ' ', is_nullable, ' ', coalesce(column_default, '')) \
                 FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name NOT LIKE '\\_migrate\\_%'",
                "SELECT CONCAT(table_name, ' ', index_name, ' ', column_name, ' ', non_unique) FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND table_name NOT LIKE '\\_migrate\\_%'",
            ],
        };
        let mut out: Vec<String> = queries.iter().flat_map(|q| self.strings(q)).collect();
        out.sort();
        out
    }

    /// `version:stage:state` of every history row, by sequence.
    pub fn history(&self) -> Vec<String> {
        let sql = match self.kind {
            Kind::Mysql => {
                "SELECT CONCAT(version, ':', stage, ':', state) FROM _migrate_applied ORDER BY seq"
            }
            _ => {
                "SELECT CAST(version AS TEXT) || ':' || stage || ':' || state FROM _migrate_applied ORDER BY seq"
            }
        };
        self.strings(sql)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(admin) = &self.admin_url else { return };
        let name = self.name.clone();
        let admin = admin.clone();
        let kind = self.kind;
        // A thread of its own: Drop may run inside a runtime.
        let _ = std::thread::spawn(move || {
            rt().block_on(async {
                if let Ok(mut conn) = AnyConnection::connect(&admin).await {
                    let sql = match kind {
                        Kind::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                        _ => format!("DROP DATABASE IF EXISTS {name}"),
                    };
                    let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await;
                    conn.close().await.ok();
                }
            })
        })
        .join();
    }
}

impl TestDb {
    /// A migration directory `slow` holding one stage that runs for about
    /// three seconds outside a transaction (so its history row reads
    /// `failed` until it completes), and a `migrate up` of it started in
    /// the background.
    pub fn start_slow_up(&self) -> (PathBuf, std::process::Child) {
        let src = self.dir.path().join("slow");
        std::fs::create_dir_all(&src).unwrap();
        let slow = match self.kind {
            Kind::Postgres => "SELECT pg_sleep(3)",
            Kind::Mysql => "SELECT SLEEP(3)",
            Kind::Sqlite => {
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 40000000) SELECT count(*) FROM c"
            }
        };
        std::fs::write(
            src.join("0001_slow.up.sql"),
            format!(
                "-- migrate:no-transaction\nCREATE TABLE t (id INTEGER PRIMARY KEY);\n{slow};\n"
            ),
        )
        .unwrap();
        std::fs::write(
            src.join("0001_slow.down.sql"),
            "-- migrate:allow lossy-down: test table\nDROP TABLE t;\n",
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_migrate"))
            .args(["--database-url", &self.url, "--source"])
            .arg(&src)
            .arg("up")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        (src, child)
    }
}
