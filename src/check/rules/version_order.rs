//! `version-order`: versions that integers and text put in different orders.

use crate::check::Severity;

/// Rule id.
pub const ID: &str = "version-order";
/// Default severity.
pub const SEVERITY: Severity = Severity::Warning;
/// One line.
pub const SUMMARY: &str =
    "two versions that sqlx (integers) and diesel (text) would run in different orders";
/// Documentation.
pub const DOC: &str = "\
What it flags: a directory with versions of 8 digits or more but of different lengths, where \
comparing them as integers (sqlx, golang-migrate, Flyway) and as text (diesel, dbmate) disagrees, \
and at least one of the two comes from a tool that compares integers. migrate runs versions of \
fewer than 8 digits as integers, first, and longer ones (dates, timestamps) digit by digit as \
text, so that diesel 2.2's `2024-01-02-123456-0000` runs between the 14-digit versions of its \
day and a hand-written `2024-03-13_x` after 2018.

Why it matters: two tools reading one directory would apply it in different orders, and a \
database migrated by one could not be moved forward by the other.

Instead: give the versions the same number of digits.

Example:
  20240313_add_x.up.sql           <- runs after 20180101000000_init, as text;
  20180101000000_init.up.sql         sqlx would run it first";

#[cfg(test)]
mod tests {
    use crate::check::testing::{err, ok, source};
    use crate::source::{SourceWarning, WarningKind};

    #[test]
    fn ok_one_convention() {
        ok(
            super::ID,
            &source(&[("t", "CREATE TABLE t (id INT);", Some("DROP TABLE t;"))]),
        );
    }

    #[test]
    fn err_two_conventions_disagree() {
        let mut src = source(&[("t", "CREATE TABLE t (id INT);", Some("DROP TABLE t;"))]);
        src.warnings.push(SourceWarning {
            kind: WarningKind::VersionOrder,
            path: "m/20240313_x.up.sql".into(),
            message: "20240313_x runs after 20180101000000_init".into(),
        });
        let m = err(super::ID, &src);
        assert!(m.contains("runs after"), "{m}");
    }
}
