//! `suppression-without-reason`: an allow that does not say why.

use crate::check::Severity;

/// Rule id.
pub const ID: &str = "suppression-without-reason";
/// Default severity.
pub const SEVERITY: Severity = Severity::Error;
/// One line.
pub const SUMMARY: &str = "`-- migrate:allow` with no reason after the colon";
/// Documentation.
pub const DOC: &str = "\
What it flags: `-- migrate:allow <rule>` without `: <reason>`. Such an allow suppresses nothing.

Why it matters: every accepted risk is read by a reviewer and, later, by whoever is paged. A \
suppression without a reason teaches people to add them blindly.

Instead: say why the risk is acceptable.

Example:
  -- migrate:allow lossy-down: the column only ever held a cache, rebuilt on start-up
  ALTER TABLE sessions DROP COLUMN cached_profile;";

#[cfg(test)]
mod tests {
    use crate::check::testing::{err, ok, source};

    #[test]
    fn ok_with_reason() {
        ok(
            super::ID,
            &source(&[(
                "t",
                "CREATE TABLE t (id INT PRIMARY KEY);",
                Some("-- migrate:allow lossy-down: empty table\nDROP TABLE t;"),
            )]),
        );
    }

    #[test]
    fn err_without_reason_and_it_suppresses_nothing() {
        let src = source(&[(
            "t",
            "CREATE TABLE t (id INT PRIMARY KEY);",
            Some("-- migrate:allow lossy-down\nDROP TABLE t;"),
        )]);
        let m = err(super::ID, &src);
        assert!(m.contains("gives no reason"), "{m}");
        err(super::super::lossy_down::ID, &src);
    }

    #[test]
    fn real_patterns() {
        use crate::check::testing::{BASE, cases};
        cases(
            super::ID,
            &[BASE],
            &[
                (
                    "no_reason",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some("-- migrate:allow lossy-down\nALTER TABLE users DROP COLUMN bio;"),
                    true,
                ),
                (
                    "colon_only",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some("-- migrate:allow lossy-down:\nALTER TABLE users DROP COLUMN bio;"),
                    true,
                ),
                (
                    "blank_reason",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some("-- migrate:allow lossy-down:   \nALTER TABLE users DROP COLUMN bio;"),
                    true,
                ),
                (
                    "reason",
                    "ALTER TABLE users ADD COLUMN bio TEXT;",
                    Some(
                        "-- migrate:allow lossy-down: bios were never shown\nALTER TABLE users DROP COLUMN bio;",
                    ),
                    false,
                ),
                (
                    "two_rules_one_reason",
                    "ALTER TABLE users ADD COLUMN bio TEXT;\nCREATE INDEX users_bio ON users (bio);",
                    Some(
                        "-- migrate:allow lossy-down, down-not-inverse: the index goes with the column\nALTER TABLE users DROP COLUMN bio;",
                    ),
                    false,
                ),
                (
                    "in_the_up",
                    "-- migrate:allow index-not-concurrent\nCREATE INDEX users_name_idx ON users (name);",
                    Some("DROP INDEX users_name_idx;"),
                    true,
                ),
                (
                    "in_the_up_with_reason",
                    "-- migrate:allow index-not-concurrent: users has 200 rows\nCREATE INDEX users_name_idx ON users (name);",
                    Some("DROP INDEX users_name_idx;"),
                    false,
                ),
                (
                    "no_directive",
                    "CREATE INDEX users_name_idx ON users (name);",
                    Some("DROP INDEX users_name_idx;"),
                    false,
                ),
            ],
        );
    }
}
