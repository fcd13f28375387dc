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
}
