//! `migrate adopt`: history tables as sqlx, diesel, golang-migrate and dbmate write them.

use sha2::{Digest, Sha384};

use crate::support::{Kind, TestDb, copy_dir, fixture};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn blob(kind: Kind, hex: &str) -> String {
    match kind {
        Kind::Postgres => format!("decode('{hex}', 'hex')"),
        _ => format!("X'{hex}'"),
    }
}

/// Applies the first two migrations of runner/basic by hand, as another tool would have.
fn apply_by_hand(db: &TestDb, src: &std::path::Path) {
    for f in [
        "0001_create_accounts.up.sql",
        "0002_add_accounts_name.up.sql",
    ] {
        db.execute(&std::fs::read_to_string(src.join(f)).unwrap());
    }
}

#[test]
fn every_tool_history_is_adopted() {
    for db in TestDb::all() {
        for tool in ["sqlx", "diesel", "golang-migrate", "dbmate"] {
            let db = match db.kind {
                Kind::Sqlite => TestDb::sqlite(),
                k => TestDb::server(k).unwrap(),
            };
            let src = db.dir.path().join("src");
            copy_dir(&fixture("runner/basic"), &src);
            apply_by_hand(&db, &src);
            let ts = if db.kind == Kind::Postgres {
                "TIMESTAMPTZ"
            } else {
                "TIMESTAMP"
            };
            match tool {
                "sqlx" => {
                    let bytes = if db.kind == Kind::Postgres {
                        "BYTEA"
                    } else {
                        "BLOB"
                    };
                    db.execute(&format!(
                        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on {ts} NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, checksum {bytes} NOT NULL, execution_time BIGINT NOT NULL)"
                    ));
                    for (v, f) in [
                        (1, "0001_create_accounts.up.sql"),
                        (2, "0002_add_accounts_name.up.sql"),
                    ] {
                        let sum = hex(&Sha384::digest(std::fs::read(src.join(f)).unwrap()));
                        db.execute(&format!("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ({v}, 'm', TRUE, {}, 1)", blob(db.kind, &sum)));
                    }
                }
                "diesel" => {
                    db.execute(&format!("CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, run_on {ts} NOT NULL DEFAULT CURRENT_TIMESTAMP)"));
                    db.execute("INSERT INTO __diesel_schema_migrations (version) VALUES ('0001'), ('0002')");
                }
                "golang-migrate" => {
                    db.execute("CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, dirty BOOLEAN NOT NULL)");
                    db.execute("INSERT INTO schema_migrations (version, dirty) VALUES (2, FALSE)");
                }
                _ => {
                    db.execute("CREATE TABLE schema_migrations (version VARCHAR(128) PRIMARY KEY)");
                    db.execute("INSERT INTO schema_migrations (version) VALUES ('1'), ('2')");
                }
            }
            let s = src.to_str().unwrap();
            let dry = db
                .migrate(&["--source", s, "adopt", "--from", tool, "--dry-run"])
                .ok();
            assert!(
                dry.stdout.contains("would record (dry run) 2 migration(s)"),
                "{:?} {tool}: {}",
                db.kind,
                dry.all()
            );
            let run = db.migrate(&["--source", s, "adopt", "--from", tool]).ok();
            assert!(
                run.stdout.contains("recorded 2 migration(s)"),
                "{:?} {tool}: {}",
                db.kind,
                run.all()
            );
            assert_eq!(
                db.history(),
                vec!["1:main:applied", "2:main:applied"],
                "{:?} {tool}",
                db.kind
            );
            // From here on, migrate runs it: the rest applies, and everything reverts with the adopted downs.
            db.migrate(&["--source", s, "up"]).ok();
            db.migrate(&["--source", s, "down", "--to", "0", "--yes"])
                .ok();
            assert!(db.history().is_empty());
            // A second adoption is refused.
            let again = db
                .migrate(&["--source", s, "adopt", "--from", tool])
                .code(1);
            assert!(
                again.stderr.contains("already has a history"),
                "{}",
                again.stderr
            );
        }
    }
}

#[test]
fn mismatches_are_listed_and_refused() {
    let db = TestDb::sqlite();
    let src = db.dir.path().join("src");
    copy_dir(&fixture("runner/basic"), &src);
    apply_by_hand(&db, &src);
    db.execute("CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)");
    db.execute("INSERT INTO _sqlx_migrations VALUES (1, 'a', CURRENT_TIMESTAMP, TRUE, X'00', 1), (2, 'b', CURRENT_TIMESTAMP, FALSE, X'00', 1), (9, 'c', CURRENT_TIMESTAMP, TRUE, X'00', 1)");
    let s = src.to_str().unwrap();
    let run = db
        .migrate(&["--source", s, "adopt", "--from", "sqlx"])
        .code(1);
    assert!(
        run.stderr
            .contains("0001_create_accounts.up.sql: the file differs from what sqlx applied"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("sqlx recorded 2 as failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("sqlx recorded version 9, which is not in"),
        "{}",
        run.stderr
    );
    assert!(
        db.strings("SELECT name FROM sqlite_master WHERE name = '_migrate_applied'")
            .is_empty()
            || db.history().is_empty()
    );

    let db = TestDb::sqlite();
    db.execute("CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, dirty BOOLEAN NOT NULL)");
    db.execute("INSERT INTO schema_migrations VALUES (2, TRUE)");
    let run = db
        .migrate(&["--source", s, "adopt", "--from", "golang-migrate"])
        .code(1);
    assert!(
        run.stderr.contains("marked version 2 dirty"),
        "{}",
        run.stderr
    );
    let run = db
        .migrate(&["--source", s, "adopt", "--from", "diesel"])
        .code(2);
    assert!(
        run.stderr.contains("__diesel_schema_migrations"),
        "{}",
        run.stderr
    );
}

#[test]
fn adopting_a_history_with_findings_says_how_to_baseline_them() {
    let db = TestDb::sqlite();
    let src = db.dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("1_t.up.sql"),
        "CREATE TABLE t (id INT PRIMARY KEY);\n",
    )
    .unwrap();
    std::fs::write(src.join("1_t.down.sql"), "DROP TABLE t;\n").unwrap();
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)");
    db.execute("CREATE TABLE schema_migrations (version VARCHAR(128) PRIMARY KEY)");
    db.execute("INSERT INTO schema_migrations (version) VALUES ('1')");
    let s = src.to_str().unwrap();
    let run = db
        .migrate(&["--source", s, "adopt", "--from", "dbmate"])
        .ok();
    assert!(
        run.stdout.contains("1 error(s)")
            && run
                .stdout
                .contains("migrate baseline --reason \"adopted from dbmate\""),
        "{}",
        run.all()
    );
    db.migrate(&["--source", s, "baseline", "--reason", "adopted from dbmate"])
        .ok();
    db.migrate(&["--source", s, "down", "--to", "0", "--yes"])
        .ok();
    assert!(db.history().is_empty());
}
