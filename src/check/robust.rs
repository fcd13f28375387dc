//! The checker never panics: random SQL-like input, deterministic.

use super::testing::source;
use super::{CheckOptions, check};
use crate::sql::Dialect;

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const PIECES: &[&str] = &[
    "CREATE TABLE ",
    "DROP TABLE ",
    "ALTER TABLE ",
    " ADD COLUMN ",
    " DROP COLUMN ",
    " RENAME TO ",
    "CREATE INDEX ",
    "CONCURRENTLY ",
    " ON ",
    "DELETE FROM ",
    "UPDATE ",
    " SET ",
    "TRUNCATE ",
    "INSERT INTO ",
    " VALUES ",
    "t",
    "u",
    "\"Q\"",
    "`b`",
    "(",
    ")",
    ",",
    ";",
    ";\n",
    "'",
    "''",
    "\"",
    "$$",
    "$x$",
    "--",
    "-- migrate:archive\n",
    "-- migrate:allow lossy-down: r\n",
    "/*",
    "*/",
    "\n",
    " ",
    "BEGIN",
    "END",
    "CASE",
    "CREATE TRIGGER tr ",
    "INT",
    "TEXT",
    "VARCHAR(5)",
    "NOT NULL",
    "DEFAULT 1",
    "PRIMARY KEY",
    "REFERENCES t (id)",
    "é",
    "𝄞",
    "\\",
    "E'",
    "#",
    "[",
    "]",
    "IF EXISTS ",
    "TYPE ",
    "ALTER COLUMN ",
    "x",
    "1",
];

#[test]
fn random_sql_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..300 {
        let mut make = || {
            let n = 1 + (rng.next() % 40) as usize;
            (0..n)
                .map(|_| PIECES[(rng.next() % PIECES.len() as u64) as usize])
                .collect::<String>()
        };
        let (a, b, c, d) = (make(), make(), make(), make());
        // Directives may be malformed in random text: such scripts are load
        // errors, not checker input, so only well-formed ones are checked.
        let specs = [
            ("a", a.as_str(), Some(b.as_str())),
            ("b", c.as_str(), Some(d.as_str())),
        ];
        if specs.iter().any(|(_, up, down)| {
            crate::source::parse_directives(up, 0, crate::source::Direction::Up).is_err()
                || down.is_some_and(|d| {
                    crate::source::parse_directives(d, 0, crate::source::Direction::Down).is_err()
                })
        }) {
            continue;
        }
        for dialect in [
            Dialect::Postgres,
            Dialect::Mysql,
            Dialect::Sqlite,
            Dialect::Generic,
        ] {
            let src = source(&specs);
            let _ = check(
                &src,
                &CheckOptions {
                    dialect,
                    ..CheckOptions::default()
                },
            );
            for s in crate::sql::split(&a, dialect) {
                let _ = crate::archive::target(&s, &a);
            }
        }
        let _ = round;
    }
}
