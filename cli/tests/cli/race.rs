//! Concurrency: 16 processes mixing `up`, `status`, `down --to` and
//! `checkpoint create` against one database.

use crate::support::{TestDb, copy_dir, fixture};

#[test]
fn sixteen_processes_mixing_commands() {
    for db in TestDb::all() {
        let src = db.dir.path().join("src");
        copy_dir(&fixture("runner/basic"), &src);
        let s = src.to_str().unwrap().to_string();
        // The database exists before the race (a `status` that wins it against
        // the first `up` would otherwise, rightly, report a missing SQLite file).
        db.migrate(&["database", "create"]).ok();
        let commands: Vec<Vec<String>> = (0..16)
            .map(|i| {
                let args: Vec<&str> = match i % 4 {
                    0 => vec!["up"],
                    1 => vec!["status", "--format", "json"],
                    2 => vec!["down", "--to", "2", "--yes"],
                    _ => vec!["checkpoint", "create", "race", "--replace"],
                };
                args.into_iter().map(String::from).collect()
            })
            .collect();
        let children: Vec<_> = commands
            .iter()
            .map(|args| {
                std::process::Command::new(env!("CARGO_BIN_EXE_migrate"))
                    .args(["--database-url", db.url.as_str(), "--source", s.as_str()])
                    .args(args)
                    .current_dir(db.dir.path())
                    .env_remove("DATABASE_URL")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (child, args) in children.into_iter().zip(&commands) {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            // Every process ends with a clear status: done, or a refusal that says why.
            let code = out.status.code();
            assert!(
                code == Some(0) || (code == Some(1) && stderr.contains("error:")),
                "{:?} {args:?}: {code:?} {stderr}",
                db.kind
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
            if code == Some(1) {
                eprintln!("{:?} {args:?} refused: {stderr}", db.kind);
            }
        }
        // No stage twice, nothing half-done.
        let history = db.history();
        let mut versions: Vec<&String> = history.iter().collect();
        versions.dedup();
        assert_eq!(versions.len(), history.len());
        assert!(
            history.iter().all(|h| h.ends_with(":applied")),
            "{:?}: {history:?}",
            db.kind
        );
        // The event log tells the story in order: applies and reverts alternate consistently.
        let log = db
            .migrate(&["--source", &s, "log", "--format", "json"])
            .ok();
        let v: serde_json::Value = serde_json::from_str(&log.stdout).unwrap();
        let mut applied = std::collections::BTreeSet::new();
        for e in v["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["outcome"] == "ok")
        {
            let key = (e["version"].as_i64(), e["stage"].as_str().map(String::from));
            match e["action"].as_str().unwrap() {
                "apply" => assert!(
                    applied.insert(key.clone()),
                    "{:?}: {key:?} applied twice in a row",
                    db.kind
                ),
                "revert" => assert!(
                    applied.remove(&key),
                    "{:?}: {key:?} reverted while not applied",
                    db.kind
                ),
                _ => {}
            }
        }
        assert_eq!(
            applied.len(),
            history.len(),
            "{:?}: the log agrees with the history",
            db.kind
        );
    }
}
