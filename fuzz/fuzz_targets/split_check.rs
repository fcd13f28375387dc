//! The splitter, the IR reader and the checker must never panic on any text.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use migrate::check::{CheckOptions, check};
use migrate::source::{Direction, Layout, Migration, Script, Source, Stage, StageKind};
use migrate::sql::{Dialect, split};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (up, down) = text.split_once("\u{0}").unwrap_or((&text, ""));
    for dialect in [
        Dialect::Postgres,
        Dialect::Mysql,
        Dialect::Sqlite,
        Dialect::Generic,
    ] {
        for s in split(up, dialect) {
            let _ = migrate::archive::target(&s, up);
        }
    }
    // Scripts with malformed directives are load errors, never checker input.
    let (Ok(up), Ok(down)) = (
        Script::from_sql("f.up.sql", up.to_string(), 0, Direction::Up),
        Script::from_sql("f.down.sql", down.to_string(), 0, Direction::Down),
    ) else {
        return;
    };
    let source = Source {
        dir: PathBuf::from("m"),
        migrations: vec![Migration {
            version: 1,
            version_text: "1".into(),
            name: "f".into(),
            layout: Layout::Flat,
            path: PathBuf::from("m/1_f.up.sql"),
            stages: vec![Stage {
                kind: StageKind::Main,
                up,
                down: Some(down),
            }],
        }],
        ..Source::default()
    };
    for dialect in [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite] {
        let _ = check(
            &source,
            &CheckOptions {
                dialect,
                ..CheckOptions::default()
            },
        );
    }
});
